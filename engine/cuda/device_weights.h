// Uploading a model's weight views to the GPU: every distinct host tensor is
// copied once (a tied head that shares the embedding's data is stored once)
// into one device buffer, and the views are re-pointed at the copies
// (device = Device::kCuda). Quantized views (q8, q4) upload their values and
// their block scales (MatrixView::scales is re-pointed too). Used by every
// CUDA model.
#ifndef MATSPEC_ENGINE_CUDA_DEVICE_WEIGHTS_H_
#define MATSPEC_ENGINE_CUDA_DEVICE_WEIGHTS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/tensor_view.h"

namespace matspec {

// Views with null data (unbound optional tensors) are skipped. On failure the
// views are unchanged; ResourceExhausted names the GiB being uploaded and the
// bytes needed and free.
absl::StatusOr<DeviceBuffer> UploadWeightViews(const std::vector<MatrixView*>& matrices,
                                               const std::vector<VectorView*>& vectors);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_DEVICE_WEIGHTS_H_
