#include "decoding/generation.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "draft/slice_spec.h"
#include "draft/token_list.h"
#include "engine/memory_budget.h"
#include "engine/status_macros.h"

namespace matspec {
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
      return absl::InvalidArgumentError(absl::StrCat("--draft-vocab ", d.draft_vocab, " exceeds the ",
                                                     ids.size(), " token ids of --draft-vocab-file ",
                                                     d.draft_vocab_file));
    }
    if (d.draft_vocab > 0) ids.resize(d.draft_vocab);
    std::sort(ids.begin(), ids.end());  // ascending: the head rows are read in memory order
    view.head_ids = std::make_shared<const std::vector<int32_t>>(std::move(ids));
    return view;
  }
  if (d.draft_vocab > vocab) {
    return absl::InvalidArgumentError(absl::StrCat("--draft-vocab ", d.draft_vocab,
                                                   " exceeds the model's vocabulary (", vocab, " tokens)"));
  }
  if (d.draft_vocab > 0 && d.draft_vocab < vocab) {
    view.head_rows = d.draft_vocab;
  }
  return view;
}

using Clock = std::chrono::steady_clock;

// Waits for the one-sequence backend's turn, giving up when cancelled.
bool TakeTurn(EngineState& state, const RequestCore& core, std::unique_lock<std::timed_mutex>* turn) {
  *turn = std::unique_lock<std::timed_mutex>(state.sequence_mutex, std::defer_lock);
  while (!turn->try_lock_for(std::chrono::milliseconds(10))) {
    if (core.cancelled()) return false;
  }
  return true;
}

// Sequences that draft alike (slice, draft head, k range, greedy or sampled,
// the p_min cut, own or adopted keys and values) share what their adaptive
// draft length learns.
std::string DraftMemoryKey(const DecodeParams& params) {
  const SliceView& d = *params.draft;
  std::string head = absl::StrCat(d.head_rows);
  if (d.head_ids != nullptr) {  // a token list: its length and an FNV-1a hash of its ids
    uint64_t h = 1469598103934665603ull;
    for (int32_t id : *d.head_ids) h = (h ^ static_cast<uint32_t>(id)) * 1099511628211ull;
    head = absl::StrCat("ids", d.head_ids->size(), ":", h);
  }
  return absl::StrCat(d.name, "|", absl::StrJoin(d.ffn_widths, ","), "|", head, "|k", params.policy.draft_min, "-",
                      params.policy.draft_max, "|p", params.policy.draft_p_min, "|",
                      params.sampling.temperature > 0 ? "sampled" : "greedy",
                      params.policy.adopt_verifier_kv ? "|adopted-kv" : "|own-kv");
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const EngineState& s, const std::string& prompt,
                                                  GenerationOptions* options) {
  if (!s.tokenizer) {
    return absl::FailedPreconditionError(
        absl::StrCat(s.options.model_dir, " has no tokenizer.model; pass token ids instead of text"));
  }
  std::string text = prompt;
  if (options->chat) {
    // Gemma's instruction-tuned turn template; the model's turn ends with <end_of_turn>.
    const int32_t start = s.tokenizer->PieceToId("<start_of_turn>");
    const int32_t end = s.tokenizer->PieceToId("<end_of_turn>");
    if (start < 0 || end < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chat: the tokenizer of ", s.options.model_dir,
                       " has no <start_of_turn>/<end_of_turn> pieces (the Gemma turn template needs an "
                       "instruction-tuned Gemma)"));
    }
    text = "<start_of_turn>user\n" + prompt + "<end_of_turn>\n<start_of_turn>model\n";
    options->stop_token_ids.push_back(end);
  }
  std::vector<int32_t> ids;
  const int32_t bos = s.config.bos_token_id >= 0 ? s.config.bos_token_id : s.tokenizer->bos_id();
  if (options->add_bos && bos >= 0) ids.push_back(bos);
  const std::vector<int32_t> body = s.tokenizer->Encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (ids.empty()) return absl::InvalidArgumentError("the prompt is empty and the model has no BOS token");
  return ids;
}

absl::StatusOr<PreparedGeneration> PrepareGeneration(const EngineState& s, std::vector<int32_t> prompt,
                                                     const GenerationOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  PreparedGeneration job;
  DecodeParams& params = job.params;
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
  params.adaptive_draft = options.draft.draft_adaptive;
  params.on_round = options.on_round;
  params.policy.record_top_p = static_cast<bool>(options.on_round);
  params.policy.adopt_verifier_kv = !options.draft.draft_own_kv;
  if (options.speculative) {
    ASSIGN_OR_RETURN(SliceView slice, ResolveDraft(options.draft, *s.model));
    params.draft = std::move(slice);
    if (params.adaptive_draft) {
      params.draft_memory = s.draft_memories.For(DraftMemoryKey(params), AdaptiveOptions(params));
    }
  }
  if (options.stop_at_eos) {
    params.stop_tokens = s.config.eos_token_ids;
    if (s.tokenizer && s.tokenizer->eos_id() >= 0) params.stop_tokens.push_back(s.tokenizer->eos_id());
  }
  params.stop_tokens.insert(params.stop_tokens.end(), options.stop_token_ids.begin(),
                            options.stop_token_ids.end());
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= s.config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " has id ", prompt[i],
                                                     ", outside the vocabulary [0, ", s.config.vocab_size,
                                                     ")"));
    }
  }
  const int64_t prompt_length = static_cast<int64_t>(prompt.size());
  if (options.reserve_max_new_tokens && prompt_length < params.context_size &&
      prompt_length + options.max_new_tokens > params.context_size) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt_length, " tokens and max_new_tokens asks for ",
                                              options.max_new_tokens, " more, but the context holds ",
                                              params.context_size, " (at most ", params.context_size - prompt_length,
                                              " new tokens fit)"));
  }
  job.draft_vocab = params.draft ? HeadRows(*params.draft, s.config.vocab_size) : 0;
  job.prompt = std::move(prompt);
  return job;
}

GenerationResult NewResult(const EngineState& s, const PreparedGeneration& job) {
  GenerationResult result;
  result.prompt_tokens = job.prompt;
  result.stats.device = s.options.device;
  result.stats.prompt_tokens = static_cast<int64_t>(job.prompt.size());
  result.stats.draft_slice = job.params.draft ? job.params.draft->name : "";
  result.stats.draft_vocab = job.draft_vocab;
  result.stats.weight_bytes = s.store->total_bytes();
  result.stats.gpu_weight_bytes = s.model->device_weight_bytes();  // 0 on the CPU
  result.stats.full_step_weight_bytes = s.model->WeightBytesRead(s.model->FullSlice());
  if (job.params.draft) result.stats.draft_step_weight_bytes = s.model->WeightBytesRead(*job.params.draft);
  return result;
}

RequestEvent TokensEvent(TextStreamer* streamer, const std::vector<int32_t>& stop_tokens,
                         const std::vector<int32_t>& fresh) {
  RequestEvent event{.tokens = fresh, .text = ""};
  if (streamer) {
    std::vector<int32_t> shown;
    for (int32_t t : fresh) {
      if (std::find(stop_tokens.begin(), stop_tokens.end(), t) == stop_tokens.end()) shown.push_back(t);
    }
    event.text = streamer->Push(shown);
  }
  return event;
}

GenerationStats StatsSoFar(const GenerationStats& stats, int64_t generated, double elapsed) {
  GenerationStats so_far = stats;
  so_far.stop_reason.clear();  // not ended yet
  SummarizeStats(generated, std::max(0.0, elapsed - so_far.prefill_seconds), &so_far);
  return so_far;
}

absl::StatusOr<GenerationResult> RunGeneration(EngineState& s, PreparedGeneration job, RequestCore& core) {
  const auto t_start = Clock::now();
  GenerationResult result = NewResult(s, job);
  DecodeParams params = std::move(job.params);

  std::unique_lock<std::timed_mutex> turn;
  if (core.cancelled() || (!s.backend->concurrent_sequences() && !TakeTurn(s, core, &turn))) {
    result.stats.stop_reason = "cancelled";
    return result;
  }

  std::unique_ptr<TextStreamer> streamer;
  if (s.tokenizer) {
    streamer = std::make_unique<TextStreamer>(s.tokenizer.get());
    streamer->Prime(job.prompt);
  }
  const std::vector<int32_t> stops = params.stop_tokens;
  TokenCallback on_tokens = [&](const std::vector<int32_t>& fresh) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - t_start).count();
    return core.Publish(TokensEvent(streamer.get(), stops, fresh),
                        StatsSoFar(result.stats, static_cast<int64_t>(result.tokens.size()), elapsed));
  };
  params.cancel = core.cancel_flag();
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
  RETURN_IF_ERROR(decoder->Run(job.prompt, on_tokens, &result.tokens, &result.stats));
  result.stats.draft_vocab = job.draft_vocab;
  result.stats.gpu_weight_bytes = s.model->device_weight_bytes();
  result.stats.cuda_graph_launches = decoder->runner().graph_launches();
  if (streamer) {
    // The decoder's remainder (an incomplete character at the end) as a last text-only event.
    const std::string rest = streamer->Flush();
    if (!rest.empty()) core.Publish(RequestEvent{.tokens = {}, .text = rest}, result.stats);
    result.text = streamer->generated_text();
  }
  return result;
}

}  // namespace matspec
