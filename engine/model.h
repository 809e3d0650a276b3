// Model: one architecture's forward pass over the one WeightStore. The same
// Forward runs prefill (T = prompt), decode (T = 1), the draft (T = 1 through a
// narrower SliceView) and verification (T = k+1). There is no draft-model
// class: the draft is the same Model called with another SliceView and its own
// KvCache.
//
// A loaded model is immutable and shared (ARCHITECTURE.md §8): Forward is
// const and keeps nothing between calls. Everything a forward writes belongs
// to the caller: the KV cache it appends to, the logits, and a ForwardScratch
// (activations, attention scratch, the CPU execution context) made by
// NewScratch(). Any number of threads may run Forward on one model at once,
// each with its own cache and scratch. The setters marked "load time" below
// configure the model before it is shared and are not thread-safe.
#ifndef MATSPEC_ENGINE_MODEL_H_
#define MATSPEC_ENGINE_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache.h"
#include "engine/model_config.h"
#include "engine/slice_view.h"
#include "kernels/cpu_context.h"
#include "kernels/cpu_thread_pool.h"
#include "kernels/cpu_workspace.h"

namespace matspec {

// Observes named intermediate activations ("embed", "attn_out", "ffn_out",
// "final_norm", ...) so tests can diff a slice against a cut checkpoint layer by
// layer. layer is -1 outside the decoder layers. data is [rows, cols] f32.
using ActivationTap =
    std::function<void(std::string_view name, int64_t layer, const float* data, int64_t rows, int64_t cols)>;

// The per-call state of a forward pass, owned by the caller: one per sequence
// (a sequence runs one forward at a time; its draft and verifier forwards may
// share it). Each architecture extends it with its activation buffers, which
// grow on demand and are then reused. Never used by two forwards at once.
class ForwardScratch {
 public:
  virtual ~ForwardScratch();
  // How the CPU kernels of forwards with this scratch run (threads, arithmetic).
  CpuContext cpu;

  // Sets `cpu` from a model's defaults. With thread_pool and more than one
  // thread, the sequence's products run on a thread pool of its own
  // (cpu.pool), whose waits sleep instead of spinning
  // (kernels/cpu_thread_pool.h): for a machine where other work holds cores.
  // Otherwise they run on OpenMP teams, faster on a quiet machine (measured:
  // bench/RESULTS.md §5.3). Either way the kernels keep their scratch in this
  // scratch's CpuWorkspace (cpu.workspace).
  void InitCpu(const CpuContext& defaults, bool thread_pool);

 private:
  std::unique_ptr<CpuThreadPool> pool_;
  CpuWorkspace workspace_;  // the kernels' reusable scratch (cpu.workspace)
};

struct ForwardArgs {
  const SliceView* slice = nullptr;  // which sub-model runs; validated for this model
  const int32_t* tokens = nullptr;   // [t] token ids, each in [0, vocab)
  int64_t t = 0;                     // >= 1
  KvCache* kv = nullptr;             // tokens[0] sits at position kv->length(); advanced by t
  float* logits = nullptr;           // [all_logits ? t : 1, vocab] f32, or nullptr to skip the head
  bool all_logits = false;           // logits for every token (verify) or the last only (decode)
  const ActivationTap* tap = nullptr;  // optional
  // This sequence's scratch, from the same model's NewScratch(); nullptr: a
  // temporary one for this call only (correct, but allocates every call).
  ForwardScratch* scratch = nullptr;

  absl::Status Validate(int64_t vocab) const;
};

// One sequence's part of a batched forward (Model::ForwardBatch): what
// ForwardArgs holds per sequence.
struct BatchSegment {
  const int32_t* tokens = nullptr;  // [t] token ids, each in [0, vocab)
  int64_t t = 0;                    // >= 1
  KvCache* kv = nullptr;            // tokens[0] sits at position kv->length(); advanced by t
  float* logits = nullptr;          // [all_logits ? t : 1, vocab], or nullptr to skip the head
  bool all_logits = false;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  int64_t vocab_size() const { return config().vocab_size; }
  SliceView FullSlice() const { return IdentitySlice(config().ffn_widths); }

  // A cache for `slice` (it stores only the layers the slice runs) holding up to
  // `capacity` positions.
  virtual std::unique_ptr<KvCache> NewKvCache(const SliceView& slice, int64_t capacity) const = 0;

  // Per-sequence scratch for Forward, with this model's default CPU context.
  virtual std::unique_ptr<ForwardScratch> NewScratch() const = 0;

  // Runs the slice over args.t new tokens, appending to args.kv. Thread-safe:
  // concurrent calls must use distinct caches and scratch.
  virtual absl::Status Forward(const ForwardArgs& args) const = 0;

  // Continuous batching: runs `slice` over the new tokens of several
  // sequences (distinct caches) as ONE forward, so every weight is read once
  // for all of their rows; attention runs per sequence over its own cache.
  // Each segment's logits and cache come out bit-identical to a Forward of
  // that segment alone (the kernels are batch-invariant: ARCHITECTURE.md §9).
  // On error no cache has advanced. This default runs the segments one after
  // another through Forward (correct, without the shared weight read);
  // architectures with a batched forward override it.
  virtual absl::Status ForwardBatch(const SliceView& slice, std::span<const BatchSegment> segments,
                                    ForwardScratch* scratch) const;

  // Parameters the slice uses (embedding and head counted once when tied).
  virtual int64_t ParameterCount(const SliceView& slice) const = 0;
  // Weight bytes one T = 1 forward through the slice reads.
  virtual int64_t WeightBytesRead(const SliceView& slice) const = 0;
  // Bytes of weights held in device memory (0 for a model that reads the
  // host store in place).
  virtual int64_t device_weight_bytes() const { return 0; }
  // Layers a slice may not skip, and why (empty for llama).
  virtual std::vector<int64_t> ReservedLayers() const { return {}; }

  // Load time: worker threads the CPU kernels use in scratch made afterwards.
  virtual void set_num_threads(int n) = 0;
  // Load time: CpuContext::f32_activations of scratch made afterwards (exact
  // f32 products; the HF-parity tests set it). No effect off the CPU.
  virtual void set_f32_activations(bool on) = 0;
  // Load time: scratch made afterwards runs its products on a thread pool of
  // its own (ForwardScratch::InitCpu). No effect off the CPU.
  void set_thread_pool(bool on) { thread_pool_ = on; }

 protected:
  bool thread_pool_ = true;

 public:
};

// The single-sequence forward of one batch segment.
inline ForwardArgs SegmentForward(const SliceView& slice, const BatchSegment& g, ForwardScratch* scratch) {
  return ForwardArgs{.slice = &slice,
                     .tokens = g.tokens,
                     .t = g.t,
                     .kv = g.kv,
                     .logits = g.logits,
                     .all_logits = g.all_logits,
                     .scratch = scratch};
}

// Prefill in chunks (the cache protocol of decoding/: a cache holds at most
// s[0..L-2] of the committed sequence s): the next at most `max_tokens` of
// those tokens that `kv` lacks, as a segment without logits; t == 0 once it
// holds them all.
inline BatchSegment NextPrefillChunk(const std::vector<int32_t>& sequence, KvCache* kv, int64_t max_tokens) {
  const int64_t have = kv->length();
  const int64_t want = static_cast<int64_t>(sequence.size()) - 1;
  return BatchSegment{.tokens = sequence.data() + std::min(have, std::max<int64_t>(want, 0)),
                      .t = std::clamp<int64_t>(want - have, 0, max_tokens),
                      .kv = kv};
}

// InvalidArgument unless every segment is a valid forward (ForwardArgs::
// Validate) and no two share a cache; names the segment.
absl::Status ValidateBatch(std::span<const BatchSegment> segments, int64_t vocab);

// Hands out a batch's head rows: `logits` holds, segment after segment, the
// rows of every segment that wants logits (all of its rows or its last), each
// `vocab` wide; each segment's go to its own buffer.
void ScatterBatchLogits(std::span<const BatchSegment> segments, const float* logits, int64_t vocab);

// The scratch of a forward of `model`: args.scratch, which must be the
// model's own kind S, or, when the caller gave none, a new one kept alive in
// `temporary`. InvalidArgument for scratch made by another kind of model.
template <class S>
absl::StatusOr<S*> ResolveScratch(const Model& model, const ForwardArgs& args,
                                  std::unique_ptr<ForwardScratch>& temporary) {
  ForwardScratch* given = args.scratch;
  if (given == nullptr) given = (temporary = model.NewScratch()).get();
  S* s = dynamic_cast<S*>(given);
  if (s == nullptr) return absl::InvalidArgumentError("Forward: the scratch was made by another kind of model");
  return s;
}

}  // namespace matspec

#endif  // MATSPEC_ENGINE_MODEL_H_
