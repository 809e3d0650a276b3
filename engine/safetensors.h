// A memory-mapped, fully validated safetensors file.
//
// Format: 8-byte little-endian header length N, N bytes of JSON mapping tensor
// names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
// the data section that follows the header), plus an optional "__metadata__".
// Open() validates everything before any tensor is handed out: the header
// length fits in the file and is at most 100 MB (as the reference reader), the
// JSON nests at most 64 deep (engine/json_input.h) and parses, each dtype is F32/F16/BF16,
// shape product x dtype size == end - begin, every range lies inside the data
// section, and no two ranges overlap. Any violation is InvalidArgument naming
// the file and the tensor. "__metadata__" is skipped. I8 and U8 are read as
// the values of quantized tensors (kQ8: int8 [rows, cols]; kQ4: nibbles
// [rows, cols / 2], shape as stored); WeightStore::Open pairs each with its
// "<name>.scales" F16 tensor. Other dtypes (I64, U16, ...) are rejected by name.
//
// Tensor bytes are read in place from a read-only private mapping (no copy);
// the only exception is a tensor whose start is not aligned to its element
// size (legal in the format, never produced by the reference writers), which
// gets one aligned copy so kernels may read it as float / uint16_t.
#ifndef MATSPEC_ENGINE_SAFETENSORS_H_
#define MATSPEC_ENGINE_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/huge_pages.h"
#include "kernels/dtype.h"

namespace matspec {

struct TensorRecord {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // inside the mapping (or a quantized store's buffer)
  int64_t nbytes = 0;          // values and scales
  // Quantized tensors (WeightStore::Quantize): [shape[0], shape[1] / 32] f16
  // block scales; shape is the logical [rows, cols].
  const uint16_t* scales = nullptr;
  std::string file;            // path of the file holding it
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. NotFound if it does not exist.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Hands the pages that lie wholly inside `rec`'s bytes back to the kernel
  // (madvise MADV_DONTNEED on the read-only mapping: reading them again would
  // fetch them from the file). For a tensor the store no longer reads (it was
  // quantized). A record not in the mapping (an aligned copy) is left alone.
  void ReleasePages(const TensorRecord& rec) const;
  // Faults the tensors for which `read_every_step(name)` holds in and gets
  // them mapped through 2 MiB pages where the kernel and file system can
  // (engine/huge_pages.h); for weights read in place every step. Not for a
  // file whose pages were released.
  HugePageReport PreferHugePages(const std::function<bool(const std::string&)>& read_every_step) const;
  const std::map<std::string, TensorRecord>& tensors() const { return tensors_; }
  int64_t file_size() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  int64_t size_ = 0;
  dev_t dev_ = 0;  // identity of the mapped file (PreferHugePages)
  ino_t ino_ = 0;
  std::map<std::string, TensorRecord> tensors_;
  std::vector<std::vector<uint64_t>> aligned_copies_;  // misaligned tensors only
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_SAFETENSORS_H_
