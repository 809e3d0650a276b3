// Loading a llama checkpoint directly (store + model) for tests that drive
// Forward, the Drafter or the SpeculativeDecoder below the public API.
#ifndef MATSPEC_TESTS_TESTING_MODEL_LOADING_H_
#define MATSPEC_TESTS_TESTING_MODEL_LOADING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/llama_model.h"
#include "engine/model_config.h"
#include "engine/weight_store.h"

namespace matspec::testing {

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<LlamaModel> model;
};

// Products keep f32 activations (set_f32_activations(true)): the tests that
// load this way compare with HF or f64 references.
absl::StatusOr<LoadedModel> LoadLlama(const std::string& dir, int threads = 1);

// Logits of the last token (or all tokens) after feeding `tokens` to a fresh
// cache through `slice`, in chunks of the given sizes (one chunk by default).
std::vector<float> RunLogits(Model& model, const SliceView& slice, const std::vector<int32_t>& tokens,
                             bool all_logits, const std::vector<int64_t>& chunks = {});

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_MODEL_LOADING_H_
