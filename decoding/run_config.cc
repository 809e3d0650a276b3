#include "matspec/run_config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "decoding/preset_input.h"
#include "engine/bounded_file.h"

namespace matspec {
namespace {

// Debian's Abseil has its own absl::string_view (not std::string_view), so
// std::string_view values are passed to StrCat as std::string.
absl::Status BadValue(std::string_view origin, std::string_view value, std::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(origin), ": expected ", std::string(want), ", got \"", std::string(value), "\""));
}

absl::Status ParseInt(std::string_view origin, std::string_view v, int64_t* out) {
  if (!absl::SimpleAtoi(std::string(v), out)) return BadValue(origin, v, "an integer");
  return absl::OkStatus();
}

absl::Status ParseDouble(std::string_view origin, std::string_view v, double* out) {
  if (!absl::SimpleAtod(std::string(v), out) || !std::isfinite(*out)) return BadValue(origin, v, "a number");
  return absl::OkStatus();
}

absl::Status ParseBool(std::string_view origin, std::string_view v, bool* out) {
  if (v == "true" || v == "1" || v.empty()) {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return BadValue(origin, v, "true or false");
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<RunOptionDoc>& RunOptionDocs() {
  static const std::vector<RunOptionDoc> kDocs = {
      {"model", "m", false, "model directory (config.json, model.safetensors, tokenizer.model)"},
      {"prompt", "p", false, "prompt text"},
      {"file", "f", false, "read the prompt from this file"},
      {"prompt-ids", "", false, "prompt as comma-separated token ids (for checkpoints without a tokenizer)"},
      {"n-predict", "n", false, "tokens to generate (default 128)"},
      {"temp", "", false, "temperature; 0 = greedy (default 0)"},
      {"top-k", "", false, "keep the k most probable tokens; 0 = off"},
      {"top-p", "", false, "nucleus sampling mass in (0, 1]; 1 = off"},
      {"seed", "s", false, "random seed (non-negative integer; default 0)"},
      {"draft-max", "", false, "k: most tokens drafted per round (default 4)"},
      {"draft-min", "", false, "fewest tokens drafted per round (default 0)"},
      {"draft-adaptive", "", true,
       "draft length chosen as it goes, within [draft-min, draft-max] (lossless): on the CPU each draft stops once "
       "more tokens no longer pay (acceptance learned per draft confidence, measured timings); on --device cuda "
       "k is chosen per round"},
      {"draft-own-kv", "", true,
       "the draft computes keys and values for every token itself (prefills the prompt, catches up after plain "
       "rounds); default: it copies the verifier's for the tokens it has not seen (CPU, llama family)"},
      {"draft-p-min", "", false, "stop drafting when the draft's top-1 probability is below this (default 0)"},
      {"draft-vocab", "", false, "the draft scores only token ids below this (a reduced LM head); 0 = all"},
      {"draft-vocab-file", "", false,
       "the draft scores only the token ids in this file (most frequent first; with --draft-vocab N, the first N)"},
      {"matformer-config-path", "", false, "slice table (CSV, Gemma 3n format)"},
      {"matformer-slice-name", "", false, "draft with this row of the slice table"},
      {"draft-ffn", "", false, "draft FFN width: one number, or one per kept layer (comma-separated)"},
      {"draft-skip", "", false, "draft skips these layers (comma-separated indices)"},
      {"no-speculative", "", true, "plain decoding with the full model"},
      {"ignore-eos", "", true, "do not stop at end-of-sequence tokens"},
      {"no-bos", "", true, "do not prepend the BOS token"},
      {"chat", "", true, "wrap the prompt in the Gemma turn template; stop at <end_of_turn>"},
      {"ctx-size", "c", false, "context length in tokens; 0 = the model's maximum"},
      {"threads", "t", false, "CPU threads; 0 = all"},
      {"device", "", false, "cpu or cuda (default cpu)"},
      {"no-cuda-graphs", "", true, "--device cuda: queue every kernel instead of replaying each round as a CUDA graph"},
      {"thread-pool", "", true, "CPU: products and attention on a per-sequence thread pool whose waits sleep (the default)"},
      {"no-thread-pool", "", true, "CPU: products and attention on OpenMP teams instead of the per-sequence pool"},
      {"no-huge-pages", "", true,
       "CPU: leave the mapped weights to fault in as they come (default: 2 MiB pages where the kernel can, "
       "reading the file once more if the page cache holds 4 KiB pages)"},
      {"no-batching", "", true, "CPU: each request on a thread of its own instead of one continuous batch of every request"},
      {"gpu-batching", "", true,
       "--device cuda: advance requests together, each draft step and verification one batched GPU forward (for concurrent requests; no CUDA graphs)"},
      {"max-sequences", "", false, "requests advanced together in one batch (default 16); more wait in a queue"},
      {"max-queue", "", false, "requests that may wait for a place in the batch; more are refused (0 = no limit)"},
      {"prefill-chunk", "", false, "prompt tokens a new request feeds per round beside the running ones (default 256)"},
      {"no-batch-draft-cap", "", true, "keep every greedy request's k however large the batch (no batch-aware cap)"},
      {"f32-activations", "", true, "CPU: never round activations to bf16 in products with bf16 weights (exact f32 arithmetic, slower on AVX512-BF16 CPUs)"},
      {"quantize", "", false, "CPU, llama family: quantize the layer matrices at load to q8 or q4 (blocks of 32, f16 scales)"},
      {"json", "", true, "print one JSON object (text, tokens, stats) on stdout"},
      {"round-log", "", false,
       "generate, bench: write FILE with one JSON line per round (drafted, accepted, times, the draft's "
       "top-1 probability per token)"},
      {"check-weights", "", true, "inspect: scan every tensor for NaN and Inf (exit 1 if any holds one)"},
      {"type", "", false, "quantize: q8 or q4"},
      {"out", "", false, "quantize: the directory to write the quantized checkpoint to"},
  };
  return kDocs;
}

const RunOptionDoc* FindRunOption(std::string_view name) {
  for (const RunOptionDoc& d : RunOptionDocs()) {
    if (d.name == name || (!d.alias.empty() && d.alias == name)) return &d;
  }
  return nullptr;
}

absl::Status SetRunOption(RunConfig* c, std::string_view name, std::string_view v, std::string_view origin) {
  const RunOptionDoc* doc = FindRunOption(name);
  if (doc == nullptr) return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": unknown option"));
  GenerationOptions& g = c->generation;
  const std::string_view n = doc->name;
  int64_t i = 0;
  if (n == "model") {
    c->load.model_dir = std::string(v);
  } else if (n == "prompt") {
    c->prompt = std::string(v);
  } else if (n == "file") {
    c->prompt_file = std::string(v);
  } else if (n == "prompt-ids") {
    c->prompt_ids.clear();
    for (absl::string_view item : absl::StrSplit(absl::string_view(v.data(), v.size()), ',')) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(item, &id) || id < 0) return BadValue(origin, v, "comma-separated token ids >= 0");
      c->prompt_ids.push_back(id);
    }
  } else if (n == "n-predict") {
    return ParseInt(origin, v, &g.max_new_tokens);
  } else if (n == "temp") {
    return ParseDouble(origin, v, &g.temperature);
  } else if (n == "top-k") {
    return ParseInt(origin, v, &g.top_k);
  } else if (n == "top-p") {
    return ParseDouble(origin, v, &g.top_p);
  } else if (n == "seed") {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(std::string(v), &seed)) return BadValue(origin, v, "a non-negative integer");
    g.seed = seed;
  } else if (n == "draft-max") {
    return ParseInt(origin, v, &g.draft.draft_max);
  } else if (n == "draft-min") {
    return ParseInt(origin, v, &g.draft.draft_min);
  } else if (n == "draft-adaptive") {
    return ParseBool(origin, v, &g.draft.draft_adaptive);
  } else if (n == "draft-own-kv") {
    return ParseBool(origin, v, &g.draft.draft_own_kv);
  } else if (n == "draft-p-min") {
    return ParseDouble(origin, v, &g.draft.draft_p_min);
  } else if (n == "draft-vocab") {
    return ParseInt(origin, v, &g.draft.draft_vocab);
  } else if (n == "draft-vocab-file") {
    g.draft.draft_vocab_file = std::string(v);
  } else if (n == "matformer-config-path") {
    g.draft.slice_table = std::string(v);
  } else if (n == "matformer-slice-name") {
    g.draft.slice_name = std::string(v);
  } else if (n == "draft-ffn") {
    g.draft.ffn = std::string(v);
  } else if (n == "draft-skip") {
    g.draft.skip = std::string(v);
  } else if (n == "no-speculative") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    g.speculative = !b;
  } else if (n == "ignore-eos") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    g.stop_at_eos = !b;
  } else if (n == "no-bos") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    g.add_bos = !b;
  } else if (n == "chat") {
    return ParseBool(origin, v, &g.chat);
  } else if (n == "ctx-size") {
    return ParseInt(origin, v, &g.context_size);
  } else if (n == "threads") {
    if (absl::Status s = ParseInt(origin, v, &i); !s.ok()) return s;
    if (i < 0 || i > 1024) return BadValue(origin, v, "a thread count in [0, 1024]");
    c->load.num_threads = static_cast<int>(i);
  } else if (n == "device") {
    if (v != "cpu" && v != "cuda") return BadValue(origin, v, "cpu or cuda");
    c->load.device = std::string(v);
  } else if (n == "no-cuda-graphs") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    c->load.cuda_graphs = !b;
  } else if (n == "thread-pool") {
    return ParseBool(origin, v, &c->load.thread_pool);
  } else if (n == "no-thread-pool") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    c->load.thread_pool = !b;
  } else if (n == "no-huge-pages") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    c->load.huge_pages = !b;
  } else if (n == "f32-activations") {
    return ParseBool(origin, v, &c->load.f32_activations);
  } else if (n == "no-batching") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    c->load.batching = !b;
  } else if (n == "gpu-batching") {
    return ParseBool(origin, v, &c->load.gpu_batching);
  } else if (n == "max-sequences") {
    if (absl::Status s = ParseInt(origin, v, &i); !s.ok()) return s;
    if (i < 1 || i > 4096) return BadValue(origin, v, "a sequence count in [1, 4096]");
    c->load.max_sequences = i;
  } else if (n == "max-queue") {
    if (absl::Status s = ParseInt(origin, v, &i); !s.ok()) return s;
    if (i < 0) return BadValue(origin, v, "a request count >= 0 (0 = no limit)");
    c->load.max_queue = i;
  } else if (n == "prefill-chunk") {
    if (absl::Status s = ParseInt(origin, v, &i); !s.ok()) return s;
    if (i < 1) return BadValue(origin, v, "a token count >= 1");
    c->load.prefill_chunk = i;
  } else if (n == "no-batch-draft-cap") {
    bool b = false;
    if (absl::Status s = ParseBool(origin, v, &b); !s.ok()) return s;
    c->load.batch_aware_draft = !b;
  } else if (n == "quantize") {
    if (v != "q8" && v != "q4") return BadValue(origin, v, "q8 or q4");
    c->load.quantize = std::string(v);
  } else if (n == "json") {
    return ParseBool(origin, v, &c->json);
  } else if (n == "round-log") {
    if (v.empty()) return BadValue(origin, v, "a file path");
    c->round_log = std::string(v);
  } else if (n == "check-weights") {
    return ParseBool(origin, v, &c->check_weights);
  } else if (n == "type") {
    if (v != "q8" && v != "q4") return BadValue(origin, v, "q8 or q4");
    c->quantize_type = std::string(v);
  } else if (n == "out") {
    c->quantize_out = std::string(v);
  }
  return absl::OkStatus();
}

absl::Status ApplyPresetFile(const std::string& path, RunConfig* config) {
  absl::StatusOr<std::string> text = ReadBoundedFile(path, kMaxPresetFileBytes, "preset");
  if (!text.ok()) return text.status();
  return ApplyPresetText(*text, path, config);
}

}  // namespace matspec
