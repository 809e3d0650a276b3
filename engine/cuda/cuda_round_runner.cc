#include "engine/cuda/cuda_round_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/random.h"
#include "engine/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/logits_cuda.h"

namespace matspec {
namespace {

template <typename T>
absl::Status AllocatePinned(int64_t count, T** out) {
  CUDA_RETURN_IF_ERROR(cudaMallocHost(reinterpret_cast<void**>(out), std::max<int64_t>(count, 1) * sizeof(T)));
  return absl::OkStatus();
}

absl::StatusOr<DeviceBuffer> Floats(int64_t n) { return DeviceBuffer::Allocate(std::max<int64_t>(n, 1) * 4); }

}  // namespace

absl::StatusOr<std::unique_ptr<CudaRoundRunner>> CudaRoundRunner::Create(
    CudaModel* model, std::optional<SliceView> draft, const DraftPolicy& policy, const SamplingConfig& sampling,
    uint64_t seed, int64_t capacity, bool use_graphs) {
  if (draft && policy.draft_p_min > 0.f) {
    return absl::UnimplementedError(
        "--draft-p-min is not supported with --device cuda: the GPU round drafts without a host decision per "
        "step; use --draft-max to bound the draft");
  }
  if (draft && (policy.draft_max < 1 || policy.draft_max > kMaxDraft)) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-max must be in [1, ", kMaxDraft, "]"));
  }
  std::unique_ptr<CudaRoundRunner> r(new CudaRoundRunner());
  r->model_ = model;
  r->full_ = model->FullSlice();
  r->draft_ = std::move(draft);
  r->policy_ = policy;
  r->sampling_ = sampling;
  r->seed_ = seed;
  r->capacity_ = capacity;
  r->use_graphs_ = use_graphs && model->supports_device_length();
  r->vocab_ = model->vocab_size();
  const int64_t k = r->draft_ ? policy.draft_max : 0;
  const int64_t vocab = r->vocab_;

  if (r->draft_) RETURN_IF_ERROR(model->PrepareSlice(*r->draft_));
  r->target_cache_.reset(static_cast<CudaKvCache*>(model->NewKvCache(r->full_, capacity).release()));
  RETURN_IF_ERROR(r->target_cache_->status());
  if (r->draft_) {
    r->draft_cache_.reset(static_cast<CudaKvCache*>(model->NewKvCache(*r->draft_, capacity).release()));
    RETURN_IF_ERROR(r->draft_cache_->status());
  }
  ASSIGN_OR_RETURN(r->input_tokens_, DeviceBuffer::Allocate(capacity * sizeof(int32_t)));
  ASSIGN_OR_RETURN(r->verify_tokens_, DeviceBuffer::Allocate((k + 1) * sizeof(int32_t)));
  ASSIGN_OR_RETURN(r->draft_logits_, Floats(vocab));
  ASSIGN_OR_RETURN(r->logits_, Floats((k + 1) * vocab));
  if (!sampling.greedy()) {
    ASSIGN_OR_RETURN(r->q_, Floats(k * vocab));
    ASSIGN_OR_RETURN(r->p_, Floats((k + 1) * vocab));
  }
  ASSIGN_OR_RETURN(r->uniforms_, DeviceBuffer::Allocate((3 * k + 1) * sizeof(double)));
  ASSIGN_OR_RETURN(r->result_, DeviceBuffer::Allocate(sizeof(AcceptanceCudaResult)));
  RETURN_IF_ERROR(AllocatePinned(capacity, &r->host_tokens_));
  RETURN_IF_ERROR(AllocatePinned(3 * k + 1, &r->host_uniforms_));
  RETURN_IF_ERROR(AllocatePinned(1, &r->host_result_));
  RETURN_IF_ERROR(AllocatePinned(k, &r->host_draft_));
  for (cudaEvent_t& e : r->events_) CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));

  // Size every workspace and scratch now: nothing may allocate once a round is queued.
  RETURN_IF_ERROR(model->EnsureCapacity(k + 2));
  size_t ws = ArgmaxCudaWorkspaceBytes(1, vocab);
  ASSIGN_OR_RETURN(const size_t accept_ws, AcceptCudaWorkspaceBytes(k, vocab, sampling.greedy()));
  ws = std::max(ws, accept_ws);
  if (!sampling.greedy()) {
    ASSIGN_OR_RETURN(const size_t draft_ws, ProcessLogitsCudaWorkspaceBytes(1, vocab, sampling));
    ASSIGN_OR_RETURN(const size_t verify_ws, ProcessLogitsCudaWorkspaceBytes(k + 1, vocab, sampling));
    ASSIGN_OR_RETURN(const size_t sample_ws, SampleFromWeightsCudaWorkspaceBytes(vocab));
    ws = std::max({ws, draft_ws, verify_ws, sample_ws});
  }
  RETURN_IF_ERROR(model->ReserveWorkspace(ws));
  return r;
}

void CudaRoundRunner::DropGraphs() {
  for (const auto& [k, exec] : round_graphs_) cudaGraphExecDestroy(exec);
  round_graphs_.clear();
}

CudaRoundRunner::~CudaRoundRunner() {
  DropGraphs();
  for (cudaEvent_t e : events_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  for (void* p : {static_cast<void*>(host_tokens_), static_cast<void*>(host_uniforms_),
                  static_cast<void*>(host_result_), static_cast<void*>(host_draft_)}) {
    if (p != nullptr) cudaFreeHost(p);
  }
}

absl::Status CudaRoundRunner::Prefill(const std::vector<int32_t>& prompt) {
  const int64_t n = static_cast<int64_t>(prompt.size()) - 1;
  if (n < 1) return absl::OkStatus();
  if (n > capacity_) return absl::OutOfRangeError("the prompt does not fit in the KV cache");
  RETURN_IF_ERROR(model_->EnsureCapacity(n));
  CudaContext& ctx = model_->context();
  std::copy(prompt.begin(), prompt.begin() + n, host_tokens_);
  int32_t* tokens = input_tokens_.As<int32_t>();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tokens, host_tokens_, n * sizeof(int32_t), cudaMemcpyHostToDevice,
                                       ctx.stream()));
  RETURN_IF_ERROR(model_->ForwardDevice(full_, tokens, n, *target_cache_, nullptr, false));
  if (draft_cache_) RETURN_IF_ERROR(model_->ForwardDevice(*draft_, tokens, n, *draft_cache_, nullptr, false));
  return ctx.Synchronize();
}

absl::Status CudaRoundRunner::PickDraftToken(int64_t i) {
  CudaContext& ctx = model_->context();
  int32_t* out = verify_tokens_.As<int32_t>() + 1 + i;
  if (sampling_.greedy()) {
    return ArgmaxCuda(draft_logits_.As<float>(), 1, vocab_, out, ctx.workspace(), ctx.stream());
  }
  float* q = q_.As<float>() + i * vocab_;
  RETURN_IF_ERROR(ProcessLogitsCuda(draft_logits_.As<float>(), 1, vocab_, sampling_, q, ctx.workspace(), ctx.stream()));
  return SampleFromWeightsCuda(q, vocab_, uniforms_.As<double>() + i, out, ctx.workspace(), ctx.stream());
}

absl::Status CudaRoundRunner::RecordEvent(int which, bool capturing) {
  const cudaStream_t s = model_->context().stream();
  // Inside a capture an external record node makes the replay record the event.
  CUDA_RETURN_IF_ERROR(capturing ? cudaEventRecordWithFlags(events_[which], s, cudaEventRecordExternal)
                                 : cudaEventRecord(events_[which], s));
  return absl::OkStatus();
}

absl::Status CudaRoundRunner::QueueRoundTail(int64_t k, bool device_length) {
  CudaContext& ctx = model_->context();
  const cudaStream_t s = ctx.stream();
  int32_t* verify = verify_tokens_.As<int32_t>();
  float* draft_logits = draft_logits_.As<float>();
  auto forward = [&](const SliceView& slice, const int32_t* tokens, int64_t t, CudaKvCache& kv, float* logits,
                     bool all_logits) {
    return device_length ? model_->ForwardDeviceLength(slice, tokens, t, kv, logits, all_logits)
                         : model_->ForwardDevice(slice, tokens, t, kv, logits, all_logits);
  };

  // Draft steps 1..k-1: each feeds the previous proposal; the last proposal
  // never enters the draft cache.
  for (int64_t i = 1; i < k; ++i) {
    RETURN_IF_ERROR(forward(*draft_, verify + i, 1, *draft_cache_, draft_logits, false));
    RETURN_IF_ERROR(PickDraftToken(i));
  }
  RETURN_IF_ERROR(RecordEvent(1, device_length));

  // Verify all k+1 positions in one forward, then accept on the device.
  RETURN_IF_ERROR(forward(full_, verify, k + 1, *target_cache_, logits_.As<float>(), true));
  const float* p = logits_.As<float>();  // greedy: argmax of the logits = argmax of the one-hot p
  if (!sampling_.greedy()) {
    RETURN_IF_ERROR(ProcessLogitsCuda(logits_.As<float>(), k + 1, vocab_, sampling_, p_.As<float>(),
                                      ctx.workspace(), s));
    p = p_.As<float>();
  }
  const double* uniforms = uniforms_.As<double>();
  AcceptanceCudaParams ap;
  ap.greedy = sampling_.greedy();
  ap.k = k;
  ap.vocab = vocab_;
  ap.draft_tokens = verify + 1;
  ap.q = sampling_.greedy() ? nullptr : q_.As<float>();
  ap.p = p;
  ap.accept_uniforms = uniforms + k;
  ap.final_uniforms = uniforms + 2 * k;
  ap.result = result_.As<AcceptanceCudaResult>();
  RETURN_IF_ERROR(AcceptCuda(ap, ctx.workspace(), s));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_result_, result_.data(), sizeof(AcceptanceCudaResult),
                                       cudaMemcpyDeviceToHost, s));
  if (k > 0) {
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_draft_, verify + 1, k * sizeof(int32_t), cudaMemcpyDeviceToHost, s));
  }
  return RecordEvent(2, device_length);
}

absl::Status CudaRoundRunner::CaptureRoundTail(int64_t k) {
  const cudaStream_t s = model_->context().stream();
  CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  const absl::Status queued = QueueRoundTail(k, /*device_length=*/true);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  if (!queued.ok() || ended != cudaSuccess) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    if (!queued.ok()) return queued;
    CUDA_RETURN_IF_ERROR(ended);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_RETURN_IF_ERROR(instantiated);
  round_graphs_[k] = exec;
  return absl::OkStatus();
}

absl::StatusOr<RoundOutcome> CudaRoundRunner::Round(const std::vector<int32_t>& sequence, int64_t max_draft,
                                                   const DraftStopRule* /*stop*/) {
  const int64_t committed = static_cast<int64_t>(sequence.size());
  const int64_t k = draft_ ? std::min(max_draft, policy_.draft_max) : 0;
  CudaContext& ctx = model_->context();
  const cudaStream_t s = ctx.stream();
  const int64_t catch_up = k > 0 ? committed - draft_cache_->length() : 0;
  RETURN_IF_ERROR(model_->EnsureCapacity(catch_up));  // > k + 2 only after plain rounds; before any capture

  // The round's graph (the stream is idle here: the last round synchronised).
  if (use_graphs_ && graphs_scratch_generation_ != model_->scratch_generation()) {
    DropGraphs();  // they point at scratch the model has since reallocated
    graphs_scratch_generation_ = model_->scratch_generation();
  }
  if (use_graphs_ && round_graphs_.count(k) == 0) {
    const absl::Status captured = CaptureRoundTail(k);
    if (!captured.ok()) {
      return absl::Status(captured.code(), absl::StrCat("capturing the round as a CUDA graph: ", captured.message(),
                                                        " (--no-cuda-graphs avoids graphs)"));
    }
  }

  // Host inputs of the round: the draft's catch-up tokens, the last committed
  // token, and the uniforms keyed by the position each decides.
  std::copy(sequence.end() - catch_up, sequence.end(), host_tokens_);
  host_tokens_[catch_up] = sequence.back();
  for (int64_t i = 0; i < k; ++i) {
    host_uniforms_[i] = Uniform(seed_, committed + i, RandomStream::kDraft);
    host_uniforms_[k + i] = Uniform(seed_, committed + i, RandomStream::kAccept);
  }
  for (int64_t i = 0; i <= k; ++i) host_uniforms_[2 * k + i] = Uniform(seed_, committed + i, RandomStream::kTarget);
  int32_t* verify = verify_tokens_.As<int32_t>();
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(input_tokens_.data(), host_tokens_, (catch_up + 1) * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, s));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(verify, host_tokens_ + catch_up, sizeof(int32_t), cudaMemcpyHostToDevice, s));
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(uniforms_.data(), host_uniforms_, (3 * k + 1) * sizeof(double),
                                       cudaMemcpyHostToDevice, s));

  // The first draft step feeds the 1 or 2 catch-up tokens; it is queued
  // directly (its length varies), the rest of the round is the graph.
  RETURN_IF_ERROR(RecordEvent(0, false));
  if (k > 0) {
    RETURN_IF_ERROR(model_->ForwardDevice(*draft_, input_tokens_.As<int32_t>(), catch_up, *draft_cache_,
                                          draft_logits_.As<float>(), false));
    RETURN_IF_ERROR(PickDraftToken(0));
  }
  if (use_graphs_) {
    if (k > 1) {
      RETURN_IF_ERROR(draft_cache_->CheckRoom(k - 1));
      RETURN_IF_ERROR(draft_cache_->UploadLength(s));
    }
    RETURN_IF_ERROR(target_cache_->CheckRoom(k + 1));
    RETURN_IF_ERROR(target_cache_->UploadLength(s));
    CUDA_RETURN_IF_ERROR(cudaGraphLaunch(round_graphs_[k], s));
    if (k > 1) draft_cache_->Advance(k - 1);
    target_cache_->Advance(k + 1);
    ++graph_launches_;
  } else {
    RETURN_IF_ERROR(QueueRoundTail(k, /*device_length=*/false));
  }

  // The round's one synchronisation.
  RETURN_IF_ERROR(ctx.Synchronize());
  ++round_syncs_;

  RoundOutcome out;
  float draft_ms = 0.f, verify_ms = 0.f;
  CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&draft_ms, events_[0], events_[1]));
  CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&verify_ms, events_[1], events_[2]));
  out.draft_seconds = draft_ms * 1e-3;
  out.verify_seconds = verify_ms * 1e-3;
  out.drafted = k;
  out.accepted = host_result_->accepted;
  if (out.accepted < 0 || out.accepted > k || host_result_->next_token < 0 ||
      host_result_->next_token >= vocab_) {
    return absl::InternalError(absl::StrCat("GPU acceptance returned accepted=", out.accepted,
                                            " next_token=", host_result_->next_token, " for k=", k));
  }
  out.tokens.assign(host_draft_, host_draft_ + out.accepted);
  out.tokens.push_back(host_result_->next_token);
  return out;
}

absl::Status CudaRoundRunner::Rollback(int64_t committed_length) {
  RETURN_IF_ERROR(target_cache_->Truncate(std::min(target_cache_->length(), committed_length - 1)));
  if (!draft_cache_) return absl::OkStatus();
  return draft_cache_->Truncate(std::max<int64_t>(std::min(draft_cache_->length(), committed_length - 1), 0));
}

}  // namespace matspec
