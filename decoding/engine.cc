// The public Engine: loading, option validation, draft-slice resolution and
// generation on top of SpeculativeDecoder.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "draft/slice_spec.h"
#include "draft/token_list.h"
#include "engine/backend.h"
#include "decoding/speculative_decoder.h"
#include "engine/memory_budget.h"
#include "engine/model_config.h"
#include "engine/status_macros.h"
#include "engine/tokenizer.h"
#include "engine/weight_store.h"
#include "matspec/matspec.h"

namespace matspec {

struct Engine::State {
  LoadOptions options;
  const Backend* backend = nullptr;
  ModelConfig config;
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the directory has none
  // A backend whose model takes one sequence at a time (the GPU's: one stream,
  // one scratch) gets its generations in turn; the CPU's run at once.
  std::mutex sequence_mutex;
};

Engine::Engine() : state_(std::make_unique<State>()) {}
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
  std::unique_ptr<Engine> engine(new Engine());
  State& s = *engine->state_;
  s.options = options;
  absl::StatusOr<const Backend*> backend = GetBackend(options.device);
  if (!backend.ok()) {
    return absl::Status(backend.status().code(), absl::StrCat("--device ", options.device, ": ",
                                                              backend.status().message()));
  }
  s.backend = *backend;
  ASSIGN_OR_RETURN(s.store, WeightStore::Open(options.model_dir));
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
  return engine;
}

namespace {

// The draft slice the options ask for, validated against the model.
absl::StatusOr<SliceView> ResolveDraft(const DraftOptions& d, const Model& model) {
  SliceSpec spec;
  if (!d.slice_name.empty()) {
    ASSIGN_OR_RETURN(std::vector<SliceSpec> table, LoadSliceTable(d.slice_table));
    ASSIGN_OR_RETURN(spec, FindSlice(table, d.slice_name, d.slice_table));
  } else if (!d.ffn.empty() || !d.skip.empty()) {
    ASSIGN_OR_RETURN(spec, SliceSpecFromFlags(d.ffn, d.skip, model.config()));
  } else {
    // No draft named: the half-width FFN slice of every layer.
    std::vector<int64_t> half;
    for (int64_t w : model.config().ffn_widths) half.push_back(std::max<int64_t>(1, w / 2));
    spec.name = "ffn/2 (default)";
    spec.ffn_widths = half;
    spec.source = "default";
  }
  ASSIGN_OR_RETURN(SliceView view, ValidateSlice(spec, model.config(), model.ReservedLayers()));
  const int64_t vocab = model.config().vocab_size;
  if (!d.draft_vocab_file.empty()) {
    ASSIGN_OR_RETURN(std::vector<int32_t> ids, LoadTokenList(d.draft_vocab_file, vocab));
    if (d.draft_vocab > static_cast<int64_t>(ids.size())) {
      return absl::InvalidArgumentError(absl::StrCat("--draft-vocab ", d.draft_vocab, " exceeds the ", ids.size(),
                                                     " token ids of --draft-vocab-file ", d.draft_vocab_file));
    }
    if (d.draft_vocab > 0) ids.resize(d.draft_vocab);
    std::sort(ids.begin(), ids.end());  // ascending: the head rows are read in memory order
    view.head_ids = std::make_shared<const std::vector<int32_t>>(std::move(ids));
    view.identity = false;
    return view;
  }
  if (d.draft_vocab > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-vocab ", d.draft_vocab, " exceeds the model's vocabulary (",
                                                   vocab, " tokens)"));
  }
  if (d.draft_vocab > 0 && d.draft_vocab < vocab) {
    view.head_rows = d.draft_vocab;
    view.identity = false;
  }
  return view;
}

}  // namespace

absl::StatusOr<GenerationResult> Engine::GenerateTokens(const std::vector<int32_t>& prompt,
                                                        const GenerationOptions& options,
                                                        const TextCallback& on_text) {
  RETURN_IF_ERROR(options.Validate());
  State& s = *state_;
  DecodeParams params;
  params.max_new_tokens = options.max_new_tokens;
  params.context_size = options.context_size > 0 ? options.context_size : s.config.max_position_embeddings;
  if (params.context_size > s.config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("--ctx-size ", params.context_size,
                                                   " exceeds the model's max_position_embeddings (",
                                                   s.config.max_position_embeddings, ")"));
  }
  RETURN_IF_ERROR(CheckKvCacheFits(s.config, params.context_size));
  params.sampling.temperature = static_cast<float>(options.temperature);
  params.sampling.top_k = static_cast<int32_t>(options.top_k);
  params.sampling.top_p = static_cast<float>(options.top_p);
  params.seed = options.seed;
  params.policy.draft_max = options.draft.draft_max;
  params.policy.draft_min = options.draft.draft_min;
  params.policy.draft_p_min = static_cast<float>(options.draft.draft_p_min);
  if (options.speculative) {
    ASSIGN_OR_RETURN(SliceView slice, ResolveDraft(options.draft, *s.model));
    params.draft = std::move(slice);
  }
  if (options.stop_at_eos) {
    params.stop_tokens = s.config.eos_token_ids;
    if (s.tokenizer && s.tokenizer->eos_id() >= 0) params.stop_tokens.push_back(s.tokenizer->eos_id());
  }
  params.stop_tokens.insert(params.stop_tokens.end(), options.stop_token_ids.begin(), options.stop_token_ids.end());
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= s.config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " has id ", prompt[i],
                                                     ", outside the vocabulary [0, ", s.config.vocab_size, ")"));
    }
  }

  GenerationResult result;
  result.prompt_tokens = prompt;
  std::unique_ptr<TextStreamer> streamer;
  if (s.tokenizer) {
    streamer = std::make_unique<TextStreamer>(s.tokenizer.get());
    streamer->Prime(prompt);
  }
  const std::vector<int32_t>& stops = params.stop_tokens;
  TokenCallback on_tokens = [&](const std::vector<int32_t>& fresh) {
    if (!streamer) return true;
    std::vector<int32_t> shown;
    for (int32_t t : fresh) {
      if (std::find(stops.begin(), stops.end(), t) == stops.end()) shown.push_back(t);
    }
    const std::string text = streamer->Push(shown);
    if (on_text && !text.empty()) return on_text(text);
    return true;
  };
  result.stats.device = s.options.device;
  const int64_t draft_vocab = params.draft ? HeadRows(*params.draft, s.config.vocab_size) : 0;
  std::unique_lock<std::mutex> turn;
  if (!s.backend->concurrent_sequences()) turn = std::unique_lock<std::mutex>(s.sequence_mutex);
  RoundRunnerSpec spec{.draft = params.draft,
                       .policy = params.policy,
                       .sampling = params.sampling,
                       .seed = params.seed,
                       .capacity = RunnerCapacity(params),
                       .cuda_graphs = s.options.cuda_graphs};
  absl::StatusOr<std::unique_ptr<RoundRunner>> runner = s.backend->NewRoundRunner(*s.model, spec);
  if (!runner.ok()) {
    return absl::Status(runner.status().code(),
                        absl::StrCat("--device ", s.options.device, ": ", runner.status().message()));
  }
  std::unique_ptr<SpeculativeDecoder> decoder =
      *runner ? std::make_unique<SpeculativeDecoder>(std::move(*runner), std::move(params))
              : std::make_unique<SpeculativeDecoder>(s.model.get(), std::move(params));
  RETURN_IF_ERROR(decoder->Run(prompt, on_tokens, &result.tokens, &result.stats));
  result.stats.draft_vocab = draft_vocab;
  result.stats.gpu_weight_bytes = s.model->device_weight_bytes();
  result.stats.cuda_graph_launches = decoder->runner().graph_launches();
  if (streamer) {
    const std::string rest = streamer->Flush();
    if (on_text && !rest.empty()) on_text(rest);
    result.text = streamer->generated_text();
  }
  result.stats.weight_bytes = s.store->total_bytes();
  result.stats.resident_weight_bytes = ResidentWeightBytes();
  return result;
}

absl::StatusOr<GenerationResult> Engine::Generate(const std::string& prompt, const GenerationOptions& options,
                                                  const TextCallback& on_text) {
  State& s = *state_;
  if (!s.tokenizer) {
    return absl::FailedPreconditionError(
        absl::StrCat(s.options.model_dir, " has no tokenizer.model; pass token ids instead of text"));
  }
  GenerationOptions opt = options;
  std::string text = prompt;
  if (options.chat) {
    // Gemma's instruction-tuned turn template; the model's turn ends with <end_of_turn>.
    const int32_t start = s.tokenizer->PieceToId("<start_of_turn>");
    const int32_t end = s.tokenizer->PieceToId("<end_of_turn>");
    if (start < 0 || end < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--chat: the tokenizer of ", s.options.model_dir,
          " has no <start_of_turn>/<end_of_turn> pieces (the Gemma turn template needs an instruction-tuned Gemma)"));
    }
    text = "<start_of_turn>user\n" + prompt + "<end_of_turn>\n<start_of_turn>model\n";
    opt.stop_token_ids.push_back(end);
  }
  std::vector<int32_t> ids;
  const int32_t bos = s.config.bos_token_id >= 0 ? s.config.bos_token_id : s.tokenizer->bos_id();
  if (options.add_bos && bos >= 0) ids.push_back(bos);
  const std::vector<int32_t> body = s.tokenizer->Encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (ids.empty()) return absl::InvalidArgumentError("the prompt is empty and the model has no BOS token");
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
    } else {
      info.error = std::string(view.status().message());
    }
    out.push_back(std::move(info));
  }
  return out;
}

ModelInfo Engine::Describe() const {
  const State& s = *state_;
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
  return m;
}

int64_t Engine::ResidentWeightBytes() const {
  // Page ranges of every tensor, merged, then asked of the kernel.
  const int64_t page = sysconf(_SC_PAGESIZE);
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (const auto& [name, rec] : state_->store->index()) {
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

}  // namespace matspec
