// Checkpoint writers for tests: see checkpoint_writer.h.
#include "tests/testing/checkpoint_writer.h"

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/model_config.h"
#include "engine/status_macros.h"
#include "engine/weight_store.h"
#include "nlohmann/json.hpp"

namespace matspec::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Encode(DType dtype, const std::vector<float>& values) {
  std::string bytes(values.size() * DTypeSize(dtype), '\0');
  char* out = bytes.data();
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::kF32:
        std::memcpy(out + 4 * i, &values[i], 4);
        break;
      case DType::kF16: {
        const uint16_t h = F32ToF16(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
        break;
      }
      case DType::kBF16: {
        const uint16_t b = F32ToBf16(values[i]);
        std::memcpy(out + 2 * i, &b, 2);
        break;
      }
      case DType::kQ8:
      case DType::kQ4:
        break;  // checkpoints hold dense dtypes only
    }
  }
  return bytes;
}

std::string LittleEndian64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::string TorchDtype(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kQ8:
    case DType::kQ4:
      break;
  }
  return "float32";
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

// Seeded N(0, 1) draws, identical on every platform (std::normal_distribution
// is implementation-defined, so Box-Muller over the fixed mt19937_64 stream).
class Normal {
 public:
  explicit Normal(uint64_t seed) : gen_(seed) {}
  float Next() {
    const double u1 = (static_cast<double>(gen_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(gen_() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
  std::vector<float> Draw(int64_t n, float mean, float stddev) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = mean + stddev * Next();
    return v;
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace

void SafetensorsWriter::Add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            const std::vector<float>& values) {
  if (Product(shape) != static_cast<int64_t>(values.size()) && error_.empty()) {
    error_ = absl::StrCat("tensor '", name, "': ", values.size(), " values for a shape of ", Product(shape),
                          " elements");
  }
  AddRaw(name, std::string(DTypeName(dtype)), std::move(shape), Encode(dtype, values));
}

void SafetensorsWriter::AddRaw(const std::string& name, std::string dtype_name, std::vector<int64_t> shape,
                               std::string bytes) {
  entries_.push_back(Entry{name, std::move(dtype_name), std::move(shape), std::move(bytes)});
}

std::string SafetensorsWriter::HeaderJson() const {
  Json header = Json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  int64_t offset = 0;
  for (const Entry& e : entries_) {
    const int64_t end = offset + static_cast<int64_t>(e.bytes.size());
    header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  return header.dump();
}

std::string SafetensorsWriter::Serialize() const {
  std::string header = HeaderJson();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out = LittleEndian64(header.size()) + header;
  for (const Entry& e : entries_) out += e.bytes;
  return out;
}

absl::Status SafetensorsWriter::Write(const std::string& path) const {
  if (!error_.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", error_));
  return WriteFileBytes(path, Serialize());
}

absl::Status WriteRawSafetensors(const std::string& path, std::string_view header_json, std::string_view data,
                                 int64_t header_len) {
  const uint64_t len = header_len >= 0 ? static_cast<uint64_t>(header_len) : header_json.size();
  std::string out = LittleEndian64(len);
  out.append(header_json);
  out.append(data);
  return WriteFileBytes(path, out);
}

absl::Status WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string LayerTensor(int64_t layer, std::string_view suffix) {
  return absl::StrCat("model.layers.", layer, ".", absl::string_view(suffix.data(), suffix.size()));
}

absl::Status WriteTinyLlama(const std::string& dir, const TinyLlamaOptions& o) {
  const int64_t head_dim = o.head_dim > 0 ? o.head_dim : (o.heads > 0 ? o.hidden / o.heads : 0);
  std::vector<int64_t> widths = o.ffn_widths;
  if (widths.empty()) widths.assign(static_cast<size_t>(o.layers), 96);
  if (static_cast<int64_t>(widths.size()) != o.layers || o.heads <= 0 || o.kv_heads <= 0 ||
      o.heads % o.kv_heads != 0 || head_dim <= 0 || (o.head_dim <= 0 && o.hidden % o.heads != 0)) {
    return absl::InvalidArgumentError("WriteTinyLlama: inconsistent TinyLlamaOptions");
  }
  RETURN_IF_ERROR(MakeDirs(dir));

  Normal rng(o.seed);
  const int64_t h = o.hidden;
  const float logit_std = o.logit_scale / std::sqrt(static_cast<float>(h));
  auto proj = [&](int64_t rows, int64_t fan_in) {
    return rng.Draw(rows * fan_in, 0.f, o.scale / std::sqrt(static_cast<float>(fan_in)));
  };

  // Two writers when sharded: embeddings and the first half of the layers in
  // the first shard, the rest (with the final norm and head) in the second.
  SafetensorsWriter shard[2];
  const int64_t split = o.sharded ? (o.layers + 1) / 2 : o.layers;
  auto writer_for_layer = [&](int64_t layer) -> SafetensorsWriter& { return shard[layer < split ? 0 : 1]; };
  SafetensorsWriter& last = shard[o.sharded ? 1 : 0];

  shard[0].Add("model.embed_tokens.weight", o.dtype, {o.vocab, h}, rng.Draw(o.vocab * h, 0.f, logit_std));
  for (int64_t l = 0; l < o.layers; ++l) {
    SafetensorsWriter& w = writer_for_layer(l);
    const int64_t f = widths[static_cast<size_t>(l)];
    w.Add(LayerTensor(l, "input_layernorm.weight"), o.dtype, {h}, rng.Draw(h, 1.f, 0.1f));
    w.Add(LayerTensor(l, "self_attn.q_proj.weight"), o.dtype, {o.heads * head_dim, h},
          proj(o.heads * head_dim, h));
    w.Add(LayerTensor(l, "self_attn.k_proj.weight"), o.dtype, {o.kv_heads * head_dim, h},
          proj(o.kv_heads * head_dim, h));
    w.Add(LayerTensor(l, "self_attn.v_proj.weight"), o.dtype, {o.kv_heads * head_dim, h},
          proj(o.kv_heads * head_dim, h));
    w.Add(LayerTensor(l, "self_attn.o_proj.weight"), o.dtype, {h, o.heads * head_dim},
          proj(h, o.heads * head_dim));
    w.Add(LayerTensor(l, "post_attention_layernorm.weight"), o.dtype, {h}, rng.Draw(h, 1.f, 0.1f));
    w.Add(LayerTensor(l, "mlp.gate_proj.weight"), o.dtype, {f, h}, proj(f, h));
    w.Add(LayerTensor(l, "mlp.up_proj.weight"), o.dtype, {f, h}, proj(f, h));
    w.Add(LayerTensor(l, "mlp.down_proj.weight"), o.dtype, {h, f}, proj(h, f));
  }
  last.Add("model.norm.weight", o.dtype, {h}, rng.Draw(h, 1.f, 0.1f));
  if (!o.tie_embeddings)
    last.Add("lm_head.weight", o.dtype, {o.vocab, h}, rng.Draw(o.vocab * h, 0.f, logit_std));

  Json config = {{"architectures", {"LlamaForCausalLM"}},
                 {"model_type", "llama"},
                 {"vocab_size", o.vocab},
                 {"hidden_size", h},
                 {"num_hidden_layers", o.layers},
                 {"num_attention_heads", o.heads},
                 {"num_key_value_heads", o.kv_heads}};
  bool uniform = true;
  for (int64_t w : widths) uniform = uniform && w == widths[0];
  if (uniform && !widths.empty()) {
    config["intermediate_size"] = widths[0];
  } else {
    config["intermediate_size"] = widths;
  }
  if (o.head_dim > 0) config["head_dim"] = o.head_dim;
  config["hidden_act"] = "silu";
  config["rms_norm_eps"] = o.rms_eps;
  config["rope_theta"] = o.rope_theta;
  config["rope_scaling"] = nullptr;
  config["max_position_embeddings"] = o.max_pos;
  config["tie_word_embeddings"] = o.tie_embeddings;
  config["bos_token_id"] = 1;
  config["eos_token_id"] = 2;
  config["torch_dtype"] = TorchDtype(o.dtype);
  RETURN_IF_ERROR(WriteFileBytes(dir + "/config.json", config.dump(2) + "\n"));

  if (!o.sharded) return shard[0].Write(dir + "/model.safetensors");
  const std::string names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
  Json weight_map = Json::object();
  int64_t total = 0;
  for (int s = 0; s < 2; ++s) {
    RETURN_IF_ERROR(shard[s].Write(dir + "/" + names[s]));
    const Json header = Json::parse(shard[s].HeaderJson());
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      weight_map[it.key()] = names[s];
      total += (*it)["data_offsets"][1].get<int64_t>() - (*it)["data_offsets"][0].get<int64_t>();
    }
  }
  const Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return WriteFileBytes(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
}

absl::Status WriteCutLlama(const std::string& src_dir, const std::string& dst_dir,
                           const std::vector<int64_t>& keep_layers,
                           const std::vector<int64_t>& widths_per_kept_layer) {
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(src_dir + "/config.json"));
  ASSIGN_OR_RETURN(auto store, WeightStore::Open(src_dir));
  if (keep_layers.size() != widths_per_kept_layer.size() || keep_layers.empty()) {
    return absl::InvalidArgumentError("WriteCutLlama: need one width per kept layer, at least one layer");
  }
  for (size_t j = 0; j < keep_layers.size(); ++j) {
    const int64_t l = keep_layers[j];
    if (l < 0 || l >= config.num_layers || (j > 0 && l <= keep_layers[j - 1])) {
      return absl::InvalidArgumentError(absl::StrCat("WriteCutLlama: kept layers must ascend within [0, ",
                                                     config.num_layers, "), got ", l));
    }
    const int64_t w = widths_per_kept_layer[j];
    if (w <= 0 || w > config.ffn_widths[static_cast<size_t>(l)]) {
      return absl::InvalidArgumentError(absl::StrCat("WriteCutLlama: width ", w, " for layer ", l));
    }
  }

  // Every tensor is copied through f32 in its own dtype: the conversions are
  // exact for values that came from that dtype, so the cut bytes equal the source.
  SafetensorsWriter out;
  auto copy = [&](const std::string& src, const std::string& dst, int64_t rows,
                  int64_t cols) -> absl::Status {
    ASSIGN_OR_RETURN(const TensorRecord* rec, store->Find(src));
    const int64_t ld = rec->shape.size() == 2 ? rec->shape[1] : rec->shape[0];
    std::vector<float> values;
    values.reserve(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) values.push_back(LoadAsF32(rec->data, rec->dtype, r * ld + c));
    }
    std::vector<int64_t> shape = rec->shape.size() == 2 ? std::vector<int64_t>{rows, cols} : rec->shape;
    out.Add(dst, rec->dtype, shape, values);
    return absl::OkStatus();
  };
  auto copy_whole = [&](const std::string& src, const std::string& dst) -> absl::Status {
    ASSIGN_OR_RETURN(const TensorRecord* rec, store->Find(src));
    const int64_t rows = rec->shape.size() == 2 ? rec->shape[0] : 1;
    const int64_t cols = rec->shape.size() == 2 ? rec->shape[1] : rec->shape[0];
    return copy(src, dst, rows, cols);
  };

  RETURN_IF_ERROR(copy_whole("model.embed_tokens.weight", "model.embed_tokens.weight"));
  const int64_t h = config.hidden_size;
  for (size_t j = 0; j < keep_layers.size(); ++j) {
    const int64_t l = keep_layers[j];
    const int64_t w = widths_per_kept_layer[j];
    const int64_t jj = static_cast<int64_t>(j);
    for (const char* s :
         {"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
          "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight"}) {
      RETURN_IF_ERROR(copy_whole(LayerTensor(l, s), LayerTensor(jj, s)));
    }
    RETURN_IF_ERROR(
        copy(LayerTensor(l, "mlp.gate_proj.weight"), LayerTensor(jj, "mlp.gate_proj.weight"), w, h));
    RETURN_IF_ERROR(copy(LayerTensor(l, "mlp.up_proj.weight"), LayerTensor(jj, "mlp.up_proj.weight"), w, h));
    RETURN_IF_ERROR(
        copy(LayerTensor(l, "mlp.down_proj.weight"), LayerTensor(jj, "mlp.down_proj.weight"), h, w));
  }
  RETURN_IF_ERROR(copy_whole("model.norm.weight", "model.norm.weight"));
  if (store->Has("lm_head.weight")) RETURN_IF_ERROR(copy_whole("lm_head.weight", "lm_head.weight"));

  ASSIGN_OR_RETURN(std::string config_text, ReadFileBytes(src_dir + "/config.json"));
  Json cut_config;
  try {
    cut_config = Json::parse(config_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(src_dir, "/config.json: ", e.what()));
  }
  cut_config["num_hidden_layers"] = static_cast<int64_t>(keep_layers.size());
  cut_config["intermediate_size"] = widths_per_kept_layer;

  RETURN_IF_ERROR(MakeDirs(dst_dir));
  RETURN_IF_ERROR(WriteFileBytes(dst_dir + "/config.json", cut_config.dump(2) + "\n"));
  std::error_code ec;
  if (fs::exists(src_dir + "/tokenizer.model", ec)) {
    fs::copy_file(src_dir + "/tokenizer.model", dst_dir + "/tokenizer.model",
                  fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy tokenizer.model: ", ec.message()));
  }
  return out.Write(dst_dir + "/model.safetensors");
}

std::string MakeTempDir(std::string_view prefix) {
  const char* tmp = getenv("TMPDIR");
  std::string tmpl = absl::StrCat((tmp != nullptr && *tmp != '\0') ? tmp : "/tmp", "/",
                                  absl::string_view(prefix.data(), prefix.size()), "XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

ScopedTempDir::~ScopedTempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort; never throws
}

}  // namespace matspec::testing
