#include "engine/gemma3n_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/bounded_file.h"
#include "engine/config_limits.h"
#include "engine/json_input.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace matspec {
namespace {

using Json = nlohmann::json;

// Error helper: every message starts with the source file.
class Reader {
 public:
  Reader(const Json& j, std::string source) : j_(j), source_(std::move(source)) {}

  absl::Status Error(const std::string& msg) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", msg));
  }
  bool Has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const Json& At(const char* key) const { return j_.at(key); }

  absl::StatusOr<int64_t> Int(const char* key, std::optional<int64_t> def) const {
    if (!Has(key)) {
      if (def) return *def;
      return Error(absl::StrCat("missing required field \"", key, "\""));
    }
    const Json& v = j_.at(key);
    if (!v.is_number_integer()) return Error(absl::StrCat("field \"", key, "\" must be an integer"));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Error(absl::StrCat("field \"", key, "\" is too large: ", JsonSnippet(v)));
    }
    return v.get<int64_t>();
  }
  // A positive integer no larger than `cap` (engine/config_limits.h).
  absl::StatusOr<int64_t> PositiveInt(const char* key, std::optional<int64_t> def, int64_t cap) const {
    ASSIGN_OR_RETURN(int64_t v, Int(key, def));
    if (v <= 0) return Error(absl::StrCat("field \"", key, "\" must be positive (got ", v, ")"));
    if (v > cap) return Error(absl::StrCat("field \"", key, "\" is ", v, ", above matspec's limit of ", cap));
    return v;
  }
  absl::StatusOr<double> Number(const char* key, std::optional<double> def) const {
    if (!Has(key)) {
      if (def) return *def;
      return Error(absl::StrCat("missing required field \"", key, "\""));
    }
    const Json& v = j_.at(key);
    if (!v.is_number()) return Error(absl::StrCat("field \"", key, "\" must be a number"));
    return v.get<double>();
  }
  absl::StatusOr<bool> Bool(const char* key, bool def) const {
    if (!Has(key)) return def;
    const Json& v = j_.at(key);
    if (!v.is_boolean()) return Error(absl::StrCat("field \"", key, "\" must be true or false"));
    return v.get<bool>();
  }
  absl::StatusOr<std::string> String(const char* key, const std::string& def) const {
    if (!Has(key)) return def;
    const Json& v = j_.at(key);
    if (!v.is_string()) return Error(absl::StrCat("field \"", key, "\" must be a string"));
    return v.get<std::string>();
  }
  // An int or a list of ints (eos_token_id).
  absl::StatusOr<std::vector<int32_t>> IntOrList(const char* key) const {
    std::vector<int32_t> out;
    if (!Has(key)) return out;
    const Json& v = j_.at(key);
    auto token = [&](const Json& e) -> absl::StatusOr<int32_t> {
      if (!e.is_number_integer()) return Error(absl::StrCat("field \"", key, "\" holds a non-integer"));
      const bool in_range = e.is_number_unsigned() ? e.get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX)
                                                   : e.get<int64_t>() >= 0 && e.get<int64_t>() <= INT32_MAX;
      if (!in_range) return Error(absl::StrCat("field \"", key, "\" holds ", JsonSnippet(e), ", not a token id"));
      return static_cast<int32_t>(e.get<int64_t>());
    };
    if (v.is_number_integer()) {
      ASSIGN_OR_RETURN(int32_t id, token(v));
      out.push_back(id);
      return out;
    }
    if (!v.is_array()) return Error(absl::StrCat("field \"", key, "\" must be an integer or a list of integers"));
    for (const Json& e : v) {
      ASSIGN_OR_RETURN(int32_t id, token(e));
      out.push_back(id);
    }
    return out;
  }

 private:
  const Json& j_;
  std::string source_;
};

absl::StatusOr<double> RopeThetaOf(const Reader& r, const Json& params, const char* type, double def) {
  if (!params.contains(type)) return def;
  const Json& p = params.at(type);
  if (!p.is_object()) return r.Error(absl::StrCat("rope_parameters.", type, " must be an object"));
  if (p.contains("rope_type") && p.at("rope_type").is_string() && p.at("rope_type").get<std::string>() != "default") {
    return r.Error(absl::StrCat("rope_parameters.", type, ".rope_type \"", p.at("rope_type").get<std::string>(),
                                "\" is not supported (only \"default\")"));
  }
  if (!p.contains("rope_theta")) return def;
  if (!p.at("rope_theta").is_number()) return r.Error(absl::StrCat("rope_parameters.", type, ".rope_theta must be a number"));
  return p.at("rope_theta").get<double>();
}

absl::Status FillKvSharing(const Reader& r, Gemma3nConfig& c) {
  const int64_t L = c.base.num_layers;
  if (c.num_kv_shared_layers < 0 || c.num_kv_shared_layers >= L) {
    return r.Error(absl::StrCat("num_kv_shared_layers ", c.num_kv_shared_layers, " must be in [0, ", L - 1, "]"));
  }
  c.first_kv_shared_layer = L - c.num_kv_shared_layers;
  c.kv_source.assign(L, 0);
  std::set<int64_t> producers;
  for (int64_t l = 0; l < L; ++l) {
    c.kv_source[l] = l;
    if (l < c.first_kv_shared_layer || c.first_kv_shared_layer <= 0) continue;
    int64_t producer = -1;
    for (int64_t j = c.first_kv_shared_layer - 1; j >= 0; --j) {
      if (c.sliding[j] == c.sliding[l]) {
        producer = j;
        break;
      }
    }
    if (producer < 0) {
      return r.Error(absl::StrCat("KV-shared layer ", l, " (", c.sliding[l] ? "sliding" : "full",
                                  "_attention) has no earlier layer of its type to read K/V from"));
    }
    c.kv_source[l] = producer;
    producers.insert(producer);
  }
  c.producers.assign(producers.begin(), producers.end());
  return absl::OkStatus();
}

absl::StatusOr<Gemma3nConfig> ParseText(const Json& text, const Json& top, const std::string& source) {
  Reader r(text, source);
  Reader rtop(top, source);
  Gemma3nConfig c;
  ModelConfig& b = c.base;
  b.model_type = "gemma3n";
  ASSIGN_OR_RETURN(b.vocab_size, r.PositiveInt("vocab_size", 262400, kMaxConfigVocab));
  ASSIGN_OR_RETURN(c.vocab_size_per_layer_input, r.PositiveInt("vocab_size_per_layer_input", 262144, kMaxConfigVocab));
  ASSIGN_OR_RETURN(b.hidden_size, r.PositiveInt("hidden_size", 2048, kMaxConfigHiddenSize));
  ASSIGN_OR_RETURN(c.hidden_size_per_layer_input, r.PositiveInt("hidden_size_per_layer_input", 256, kMaxConfigHiddenSize));
  ASSIGN_OR_RETURN(b.num_layers, r.PositiveInt("num_hidden_layers", 35, kMaxConfigLayers));
  ASSIGN_OR_RETURN(b.num_heads, r.PositiveInt("num_attention_heads", 8, kMaxConfigHeads));
  ASSIGN_OR_RETURN(b.num_kv_heads, r.PositiveInt("num_key_value_heads", 2, kMaxConfigHeads));
  ASSIGN_OR_RETURN(b.head_dim, r.PositiveInt("head_dim", 256, kMaxConfigHeadDim));
  ASSIGN_OR_RETURN(b.rms_norm_eps, r.Number("rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(b.max_position_embeddings, r.PositiveInt("max_position_embeddings", 32768, kMaxConfigPositions));
  ASSIGN_OR_RETURN(b.hidden_act, r.String("hidden_activation", "gelu_pytorch_tanh"));
  if (b.hidden_act != "gelu_pytorch_tanh") {
    return r.Error(absl::StrCat("hidden_activation \"", b.hidden_act, "\" is not supported (only gelu_pytorch_tanh)"));
  }
  if (b.num_heads % b.num_kv_heads != 0) {
    return r.Error(absl::StrCat("num_attention_heads ", b.num_heads, " is not a multiple of num_key_value_heads ",
                                b.num_kv_heads));
  }
  if (b.head_dim % 2 != 0) return r.Error(absl::StrCat("head_dim ", b.head_dim, " must be even"));
  b.tie_word_embeddings = true;  // Gemma 3n always ties the head to embed_tokens
  ASSIGN_OR_RETURN(b.torch_dtype, r.String("torch_dtype", ""));
  if (b.torch_dtype.empty()) {
    ASSIGN_OR_RETURN(b.torch_dtype, r.String("dtype", ""));
    if (b.torch_dtype.empty()) {
      ASSIGN_OR_RETURN(b.torch_dtype, rtop.String("torch_dtype", ""));
    }
  }
  // Token ids: the text config's own, else the top level's.
  ASSIGN_OR_RETURN(b.eos_token_ids, r.IntOrList("eos_token_id"));
  if (b.eos_token_ids.empty()) {
    ASSIGN_OR_RETURN(b.eos_token_ids, rtop.IntOrList("eos_token_id"));
  }
  {
    const Reader& rb = r.Has("bos_token_id") ? r : rtop;
    ASSIGN_OR_RETURN(int64_t bos, rb.Int("bos_token_id", -1));
    b.bos_token_id = static_cast<int32_t>(bos);
  }
  const int64_t L = b.num_layers;

  // Per-layer FFN widths.
  if (!r.Has("intermediate_size")) {
    b.ffn_widths.assign(L, 16384);
  } else if (r.At("intermediate_size").is_number_integer()) {
    ASSIGN_OR_RETURN(int64_t w, r.PositiveInt("intermediate_size", std::nullopt, kMaxConfigFfnWidth));
    b.ffn_widths.assign(L, w);
  } else if (r.At("intermediate_size").is_array()) {
    if (r.At("intermediate_size").size() != static_cast<size_t>(L)) {
      return r.Error(absl::StrCat("intermediate_size has ", r.At("intermediate_size").size(),
                                  " entries; num_hidden_layers is ", L));
    }
    for (const Json& e : r.At("intermediate_size")) {
      if (!e.is_number_integer() || e.get<int64_t>() <= 0 || e.get<int64_t>() > kMaxConfigFfnWidth) {
        return r.Error(absl::StrCat("intermediate_size list must hold positive integers up to ", kMaxConfigFfnWidth,
                                    " (got ", JsonSnippet(e), ")"));
      }
      b.ffn_widths.push_back(e.get<int64_t>());
    }
    if (static_cast<int64_t>(b.ffn_widths.size()) != L) {
      return r.Error(absl::StrCat("intermediate_size has ", b.ffn_widths.size(), " entries; num_hidden_layers is ", L));
    }
  } else {
    return r.Error("intermediate_size must be an integer or a list of integers");
  }

  // Layer types.
  c.sliding.resize(L);
  if (r.Has("layer_types")) {
    const Json& lt = r.At("layer_types");
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != L) {
      return r.Error(absl::StrCat("layer_types must be a list of ", L, " strings"));
    }
    for (int64_t l = 0; l < L; ++l) {
      const Json& e = lt[l];
      const std::string s = e.is_string() ? e.get<std::string>() : "";
      if (s == "sliding_attention") {
        c.sliding[l] = true;
      } else if (s == "full_attention") {
        c.sliding[l] = false;
      } else {
        return r.Error(absl::StrCat("layer_types[", l, "] must be \"sliding_attention\" or \"full_attention\""));
      }
    }
  } else {
    for (int64_t l = 0; l < L; ++l) c.sliding[l] = (l + 1) % 5 != 0;
  }

  // RoPE: new `rope_parameters` by layer type, or old rope_theta + rope_local_base_freq.
  ASSIGN_OR_RETURN(c.rope_theta_full, r.Number("rope_theta", 1000000.0));
  ASSIGN_OR_RETURN(c.rope_theta_sliding, r.Number("rope_local_base_freq", 10000.0));
  if (r.Has("rope_parameters")) {
    const Json& rp = r.At("rope_parameters");
    if (!rp.is_object()) return r.Error("rope_parameters must be an object");
    ASSIGN_OR_RETURN(c.rope_theta_full, RopeThetaOf(r, rp, "full_attention", c.rope_theta_full));
    ASSIGN_OR_RETURN(c.rope_theta_sliding, RopeThetaOf(r, rp, "sliding_attention", c.rope_theta_sliding));
  }
  if (r.Has("rope_scaling") && !r.At("rope_scaling").is_null()) {
    return r.Error("rope_scaling is not supported for gemma3n");
  }
  if (c.rope_theta_full <= 0 || c.rope_theta_sliding <= 0) return r.Error("rope theta must be positive");
  b.rope_theta = c.rope_theta_full;

  ASSIGN_OR_RETURN(c.sliding_window, r.PositiveInt("sliding_window", 512, kMaxConfigPositions));
  ASSIGN_OR_RETURN(c.final_logit_softcapping, r.Number("final_logit_softcapping", 30.0));
  ASSIGN_OR_RETURN(c.altup_num_inputs, r.PositiveInt("altup_num_inputs", 4, kMaxConfigSmall));
  ASSIGN_OR_RETURN(c.altup_active_idx, r.Int("altup_active_idx", 0));
  if (c.altup_active_idx < 0 || c.altup_active_idx >= c.altup_num_inputs) {
    return r.Error(absl::StrCat("altup_active_idx ", c.altup_active_idx, " is outside [0, ", c.altup_num_inputs, ")"));
  }
  ASSIGN_OR_RETURN(c.altup_coef_clip, r.Number("altup_coef_clip", 120.0));
  ASSIGN_OR_RETURN(c.altup_correct_scale, r.Bool("altup_correct_scale", true));
  ASSIGN_OR_RETURN(c.laurel_rank, r.PositiveInt("laurel_rank", 64, kMaxConfigHiddenSize));
  ASSIGN_OR_RETURN(c.num_kv_shared_layers, r.Int("num_kv_shared_layers", 15));

  // Activation sparsity.
  if (r.Has("activation_sparsity_pattern")) {
    const Json& sp = r.At("activation_sparsity_pattern");
    if (!sp.is_array() || static_cast<int64_t>(sp.size()) != L) {
      return r.Error(absl::StrCat("activation_sparsity_pattern must be a list of ", L, " numbers"));
    }
    for (const Json& e : sp) {
      if (!e.is_number() || e.get<double>() < 0.0 || e.get<double>() >= 1.0) {
        return r.Error("activation_sparsity_pattern entries must be numbers in [0, 1)");
      }
      c.activation_sparsity.push_back(e.get<double>());
    }
  } else {
    c.activation_sparsity.assign(L, 0.0);
    if (L > 10) std::fill_n(c.activation_sparsity.begin(), 10, 0.95);
  }
  RETURN_IF_ERROR(FillKvSharing(r, c));
  return c;
}

}  // namespace

bool IsGemma3nConfigJson(std::string_view json_text) {
  absl::StatusOr<Json> parsed = ParseJsonDocument(json_text, "config.json");
  if (!parsed.ok()) return false;  // the llama parser then reports the error
  const Json& j = *parsed;
  if (j.is_discarded() || !j.is_object() || !j.contains("model_type") || !j.at("model_type").is_string()) {
    return false;
  }
  const std::string t = j.at("model_type").get<std::string>();
  return t == "gemma3n" || t == "gemma3n_text";
}

absl::StatusOr<Gemma3nConfig> ParseGemma3nConfig(std::string_view json_text, std::string_view source) {
  const std::string src(source);
  ASSIGN_OR_RETURN(Json j, ParseJsonDocument(json_text, source));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(src, ": config must be a JSON object"));
  try {
    Reader top(j, src);
    ASSIGN_OR_RETURN(std::string type, top.String("model_type", ""));
    if (type == "gemma3n") {
      if (!top.Has("text_config") || !top.At("text_config").is_object()) {
        return top.Error("model_type \"gemma3n\" needs a \"text_config\" object");
      }
      const Json& text = top.At("text_config");
      if (text.contains("model_type") && text.at("model_type").is_string() &&
          text.at("model_type").get<std::string>() != "gemma3n_text") {
        return top.Error(absl::StrCat("text_config.model_type \"", text.at("model_type").get<std::string>(),
                                      "\" is not \"gemma3n_text\""));
      }
      return ParseText(text, j, src);
    }
    if (type == "gemma3n_text") return ParseText(j, j, src);
    return top.Error(absl::StrCat("model_type \"", type, "\" is not a Gemma 3n text model (\"gemma3n\" or \"gemma3n_text\")"));
  } catch (const std::bad_alloc&) {  // sizes are capped (config_limits.h); defensive
    return absl::ResourceExhaustedError(absl::StrCat(src, ": out of memory building the configuration"));
  } catch (const std::exception& e) {  // nlohmann conversions that slipped the type checks
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", std::string(e.what())));
  }
}

absl::StatusOr<Gemma3nConfig> LoadGemma3nConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(path, kMaxConfigFileBytes, "config"));
  return ParseGemma3nConfig(text, path);
}

int64_t Gemma3nEffectiveParameters(const Gemma3nConfig& c, const SliceView& slice) {
  const ModelConfig& b = c.base;
  const int64_t D = b.hidden_size, P = c.hidden_size_per_layer_input, N = c.altup_num_inputs;
  const int64_t qdim = b.num_heads * b.head_dim, kvdim = b.num_kv_heads * b.head_dim;
  int64_t n = P + 2 * (N - 1) * D * D + D;  // per_layer_projection_norm, altup (un)embed, final norm
  for (int64_t l : slice.layers) {
    n += P * D;                                            // this layer's per_layer_model_projection slot
    n += 2 * D * qdim + 2 * D * kvdim + 2 * b.head_dim;    // q, o, k, v, q/k norms
    n += 3 * D * slice.ffn_widths[l] + 4 * D;              // MLP, four norms
    n += D + N * N + N * N * N + N * D + D;                // AltUp
    n += 2 * D * c.laurel_rank + D;                        // LAuReL
    n += 2 * D * P + D;                                    // per-layer gate, projection, norm
  }
  return n;
}

int64_t Gemma3nEmbeddingParameters(const Gemma3nConfig& c, const SliceView& slice) {
  return c.base.vocab_size * c.base.hidden_size +
         c.vocab_size_per_layer_input * static_cast<int64_t>(slice.layers.size()) * c.hidden_size_per_layer_input;
}

}  // namespace matspec
