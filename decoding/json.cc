#include "matspec/json.h"

#include <nlohmann/json.hpp>

#include <variant>

#include "absl/strings/str_cat.h"

namespace matspec {
namespace {

using Json = nlohmann::json;

// Invalid UTF-8 (a model may emit half a character) is replaced, never thrown on.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json StatsObject(const GenerationStats& s) {
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
      {"full_step_weight_bytes", s.full_step_weight_bytes},
      {"draft_step_weight_bytes", s.draft_step_weight_bytes},
      {"resident_weight_bytes", s.resident_weight_bytes},
      {"gpu_weight_bytes", s.gpu_weight_bytes},
      {"device", s.device},
      {"cuda_graph_launches", s.cuda_graph_launches},
      {"stop_reason", s.stop_reason},
  };
}

// The text form SetRunOption parses; an error names the key.
absl::Status ValueText(const Json& v, const std::string& origin, std::string* text) {
  if (v.is_string()) {
    *text = v.get<std::string>();
  } else if (v.is_boolean()) {
    *text = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    *text = v.dump();  // integers exactly, floating point in its shortest round-trip form
  } else if (v.is_array()) {
    text->clear();
    for (const Json& item : v) {
      if (!item.is_number_integer()) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, ": expected an array of integers, got ", Dump(v)));
      }
      absl::StrAppend(text, text->empty() ? "" : ",", item.dump());
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": expected a string, number, boolean or array of integers, got ", Dump(v)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyOptionsJson(std::string_view json, std::string_view origin, RunConfig* config,
                              const std::function<absl::Status(std::string_view name)>& accept_key) {
  Json parsed = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": not valid JSON"));
  }
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), ": expected a JSON object of options, got ", Dump(parsed)));
  }
  for (const auto& [key, value] : parsed.items()) {
    const std::string where = absl::StrCat(std::string(origin), ": ", key);
    const RunOptionDoc* doc = FindRunOption(key);
    if (doc == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where,
                                                     ": unknown option (the keys are the long flags of "
                                                     "`matspec generate`, see matspec --help)"));
    }
    if (accept_key) {
      if (absl::Status s = accept_key(doc->name); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
      }
    }
    std::string text;
    if (absl::Status s = ValueText(value, where, &text); !s.ok()) return s;
    if (absl::Status s = SetRunOption(config, key, text, where); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string GenerationStatsJson(const GenerationStats& stats) { return Dump(StatsObject(stats)); }

std::string GenerationResultJson(const GenerationResult& r) {
  return Dump(Json{{"text", r.text},
                   {"tokens", r.tokens},
                   {"prompt_tokens", r.prompt_tokens},
                   {"stats", StatsObject(r.stats)}});
}

std::string RequestEventJson(const RequestEvent& event) {
  return Dump(Json{{"tokens", event.tokens}, {"text", event.text}});
}

std::string RoundRecordJson(const RoundRecord& r, const RoundLabels& labels) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();  // labels first, as given
  for (const auto& [key, value] : labels) {
    std::visit([&, &key = key](const auto& v) { j[key] = v; }, value);
  }
  j["round"] = r.round;
  j["position"] = r.position;
  j["drafted"] = r.drafted;
  j["accepted"] = r.accepted;
  j["draft_seconds"] = r.draft_seconds;
  j["verify_seconds"] = r.verify_seconds;
  j["round_seconds"] = r.round_seconds;
  j["draft_top_p"] = r.draft_top_p;
  j["draft_logit_gap"] = r.draft_logit_gap;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace matspec
