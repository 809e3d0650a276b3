#include "engine/cuda/device_weights.h"

#include <cuda_runtime_api.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace matspec {

absl::StatusOr<DeviceBuffer> UploadWeightViews(const std::vector<MatrixView*>& matrices,
                                               const std::vector<VectorView*>& vectors) {
  std::map<const void*, size_t> offsets;  // host data -> offset in the device buffer
  std::map<const void*, size_t> sizes;
  size_t total = 0;
  auto reserve = [&](const void* data, size_t bytes) {
    if (data == nullptr || offsets.count(data)) return;
    offsets[data] = total;
    sizes[data] = bytes;
    total += WorkspaceArena::AlignUp(bytes);
  };
  for (MatrixView* m : matrices) {
    reserve(m->data, static_cast<size_t>(m->rows * DTypeRowBytes(m->dtype, m->ld)));
    if (IsQuantized(m->dtype)) reserve(m->scales, static_cast<size_t>(m->rows * QuantScaleBytes(m->dtype, m->ld)));
  }
  for (VectorView* v : vectors) reserve(v->data, static_cast<size_t>(v->size * DTypeSize(v->dtype)));

  absl::StatusOr<DeviceBuffer> buffer = DeviceBuffer::Allocate(total);
  if (!buffer.ok()) {
    const double gib = static_cast<double>(total) / (1 << 30);
    return absl::Status(buffer.status().code(),
                        absl::StrCat("uploading ", gib, " GiB of weights: ", buffer.status().message()));
  }
  char* base = buffer->As<char>();
  for (const auto& [data, offset] : offsets) {
    CUDA_RETURN_IF_ERROR(cudaMemcpy(base + offset, data, sizes[data], cudaMemcpyHostToDevice));
  }
  for (MatrixView* m : matrices) {
    if (m->data == nullptr) continue;
    m->data = base + offsets[m->data];
    if (IsQuantized(m->dtype)) m->scales = reinterpret_cast<const uint16_t*>(base + offsets[m->scales]);
    m->device = Device::kCuda;
  }
  for (VectorView* v : vectors) {
    if (v->data == nullptr) continue;
    v->data = base + offsets[v->data];
    v->device = Device::kCuda;
  }
  return buffer;
}

}  // namespace matspec
