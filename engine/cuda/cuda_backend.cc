// The CUDA backend module (libmatspec_cuda.so): loads models onto GPU 0 and
// runs each sequence's speculation rounds there (CudaRoundRunner), or, with
// --gpu-batching, lets the engine's batch scheduler drive the model
// through its batched forward (CudaModel::ForwardBatch). The engine
// reaches it only through GetBackend("cuda") (engine/backend.h), which opens
// this module with dlopen; it is the only place that links cudart and cuBLAS.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/backend.h"
#include "engine/cuda/create_cuda_model.h"
#include "engine/cuda/cuda_round_runner.h"
#include "engine/status_macros.h"

#ifndef MATSPEC_BUILD_ID
#error "MATSPEC_BUILD_ID must be defined by the build (engine/cuda/CMakeLists.txt)"
#endif

namespace matspec {
namespace {

class CudaBackend final : public Backend {
 public:
  std::string_view name() const override { return "cuda"; }

  absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& model_dir, const WeightStore& store,
                                                   const ModelLoadOptions&) const override {
    absl::StatusOr<std::unique_ptr<CudaModel>> m = CreateCudaModel(model_dir, store);
    if (!m.ok()) return m.status();
    return std::unique_ptr<Model>(std::move(*m));
  }

  absl::StatusOr<std::unique_ptr<RoundRunner>> NewRoundRunner(Model& model,
                                                              const RoundRunnerSpec& spec) const override {
    // Every model of this backend is a CudaModel (LoadModel made it).
    auto& gpu = static_cast<CudaModel&>(model);
    ASSIGN_OR_RETURN(std::unique_ptr<CudaRoundRunner> runner,
                     CudaRoundRunner::Create(&gpu, spec.draft, spec.policy, spec.sampling, spec.seed, spec.capacity,
                                             spec.cuda_graphs));
    return std::unique_ptr<RoundRunner>(std::move(runner));
  }

  // One stream per model: without the batch scheduler (LoadOptions::
  // gpu_batching) the engine runs one request at a time, each round of it
  // replayed as a CUDA graph by its CudaRoundRunner.
  bool concurrent_sequences() const override { return false; }
  // With it, every request's draft steps and verifications run through
  // CudaModel::ForwardBatch (host logits, one sync per forward, no graphs).
  bool batched_forward(const Model& model) const override {
    return static_cast<const CudaModel&>(model).batched_forward();
  }
};

}  // namespace
}  // namespace matspec

extern "C" __attribute__((visibility("default"))) const matspec::Backend* matspec_backend_v1(const char* build_id) {
  static const matspec::CudaBackend backend;
  if (build_id == nullptr || std::strcmp(build_id, MATSPEC_BUILD_ID) != 0) return nullptr;
  return &backend;
}
