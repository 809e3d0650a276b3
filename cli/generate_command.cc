#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "matspec/input_files.h"
#include "matspec/matspec.h"

namespace matspec::cli {
namespace {

std::string Bytes(int64_t b) {
  if (b >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / double(int64_t{1} << 30));
  if (b >= (1 << 20)) return absl::StrFormat("%.2f MiB", b / double(1 << 20));
  if (b >= (1 << 10)) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrCat(b, " B");
}

std::string StatsLine(const GenerationStats& s, const GenerationOptions& opt) {
  std::string line = absl::StrFormat("matspec: %d tokens in %.2f s (%.1f tok/s), prompt %d tokens (%.2f s), stop: %s",
                                     s.generated_tokens, s.decode_seconds, s.tokens_per_second, s.prompt_tokens,
                                     s.prefill_seconds, s.stop_reason);
  if (!s.draft_slice.empty()) {
    std::vector<std::string> pos;
    for (double a : s.per_position_acceptance) pos.push_back(absl::StrFormat("%.2f", a));
    absl::StrAppendFormat(&line,
                          "\nmatspec: draft \"%s\"%s k=%d: drafted %d, accepted %d (%.1f%%), mean acceptance length "
                          "%.2f, per position [%s], rounds %d, draft %.2f s, verify %.2f s",
                          s.draft_slice,
                          opt.draft.draft_vocab > 0 || !opt.draft.draft_vocab_file.empty()
                              ? absl::StrFormat(" (head: %d tokens)", s.draft_vocab)
                              : "",
                          opt.draft.draft_max, s.drafted_tokens, s.accepted_tokens,
                          100.0 * s.acceptance_rate, s.mean_acceptance_length, absl::StrJoin(pos, " "), s.rounds,
                          s.draft_seconds, s.verify_seconds);
    absl::StrAppendFormat(&line, "\nmatspec: weights %s in one store (%s resident); the draft adds 0 B of weights, %s of KV cache",
                          Bytes(s.weight_bytes), Bytes(s.resident_weight_bytes), Bytes(s.draft_kv_bytes));
  } else {
    absl::StrAppendFormat(&line, " (plain decoding, %d rounds); weights %s (%s resident)", s.rounds,
                          Bytes(s.weight_bytes), Bytes(s.resident_weight_bytes));
  }
  if (s.device == "cuda") {
    absl::StrAppendFormat(&line, "\nmatspec: device cuda: %s of weights in GPU memory, shared by the draft",
                          Bytes(s.gpu_weight_bytes));
    absl::StrAppendFormat(&line, "; %d of %d rounds replayed as CUDA graphs", s.cuda_graph_launches, s.rounds);
  }
  return line;
}

nlohmann::json StatsJson(const GenerationStats& s) {
  return {
      {"prompt_tokens", s.prompt_tokens},
      {"generated_tokens", s.generated_tokens},
      {"rounds", s.rounds},
      {"drafted_tokens", s.drafted_tokens},
      {"accepted_tokens", s.accepted_tokens},
      {"acceptance_rate", s.acceptance_rate},
      {"mean_acceptance_length", s.mean_acceptance_length},
      {"per_position_acceptance", s.per_position_acceptance},
      {"tokens_per_second", s.tokens_per_second},
      {"prefill_seconds", s.prefill_seconds},
      {"draft_seconds", s.draft_seconds},
      {"verify_seconds", s.verify_seconds},
      {"decode_seconds", s.decode_seconds},
      {"draft_slice", s.draft_slice},
      {"draft_kv_bytes", s.draft_kv_bytes},
      {"draft_vocab", s.draft_vocab},
      {"weight_bytes", s.weight_bytes},
      {"resident_weight_bytes", s.resident_weight_bytes},
      {"gpu_weight_bytes", s.gpu_weight_bytes},
      {"device", s.device},
      {"cuda_graph_launches", s.cuda_graph_launches},
      {"stop_reason", s.stop_reason},
  };
}

absl::StatusOr<std::string> ReadPrompt(const RunConfig& c) {
  if ((!c.prompt.empty()) + (!c.prompt_file.empty()) + (!c.prompt_ids.empty()) > 1) {
    return absl::InvalidArgumentError("give the prompt with only one of -p, -f and --prompt-ids");
  }
  if (!c.prompt_ids.empty()) return std::string();
  if (!c.prompt_file.empty()) {
    return ReadPromptFile(c.prompt_file);
  }
  if (c.prompt.empty()) {
    return absl::InvalidArgumentError("no prompt: give one with -p TEXT, -f FILE or --prompt-ids 1,2,3");
  }
  return c.prompt;
}

}  // namespace

int RunGenerate(const RunConfig& config) {
  absl::StatusOr<std::string> prompt = ReadPrompt(config);
  if (!prompt.ok()) return Fail(prompt.status());
  if (absl::Status s = config.generation.Validate(); !s.ok()) return Fail(s);
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(config.load);
  if (!engine.ok()) return Fail(engine.status());
  TextCallback stream = nullptr;
  if (!config.json) {
    stream = [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  }
  absl::StatusOr<GenerationResult> result =
      config.prompt_ids.empty() ? (*engine)->Generate(*prompt, config.generation, stream)
                                : (*engine)->GenerateTokens(config.prompt_ids, config.generation, stream);
  if (!result.ok()) {
    if (!config.json) std::fputs("\n", stdout);
    return Fail(result.status());
  }
  if (config.json) {
    nlohmann::json out = {{"text", result->text}, {"tokens", result->tokens},
                          {"prompt_tokens", result->prompt_tokens}, {"stats", StatsJson(result->stats)}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\n" << std::flush;
  }
  std::cerr << StatsLine(result->stats, config.generation) << "\n";
  return 0;
}

}  // namespace matspec::cli
