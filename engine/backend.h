// Backend: where a model runs. A backend loads a checkpoint's model for its
// device and, when it runs whole speculation rounds itself (the GPU does: one
// host sync per round), makes the round runner of one sequence.
//
// The CPU backend is built into the library. Other backends are modules: the
// CUDA backend is libmatspec_cuda.so, opened with dlopen the first time a run
// asks for --device cuda, so a CPU run (and every program that links
// libmatspec) never loads a CUDA library. Nothing else in the engine knows
// which backends exist: GetBackend(name) is the only way to reach one.
//
// Module contract: the shared object exports
//   extern "C" const matspec::Backend* matspec_backend_v1(const char* build_id);
// which returns the module's backend, or nullptr when `build_id` (the caller's
// kMatspecBuildId) is not the module's own: a module only works with the
// matspec build it came from.
#ifndef MATSPEC_ENGINE_BACKEND_H_
#define MATSPEC_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/draft_policy.h"
#include "engine/model.h"
#include "engine/round_runner.h"
#include "engine/slice_view.h"
#include "engine/weight_store.h"
#include "kernels/logits.h"

namespace matspec {

// What one sequence's round runner needs to know.
struct RoundRunnerSpec {
  std::optional<SliceView> draft;  // none: plain decoding
  DraftPolicy policy;
  SamplingConfig sampling;
  uint64_t seed = 0;
  int64_t capacity = 0;            // positions each cache holds
  bool cuda_graphs = true;         // GPU: replay rounds as CUDA graphs
};

// How a backend builds a model's CPU execution context.
struct ModelLoadOptions {
  int num_threads = 1;           // CPU kernel threads (>= 1)
  bool f32_activations = false;  // CpuContext::f32_activations
  bool thread_pool = true;       // Model::set_thread_pool
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "cuda".
  virtual std::string_view name() const = 0;

  // The model of `model_dir` (its config.json picks the architecture) over
  // `store`, which must outlive it. Errors name the file, tensor or field at
  // fault, or what the device lacks.
  virtual absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& model_dir, const WeightStore& store,
                                                           const ModelLoadOptions& options) const = 0;

  // The round runner of one sequence on `model` (loaded by this backend), or
  // nullptr when this backend runs rounds on the host through Model::Forward
  // (the caller then uses the host runner).
  virtual absl::StatusOr<std::unique_ptr<RoundRunner>> NewRoundRunner(Model& model,
                                                                      const RoundRunnerSpec& spec) const = 0;

  // Whether a loaded model may run forwards of many sequences at once (the CPU
  // models may; the GPU model has one stream and takes one sequence at a time).
  virtual bool concurrent_sequences() const = 0;

  // Whether `model` (loaded by this backend) runs a Model::ForwardBatch as ONE
  // forward over every segment's rows, so that the engine's BatchScheduler
  // (decoding/batch_scheduler.h) pays off on it. The scheduler needs nothing
  // else from a backend: it drives the model through ForwardBatch with host
  // tokens and host logits, one thread, so a backend without concurrent
  // sequences can run it too. The CPU: every model. CUDA: every model it
  // loads, llama and Gemma 3n (CudaModel::batched_forward()). Whether the engine uses the scheduler is LoadOptions' choice
  // (batching on the CPU, gpu_batching on the GPU: decoding/engine.cc).
  virtual bool batched_forward(const Model& model) const = 0;
};

// The backend called `name`: "cpu" (built in) or "cuda" (the module, opened on
// first use and kept open). InvalidArgument for another name; NotFound when the
// module is missing, FailedPrecondition when it cannot be opened or is not a
// matspec module of this build, each naming the file and what is missing.
absl::StatusOr<const Backend*> GetBackend(std::string_view name);

// Identifies this build of matspec (version and compiler); a module must match it.
extern const char* const kMatspecBuildId;

}  // namespace matspec

#endif  // MATSPEC_ENGINE_BACKEND_H_
