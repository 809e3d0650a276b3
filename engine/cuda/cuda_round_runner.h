// CudaRoundRunner: the whole speculation round on the GPU, over the one set of
// device weights of a CudaModel (any architecture of engine/cuda/).
//
// A round queues, on the model's stream and without waiting:
//   1. two small host-to-device copies: the committed tokens the draft cache
//      has not seen (1 or 2), the last committed token, and the round's
//      uniforms (engine/random.h, the same draws as the CPU path);
//   2. the draft steps: ForwardDevice of the draft slice, then the next token
//      picked on the device (ArgmaxCuda, or ProcessLogitsCuda +
//      SampleFromWeightsCuda) and written where the next step and the verifier
//      read it;
//   3. one verification forward of the full model over all k+1 tokens,
//      ProcessLogitsCuda over the k+1 rows (sampling only) and AcceptCuda;
//   4. one device-to-host copy of the acceptance result and the drafted tokens,
// and then synchronises once: the round's only host round-trip. Rollback is the
// caches' O(1) Truncate. Timings come from CUDA events, not extra syncs.
//
// CUDA graphs: everything after the first draft step (draft steps 1..k-1, the
// verification, acceptance and the copies back) is one graph, captured the
// first time a round drafts k tokens and replayed after that. Its forwards are
// the model's ForwardDeviceLength, which read the caches' lengths from device
// memory (uploaded before each launch), so one graph serves every position.
// The first draft step feeds the 1 or 2 catch-up tokens and is queued directly.
// Plain decoding (k = 0) replays a graph of the one-token verification. Graphs
// need a model with supports_device_length() and use_graphs; otherwise
// everything is queued directly (same kernels, same bits). Graphs are dropped
// when the model moves its scratch (scratch_generation()).
//
// --draft-p-min needs a host decision after every draft step, which this runner
// does not make: Create() refuses it (Unimplemented).
#ifndef MATSPEC_ENGINE_CUDA_CUDA_ROUND_RUNNER_H_
#define MATSPEC_ENGINE_CUDA_CUDA_ROUND_RUNNER_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/draft_policy.h"
#include "engine/cuda/cuda_kv_cache.h"
#include "engine/cuda/cuda_model.h"
#include "engine/round_runner.h"
#include "kernels/cuda/acceptance_cuda.h"
#include "kernels/logits.h"

namespace matspec {

class CudaRoundRunner final : public RoundRunner {
 public:
  // Caches hold up to `capacity` positions. ResourceExhausted (with the bytes
  // needed and free) when the caches or buffers do not fit on the GPU.
  // use_graphs: replay the draft steps as CUDA graphs where the model can.
  static absl::StatusOr<std::unique_ptr<CudaRoundRunner>> Create(CudaModel* model, std::optional<SliceView> draft,
                                                                 const DraftPolicy& policy,
                                                                 const SamplingConfig& sampling, uint64_t seed,
                                                                 int64_t capacity, bool use_graphs = true);
  ~CudaRoundRunner() override;

  absl::Status Prefill(const std::vector<int32_t>& prompt) override;
  // `stop` is ignored: a round drafts max_draft tokens (or stops by
  // draft_p_min) inside one queued graph; see honours_stop_rule().
  absl::StatusOr<RoundOutcome> Round(const std::vector<int32_t>& sequence, int64_t max_draft,
                                     const DraftStopRule* stop) override;
  bool honours_stop_rule() const override { return false; }
  absl::Status Rollback(int64_t committed_length) override;
  int64_t draft_kv_bytes() const override { return draft_cache_ ? draft_cache_->bytes() : 0; }

  // Host synchronisations made so far by Round() (one per round).
  int64_t round_syncs() const { return round_syncs_; }
  // Rounds replayed as a CUDA graph, and the graphs captured (one per draft
  // length k used).
  int64_t graph_launches() const override { return graph_launches_; }
  int64_t graphs_captured() const { return static_cast<int64_t>(round_graphs_.size()); }
  bool uses_graphs() const { return use_graphs_; }

 private:
  CudaRoundRunner() = default;
  // Picks draft token i from draft_logits_ into verify_tokens_[1 + i].
  absl::Status PickDraftToken(int64_t i);
  // Queues what follows the first draft step: draft steps 1..k-1, the
  // verification of k+1 tokens, acceptance and the copies to the host. With
  // device_length the forwards read the caches' device lengths and leave the
  // host lengths alone (for capture).
  absl::Status QueueRoundTail(int64_t k, bool device_length);
  // Captures QueueRoundTail(k, true) into round_graphs_[k] (the stream is idle).
  absl::Status CaptureRoundTail(int64_t k);
  // Records events_[which] on the stream (as an external node while capturing).
  absl::Status RecordEvent(int which, bool capturing);
  // Destroys every captured graph (after the model moved its scratch).
  void DropGraphs();

  CudaModel* model_ = nullptr;
  SliceView full_;
  std::optional<SliceView> draft_;
  DraftPolicy policy_;
  SamplingConfig sampling_;
  uint64_t seed_ = 0;
  int64_t capacity_ = 0;
  int64_t vocab_ = 0;
  int64_t round_syncs_ = 0;
  bool use_graphs_ = false;
  int64_t graph_launches_ = 0;
  std::map<int64_t, cudaGraphExec_t> round_graphs_;  // by k: the round after the first draft step
  int64_t graphs_scratch_generation_ = 0;            // the model's, when round_graphs_ were captured

  std::unique_ptr<CudaKvCache> target_cache_;
  std::unique_ptr<CudaKvCache> draft_cache_;

  // Device memory.
  DeviceBuffer input_tokens_;   // [capacity] int32: prefill / draft catch-up
  DeviceBuffer verify_tokens_;  // [k+1] int32: last committed, then the draft's proposals
  DeviceBuffer draft_logits_;   // [vocab] f32
  DeviceBuffer logits_;         // [k+1, vocab] f32
  DeviceBuffer q_;              // [k, vocab] f32 (sampling)
  DeviceBuffer p_;              // [k+1, vocab] f32 (sampling)
  DeviceBuffer uniforms_;       // [3k+1] f64: draft [k], accept [k], final [k+1]
  DeviceBuffer result_;         // AcceptanceCudaResult

  // Pinned host staging (written only after the previous round's sync).
  int32_t* host_tokens_ = nullptr;   // [capacity]
  double* host_uniforms_ = nullptr;  // [3k+1]
  AcceptanceCudaResult* host_result_ = nullptr;
  int32_t* host_draft_ = nullptr;    // [k]

  cudaEvent_t events_[3] = {nullptr, nullptr, nullptr};
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CUDA_ROUND_RUNNER_H_
