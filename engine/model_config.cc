// config.json -> ModelConfig, with every rejection naming the file and field.
#include "engine/model_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/bounded_file.h"
#include "engine/config_limits.h"
#include "engine/json_input.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace matspec {
namespace {

using Json = nlohmann::json;

// Reads fields of one config object; every error names `source` and the field.
class FieldReader {
 public:
  FieldReader(const Json& root, absl::string_view source) : root_(root), source_(source) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": field \"", field, "\" ", what));
  }

  // The value of `field`, or nullptr when absent or null (HF writes null for "unset").
  const Json* Get(absl::string_view field) const {
    auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status TypeError(absl::string_view field, absl::string_view expected, const Json& got) const {
    return Error(field, absl::StrCat("must be ", expected, ", got ", got.type_name(), " ", JsonSnippet(got)));
  }

  absl::StatusOr<int64_t> PositiveInt(absl::string_view field, const Json& v) const {
    if (!v.is_number_integer()) return TypeError(field, "an integer", v);
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Error(field, absl::StrCat("is too large: ", JsonSnippet(v)));
    }
    const int64_t x = v.get<int64_t>();
    if (x <= 0) return Error(field, absl::StrCat("must be positive, got ", x));
    return x;
  }

  // A positive integer no larger than `cap` (engine/config_limits.h).
  absl::StatusOr<int64_t> CappedInt(absl::string_view field, const Json& v, int64_t cap) const {
    ASSIGN_OR_RETURN(int64_t x, PositiveInt(field, v));
    if (x > cap) return Error(field, absl::StrCat("is ", x, ", above matspec's limit of ", cap));
    return x;
  }

  absl::StatusOr<int64_t> RequiredPositiveInt(absl::string_view field, int64_t cap) const {
    const Json* v = Get(field);
    if (v == nullptr) return Error(field, "is missing");
    return CappedInt(field, *v, cap);
  }

  absl::StatusOr<std::optional<int64_t>> OptionalPositiveInt(absl::string_view field, int64_t cap) const {
    const Json* v = Get(field);
    if (v == nullptr) return std::optional<int64_t>();
    ASSIGN_OR_RETURN(int64_t x, CappedInt(field, *v, cap));
    return std::optional<int64_t>(x);
  }

  absl::StatusOr<double> PositiveNumber(absl::string_view field, const Json& v) const {
    if (!v.is_number()) return TypeError(field, "a number", v);
    const double x = v.get<double>();
    if (!(x > 0.0) || !std::isfinite(x)) return Error(field, absl::StrCat("must be positive, got ", x));
    return x;
  }

  absl::Status OptionalPositiveNumber(absl::string_view field, double& out) const {
    const Json* v = Get(field);
    if (v == nullptr) return absl::OkStatus();
    ASSIGN_OR_RETURN(out, PositiveNumber(field, *v));
    return absl::OkStatus();
  }

  absl::StatusOr<int32_t> TokenId(absl::string_view field, const Json& v) const {
    if (!v.is_number_integer()) return TypeError(field, "an integer token id", v);
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX)
                                                 : v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
    if (!in_range) return Error(field, absl::StrCat("is not a valid token id: ", JsonSnippet(v)));
    return static_cast<int32_t>(v.get<int64_t>());
  }

  absl::Status OptionalString(absl::string_view field, std::string& out) const {
    const Json* v = Get(field);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) return TypeError(field, "a string", *v);
    out = v->get<std::string>();
    return absl::OkStatus();
  }

 private:
  const Json& root_;
  absl::string_view source_;
};

// rope_scaling (transformers <= 4.x) and rope_parameters (5.x): only plain RoPE
// is implemented; anything that rescales positions is refused, never ignored.
absl::Status CheckRope(const FieldReader& r, absl::string_view field, ModelConfig& config) {
  const Json* v = r.Get(field);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_object()) return r.TypeError(field, "an object or null", *v);
  std::string type = "(unspecified)";
  for (const char* key : {"rope_type", "type"}) {
    auto it = v->find(key);
    if (it != v->end() && it->is_string()) type = it->get<std::string>();
  }
  if (type != "default") {
    return r.Error(field, absl::StrCat("asks for RoPE scaling of type \"", type,
                                       "\", which is not supported (only unscaled RoPE; remove the field or "
                                       "set it to null)"));
  }
  auto theta = v->find("rope_theta");
  if (theta != v->end()) {
    ASSIGN_OR_RETURN(config.rope_theta, r.PositiveNumber(absl::StrCat(field, ".rope_theta"), *theta));
  }
  return absl::OkStatus();
}

absl::Status Parse(const Json& root, absl::string_view source, ModelConfig& c) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": top level is not a JSON object"));
  }
  FieldReader r(root, source);

  const Json* type = r.Get("model_type");
  if (type == nullptr) return r.Error("model_type", "is missing");
  if (!type->is_string()) return r.TypeError("model_type", "a string", *type);
  c.model_type = type->get<std::string>();
  if (c.model_type != "llama") {
    return r.Error("model_type",
                   absl::StrCat("is \"", c.model_type, "\", which is not supported (supported: llama)"));
  }

  ASSIGN_OR_RETURN(c.vocab_size, r.RequiredPositiveInt("vocab_size", kMaxConfigVocab));
  ASSIGN_OR_RETURN(c.hidden_size, r.RequiredPositiveInt("hidden_size", kMaxConfigHiddenSize));
  ASSIGN_OR_RETURN(c.num_layers, r.RequiredPositiveInt("num_hidden_layers", kMaxConfigLayers));
  ASSIGN_OR_RETURN(c.num_heads, r.RequiredPositiveInt("num_attention_heads", kMaxConfigHeads));

  const Json* ffn = r.Get("intermediate_size");
  if (ffn == nullptr) return r.Error("intermediate_size", "is missing");
  c.ffn_widths.clear();
  if (ffn->is_array()) {
    if (static_cast<int64_t>(ffn->size()) != c.num_layers) {
      return r.Error("intermediate_size", absl::StrCat("is a list of ", ffn->size(),
                                                       " widths but num_hidden_layers is ", c.num_layers));
    }
    for (size_t i = 0; i < ffn->size(); ++i) {
      ASSIGN_OR_RETURN(int64_t w,
                       r.CappedInt(absl::StrCat("intermediate_size[", i, "]"), (*ffn)[i], kMaxConfigFfnWidth));
      c.ffn_widths.push_back(w);
    }
  } else if (ffn->is_number_integer()) {
    ASSIGN_OR_RETURN(int64_t w, r.CappedInt("intermediate_size", *ffn, kMaxConfigFfnWidth));
    c.ffn_widths.assign(static_cast<size_t>(c.num_layers), w);
  } else {
    return r.TypeError("intermediate_size", "an integer or a list of num_hidden_layers integers", *ffn);
  }

  ASSIGN_OR_RETURN(std::optional<int64_t> kv, r.OptionalPositiveInt("num_key_value_heads", kMaxConfigHeads));
  c.num_kv_heads = kv.value_or(c.num_heads);
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Error(
        "num_key_value_heads",
        absl::StrCat("(", c.num_kv_heads, ") does not divide num_attention_heads (", c.num_heads, ")"));
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, r.OptionalPositiveInt("head_dim", kMaxConfigHeadDim));
  if (head_dim) {
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      return r.Error("head_dim",
                     absl::StrCat("is absent and hidden_size (", c.hidden_size,
                                  ") is not divisible by num_attention_heads (", c.num_heads, ")"));
    }
    c.head_dim = c.hidden_size / c.num_heads;
    if (c.head_dim > kMaxConfigHeadDim) {
      return r.Error("head_dim", absl::StrCat("(hidden_size / num_attention_heads) is ", c.head_dim,
                                              ", above matspec's limit of ", kMaxConfigHeadDim));
    }
  }
  if (c.head_dim % 2 != 0)
    return r.Error("head_dim", absl::StrCat("must be even for RoPE, got ", c.head_dim));

  RETURN_IF_ERROR(r.OptionalPositiveNumber("rms_norm_eps", c.rms_norm_eps));
  RETURN_IF_ERROR(r.OptionalPositiveNumber("rope_theta", c.rope_theta));
  RETURN_IF_ERROR(CheckRope(r, "rope_scaling", c));
  RETURN_IF_ERROR(CheckRope(r, "rope_parameters", c));
  ASSIGN_OR_RETURN(std::optional<int64_t> max_pos, r.OptionalPositiveInt("max_position_embeddings", kMaxConfigPositions));
  if (max_pos) c.max_position_embeddings = *max_pos;

  if (const Json* tie = r.Get("tie_word_embeddings")) {
    if (!tie->is_boolean()) return r.TypeError("tie_word_embeddings", "true or false", *tie);
    c.tie_word_embeddings = tie->get<bool>();
  }
  RETURN_IF_ERROR(r.OptionalString("hidden_act", c.hidden_act));
  if (c.hidden_act != "silu") {
    return r.Error("hidden_act",
                   absl::StrCat("is \"", c.hidden_act, "\", which is not supported (supported: silu)"));
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    if (const Json* b = r.Get(bias)) {
      if (!b->is_boolean()) return r.TypeError(bias, "true or false", *b);
      if (b->get<bool>()) return r.Error(bias, "is true, but bias terms are not supported");
    }
  }

  c.eos_token_ids.clear();
  if (const Json* eos = r.Get("eos_token_id")) {
    if (eos->is_array()) {
      for (size_t i = 0; i < eos->size(); ++i) {
        ASSIGN_OR_RETURN(int32_t id, r.TokenId(absl::StrCat("eos_token_id[", i, "]"), (*eos)[i]));
        c.eos_token_ids.push_back(id);
      }
    } else {
      ASSIGN_OR_RETURN(int32_t id, r.TokenId("eos_token_id", *eos));
      c.eos_token_ids.push_back(id);
    }
  }
  if (const Json* bos = r.Get("bos_token_id")) {
    ASSIGN_OR_RETURN(c.bos_token_id, r.TokenId("bos_token_id", *bos));
  }
  RETURN_IF_ERROR(r.OptionalString("torch_dtype", c.torch_dtype));
  if (c.torch_dtype.empty())
    RETURN_IF_ERROR(r.OptionalString("dtype", c.torch_dtype));  // transformers >= 4.56
  return absl::OkStatus();
}

}  // namespace

int64_t ModelConfig::max_ffn_width() const {
  return ffn_widths.empty() ? 0 : *std::max_element(ffn_widths.begin(), ffn_widths.end());
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source_name) {
  const absl::string_view source(source_name.data(), source_name.size());
  ASSIGN_OR_RETURN(Json root, ParseJsonDocument(json_text, source_name));
  ModelConfig config;
  try {
    RETURN_IF_ERROR(Parse(root, source, config));
  } catch (const std::exception& e) {  // defensive: every access in Parse is type-checked, sizes capped
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", e.what()));
  }
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(path, kMaxConfigFileBytes, ""));
  return ParseModelConfig(text, path);
}

}  // namespace matspec
