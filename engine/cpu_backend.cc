// The built-in CPU backend: the llama-family and Gemma 3n models read the
// memory-mapped store in place; rounds run on the host (the caller's
// CpuRoundRunner), and any number of sequences may share a model.
#include "engine/cpu_backend.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/bounded_file.h"
#include "engine/gemma3n_config.h"
#include "engine/gemma3n_model.h"
#include "engine/llama_model.h"
#include "engine/model_config.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }

  absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& model_dir, const WeightStore& store,
                                                   const ModelLoadOptions& options) const override {
    const std::string config_path = model_dir + "/config.json";
    ASSIGN_OR_RETURN(const std::string text, ReadBoundedFile(config_path, kMaxConfigFileBytes, "the model's"));
    std::unique_ptr<Model> model;
    // The architecture is chosen by model_type before any other parsing.
    if (IsGemma3nConfigJson(text)) {
      ASSIGN_OR_RETURN(model, CreateGemma3nModel(config_path, store));
    } else {
      ASSIGN_OR_RETURN(ModelConfig config, ParseModelConfig(text, config_path));
      ASSIGN_OR_RETURN(model, LlamaModel::Create(config, store));
    }
    model->set_num_threads(options.num_threads);
    model->set_f32_activations(options.f32_activations);
    model->set_thread_pool(options.thread_pool);
    return model;
  }

  absl::StatusOr<std::unique_ptr<RoundRunner>> NewRoundRunner(Model&, const RoundRunnerSpec&) const override {
    return std::unique_ptr<RoundRunner>();  // the host runner
  }

  bool concurrent_sequences() const override { return true; }
  bool batched_forward(const Model&) const override { return true; }
};

}  // namespace

const Backend& CpuBackendInstance() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace matspec
