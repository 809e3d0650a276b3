// Scanning a checkpoint for NaN and infinite weights (`matspec inspect
// --check-weights`). A NaN weight makes every forward that reads it produce
// NaN logits; generation then stops with an error naming the position, and
// this scan names the tensors.
#ifndef MATSPEC_WEIGHT_CHECK_H_
#define MATSPEC_WEIGHT_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

struct TensorNonFiniteCount {
  std::string name;          // tensor name, e.g. "model.layers.0.mlp.up_proj.weight"
  std::string file;          // the safetensors file holding it
  int64_t elements = 0;
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  int64_t first_index = -1;  // flat index of the first NaN/Inf element
};

struct WeightCheckReport {
  int64_t tensors = 0;                         // tensors scanned (all of them)
  int64_t bytes = 0;                           // their bytes
  std::vector<TensorNonFiniteCount> non_finite;  // those holding NaN/Inf, by name
};

// Opens the checkpoint in `model_dir` (same validation as Engine::Load) and
// scans every tensor. Errors are those of opening the checkpoint.
absl::StatusOr<WeightCheckReport> CheckWeights(const std::string& model_dir);

}  // namespace matspec

#endif  // MATSPEC_WEIGHT_CHECK_H_
