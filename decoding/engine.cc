// The public Engine: loading, option validation, and the two ways to generate
// (Generate inline, Submit on a request's own thread), both through
// decoding/generation.h.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "decoding/batch_scheduler.h"
#include "decoding/engine_state.h"
#include "decoding/generation.h"
#include "decoding/request_core.h"
#include "draft/slice_spec.h"
#include "engine/status_macros.h"
#include "matspec/matspec.h"

namespace matspec {

Engine::Engine() : state_(std::make_shared<EngineState>()) {}
Engine::~Engine() = default;
Model& Engine::model() { return *state_->model; }
const Tokenizer* Engine::tokenizer() const { return state_->tokenizer.get(); }

absl::Status GenerationOptions::Validate() const {
  auto bad = [](const std::string& flag, auto value, const std::string& rule) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", rule, " (got ", value, ")"));
  };
  if (max_new_tokens < 0) return bad("-n/--n-predict", max_new_tokens, "must be >= 0");
  if (!(temperature >= 0.0)) return bad("--temp", temperature, "must be >= 0");
  if (top_k < 0) return bad("--top-k", top_k, "must be >= 0 (0 disables it)");
  if (!(top_p > 0.0 && top_p <= 1.0)) return bad("--top-p", top_p, "must be in (0, 1]");
  if (context_size < 0) return bad("--ctx-size", context_size, "must be >= 0 (0 = the model's maximum)");
  if (draft.draft_max < 1) return bad("--draft-max", draft.draft_max, "must be >= 1");
  if (draft.draft_max > kMaxDraft) return bad("--draft-max", draft.draft_max, absl::StrCat("must be <= ", kMaxDraft));
  if (draft.draft_min < 0) return bad("--draft-min", draft.draft_min, "must be >= 0");
  if (draft.draft_min > draft.draft_max) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-min (", draft.draft_min,
                                                   ") must not exceed --draft-max (", draft.draft_max, ")"));
  }
  if (!(draft.draft_p_min >= 0.0 && draft.draft_p_min < 1.0)) {
    return bad("--draft-p-min", draft.draft_p_min, "must be in [0, 1)");
  }
  if (draft.draft_vocab < 0) return bad("--draft-vocab", draft.draft_vocab, "must be >= 0 (0 = the whole vocabulary)");
  if (!draft.slice_name.empty() && draft.slice_table.empty()) {
    return absl::InvalidArgumentError(
        "--matformer-slice-name needs --matformer-config-path (the slice table to look it up in)");
  }
  if (!draft.slice_table.empty() && draft.slice_name.empty()) {
    return absl::InvalidArgumentError(
        "--matformer-config-path needs --matformer-slice-name (which row of the table drafts)");
  }
  if (!draft.slice_name.empty() && (!draft.ffn.empty() || !draft.skip.empty())) {
    return absl::InvalidArgumentError(
        "choose the draft either by --matformer-slice-name or by --draft-ffn/--draft-skip, not both");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Load(const LoadOptions& options) {
  if (options.model_dir.empty()) return absl::InvalidArgumentError("no model directory given (-m/--model)");
  if (options.max_queue < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-queue must be >= 0 (0 = no limit; got ", options.max_queue, ")"));
  }
  if (options.prefill_chunk < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--prefill-chunk must be >= 1 (got ", options.prefill_chunk, ")"));
  }
  if (options.max_sequences < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-sequences must be >= 1 (got ", options.max_sequences, ")"));
  }
  std::unique_ptr<Engine> engine(new Engine());
  EngineState& s = *engine->state_;
  s.options = options;
  absl::StatusOr<const Backend*> backend = GetBackend(options.device);
  if (!backend.ok()) {
    return absl::Status(backend.status().code(), absl::StrCat("--device ", options.device, ": ",
                                                              backend.status().message()));
  }
  s.backend = *backend;
  ASSIGN_OR_RETURN(s.store, WeightStore::Open(options.model_dir));
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!options.quantize.empty()) {
    ASSIGN_OR_RETURN(const DType to, ParseQuantType(options.quantize, "--quantize"));
    if (options.device != "cpu" && options.device != "cuda") {
      return absl::UnimplementedError(absl::StrCat("--quantize ", options.quantize, ": --device ", options.device,
                                                   " has no quantized kernels yet (use --device cpu)"));
    }
    const bool large = s.store->total_bytes() >= (int64_t{1} << 30);
    RETURN_IF_ERROR(s.store->Quantize(to, options.num_threads > 0 ? options.num_threads : hw,
                                      [large](const std::string& line) {
                                        if (large) std::fprintf(stderr, "%s\n", line.c_str());
                                      }));
  }
  // Weights read in place on the CPU stream from DRAM every step: 2 MiB pages
  // where possible. Not after --quantize (its originals' pages were handed back).
  if (options.huge_pages && options.device == "cpu" && options.quantize.empty()) {
    s.weight_pages = s.store->PreferHugePages();
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      s.backend->LoadModel(options.model_dir, *s.store,
                           ModelLoadOptions{.num_threads = options.num_threads > 0 ? options.num_threads : hw,
                                            .f32_activations = options.f32_activations,
                                            .thread_pool = options.thread_pool});
  if (!model.ok()) {
    if (options.device == "cpu") return model.status();
    return absl::Status(model.status().code(), absl::StrCat("--device ", options.device, ": ",
                                                            model.status().message()));
  }
  s.model = std::move(*model);
  s.config = s.model->config();
  const std::string tok_path = options.model_dir + "/tokenizer.model";
  if (access(tok_path.c_str(), F_OK) == 0) {
    std::string error;
    s.tokenizer = Tokenizer::Load(tok_path, &error);
    if (!s.tokenizer) return absl::InvalidArgumentError(error);
    if (s.tokenizer->vocab_size() > s.config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(tok_path, " has ", s.tokenizer->vocab_size(),
                                                     " pieces but config.json's vocab_size is ",
                                                     s.config.vocab_size));
    }
  }
  // The batch scheduler: by default on the CPU; on the GPU when asked, for
  // a model with a batched forward (engine/backend.h). Without it the GPU runs
  // one request at a time on its round runner (CUDA-graph rounds).
  const bool batching =
      options.batching && (s.backend->concurrent_sequences() || options.gpu_batching);
  if (batching && !s.backend->batched_forward(*s.model)) {
    return absl::InvalidArgumentError(absl::StrCat("--gpu-batching: the ", s.config.model_type,
                                                   " model has no batched forward on --device ", options.device));
  }
  if (batching) {
    engine->scheduler_ = std::make_shared<BatchScheduler>(
        engine->state_, BatchScheduler::Options{.max_sequences = options.max_sequences,
                                                .max_queue = options.max_queue,
                                                .batch_aware_draft = options.batch_aware_draft,
                                                .prefill_chunk = options.prefill_chunk});
  }
  return engine;
}

// mincore over the merged page ranges of every tensor.
int64_t ResidentWeightBytes(const WeightStore& store) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (const auto& [name, rec] : store.index()) {
    const auto begin = reinterpret_cast<uintptr_t>(rec->data);
    if (rec->nbytes == 0) continue;
    ranges.emplace_back(begin / page * page, (begin + rec->nbytes + page - 1) / page * page);
  }
  std::sort(ranges.begin(), ranges.end());
  int64_t resident = 0;
  std::vector<unsigned char> vec;
  uintptr_t covered = 0;
  for (auto [b, e] : ranges) {
    b = std::max(b, covered);
    if (b >= e) continue;
    covered = e;
    vec.resize((e - b) / page);
    if (mincore(reinterpret_cast<void*>(b), e - b, vec.data()) != 0) continue;
    for (unsigned char c : vec) resident += (c & 1) ? page : 0;
  }
  return resident;
}

namespace {

// RunGeneration plus what only the engine knows, then Finish().
void RunToEnd(EngineState& state, PreparedGeneration job, RequestCore& core) {
  absl::StatusOr<GenerationResult> result = RunGeneration(state, std::move(job), core);
  if (result.ok()) result->stats.resident_weight_bytes = ResidentWeightBytes(*state.store);
  core.Finish(std::move(result));
}

std::atomic<uint64_t> next_request_id{1};

}  // namespace

absl::StatusOr<std::shared_ptr<Request>> Engine::SubmitTokens(const std::vector<int32_t>& prompt,
                                                              const GenerationOptions& options,
                                                              RequestCallback on_event) {
  ASSIGN_OR_RETURN(PreparedGeneration job, PrepareGeneration(*state_, prompt, options));
  auto core = std::make_shared<RequestCore>(std::move(on_event));
  std::shared_ptr<Request> request(new Request(next_request_id.fetch_add(1), core));
  if (scheduler_) {
    RETURN_IF_ERROR(scheduler_->Enqueue(std::move(job), core));
    request->scheduler_ = scheduler_;
    return request;
  }
  try {
    // The thread holds the model (state_) and the core, not the handle.
    request->worker_ = std::thread([state = state_, core, job = std::move(job)]() mutable {
      RunToEnd(*state, std::move(job), *core);
    });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start a thread for the request: ", e.what()));
  }
  return request;
}

absl::StatusOr<std::shared_ptr<Request>> Engine::Submit(const std::string& prompt, const GenerationOptions& options,
                                                        RequestCallback on_event) {
  GenerationOptions opt = options;
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, EncodePrompt(*state_, prompt, &opt));
  return SubmitTokens(ids, opt, std::move(on_event));
}

absl::StatusOr<GenerationResult> Engine::GenerateTokens(const std::vector<int32_t>& prompt,
                                                        const GenerationOptions& options,
                                                        const TextCallback& on_text) {
  auto forward_text = [&on_text](const RequestEvent& event) {
    return !on_text || event.text.empty() || on_text(event.text);
  };
  if (scheduler_) {  // through the batch, with every other request
    ASSIGN_OR_RETURN(std::shared_ptr<Request> request, SubmitTokens(prompt, options, forward_text));
    return request->Wait();
  }
  ASSIGN_OR_RETURN(PreparedGeneration job, PrepareGeneration(*state_, prompt, options));
  // Always a callback: inline, nobody reads a Next() queue.
  RequestCore core(forward_text);
  RunToEnd(*state_, std::move(job), core);
  return core.WaitResult();
}

absl::StatusOr<GenerationResult> Engine::Generate(const std::string& prompt, const GenerationOptions& options,
                                                  const TextCallback& on_text) {
  GenerationOptions opt = options;
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, EncodePrompt(*state_, prompt, &opt));
  return GenerateTokens(ids, opt, on_text);
}

absl::StatusOr<std::vector<SliceInfo>> Engine::DescribeSlices(const std::string& table_path) const {
  ASSIGN_OR_RETURN(std::vector<SliceSpec> table, LoadSliceTable(table_path));
  const Model& model = *state_->model;
  std::vector<SliceInfo> out;
  for (const SliceSpec& spec : table) {
    SliceInfo info;
    info.name = spec.name;
    info.layers = static_cast<int64_t>(spec.ffn_widths.size());
    info.ffn_widths = spec.ffn_widths;
    info.skipped_layers = spec.skipped_layers;
    info.short_widths = ShortWidths(spec.ffn_widths);
    info.declared_params_b = spec.declared_params_b.value_or(0.0);
    absl::StatusOr<SliceView> view = ValidateSlice(spec, model.config(), model.ReservedLayers());
    info.valid = view.ok();
    if (view.ok()) {
      info.parameters = model.ParameterCount(*view);
      info.step_weight_bytes = model.WeightBytesRead(*view);
    } else {
      info.error = std::string(view.status().message());
    }
    out.push_back(std::move(info));
  }
  return out;
}

ModelInfo Engine::Describe() const {
  const EngineState& s = *state_;
  ModelInfo m;
  m.model_dir = s.options.model_dir;
  m.architecture = s.config.model_type;
  m.vocab_size = s.config.vocab_size;
  m.hidden_size = s.config.hidden_size;
  m.num_layers = s.config.num_layers;
  m.num_heads = s.config.num_heads;
  m.num_kv_heads = s.config.num_kv_heads;
  m.head_dim = s.config.head_dim;
  m.ffn_widths = s.config.ffn_widths;
  m.max_position_embeddings = s.config.max_position_embeddings;
  m.tied_embeddings = s.config.tie_word_embeddings && !s.store->Has("lm_head.weight");
  auto q = s.store->Find("model.layers.0.self_attn.q_proj.weight");
  m.dtype = q.ok() ? std::string(DTypeName((*q)->dtype)) : "?";
  m.parameters = s.model->ParameterCount(s.model->FullSlice());
  m.weight_bytes = s.store->total_bytes();
  m.num_tensors = s.store->num_tensors();
  m.weight_pages = s.weight_pages ? DescribeHugePages(*s.weight_pages) : "not asked";
  return m;
}

int64_t Engine::ResidentWeightBytes() const { return matspec::ResidentWeightBytes(*state_->store); }

}  // namespace matspec
