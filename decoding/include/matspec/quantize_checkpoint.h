// `matspec quantize`: writes a quantized copy of a llama-family checkpoint
// that matspec loads directly (no --quantize needed, nothing re-quantized).
//
// Output directory: every file of the source directory except the weights
// (config.json, tokenizer.model, ...), plus one model.safetensors holding
//   - each quantized matrix NAME as its values: I8 [rows, cols] (q8) or U8
//     [rows, cols / 2] (q4: byte i of each 16-byte block holds column i in its
//     low nibble and column i + 16 in its high nibble, value = nibble - 8),
//   - and NAME.scales: F16 [rows, cols / 32], one scale per block of 32
//     columns (element = value * scale; layouts in kernels/dtype.h);
//   - every other tensor as it was (bf16 / f16 / f32);
//   - __metadata__ {"format": "pt", "matspec.quantization": "q8" | "q4",
//     "matspec.block": "32"}.
// Which tensors are quantized, and to what: WeightStore::Quantize.
#ifndef MATSPEC_QUANTIZE_CHECKPOINT_H_
#define MATSPEC_QUANTIZE_CHECKPOINT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace matspec {

struct QuantizeCheckpointOptions {
  std::string model_dir;  // source checkpoint (bf16, f16 or f32)
  std::string out_dir;    // created if missing; must not be model_dir
  std::string type;       // "q8" or "q4"
  int num_threads = 0;    // 0 = all hardware threads
};

// Errors name the flag (--type, --out), the file or the tensor at fault:
// an unknown type, a source already quantized, a tensor whose columns are not
// whole blocks, an output directory equal to the source, a failed write.
// `progress` (may be empty) receives one line per 10 % of the bytes.
absl::Status QuantizeCheckpoint(const QuantizeCheckpointOptions& options,
                                const std::function<void(const std::string&)>& progress = {});

}  // namespace matspec

#endif  // MATSPEC_QUANTIZE_CHECKPOINT_H_
