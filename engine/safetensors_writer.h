// Writes a safetensors file: the 8-byte header length, the JSON header
// (padded with spaces to a multiple of 8 bytes, as the reference writer does)
// and the tensors' bytes in the order given. Used by `matspec quantize`.
#ifndef MATSPEC_ENGINE_SAFETENSORS_WRITER_H_
#define MATSPEC_ENGINE_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace matspec {

struct TensorToWrite {
  std::string name;
  std::string dtype;           // safetensors spelling: "BF16", "F16", "F32", "I8", "U8"
  std::vector<int64_t> shape;  // as stored
  const void* data = nullptr;  // nbytes bytes, read during the call
  int64_t nbytes = 0;
};

// Writes `tensors` (unique names) and the string `metadata` to `path`
// (through a temporary file renamed at the end, so a failed write leaves no
// partial file). Errors: InvalidArgument for a duplicate name; Internal naming
// the path when a write fails.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_SAFETENSORS_WRITER_H_
