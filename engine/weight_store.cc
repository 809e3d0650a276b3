// WeightStore: opens a Hugging Face model directory (single file or sharded
// index), maps each shard once and indexes every tensor by name.
#include "engine/weight_store.h"

#include <sys/mman.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/bounded_file.h"
#include "engine/json_input.h"
#include "engine/status_macros.h"
#include "kernels/quantize.h"
#include "nlohmann/json.hpp"

namespace matspec {
namespace {

// A quantized tensor's buffer (values, then scales), freed with std::free. From
// 2 MiB up it is 2 MiB-aligned and asks for transparent huge pages: a decode
// step streams it from DRAM, and the hardware prefetchers stop at 4 KiB page
// boundaries (a plain sum over 512 MiB reads ~21-22 GB/s through huge pages
// against 15-19 GB/s through 4 KiB pages on the development machine).
char* AllocateQuantizedTensor(int64_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t n = static_cast<size_t>(bytes + 4095) / 4096 * 4096;
  if (n < kHuge) return static_cast<char*>(std::aligned_alloc(64, n));
  void* p = nullptr;
  if (::posix_memalign(&p, kHuge, n) != 0) return nullptr;
  ::madvise(p, n, MADV_HUGEPAGE);  // a hint; refused or ignored elsewhere
  return static_cast<char*>(p);
}

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

bool IsRegularFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string DimString(int64_t d) { return d < 0 ? "?" : absl::StrCat(d); }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A shard name from the index must be a plain relative path that stays inside
// the model directory. The check is lexical on purpose: the Hugging Face hub
// cache links snapshot files to blobs outside the directory, and that is fine.
absl::Status CheckShardName(const std::string& index_path, const std::string& shard) {
  const fs::path p(shard);
  const fs::path norm = p.lexically_normal();
  const bool escapes = !norm.empty() && (*norm.begin() == "..");
  if (shard.empty() || p.is_absolute() || p.has_root_name() || escapes || norm == ".") {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": shard \"", shard, "\" is not a file inside the model directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ReadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(path, kMaxConfigFileBytes, ""));
  return ParseJsonDocument(text, path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WeightStore>> WeightStore::Open(const std::string& model_dir) {
  std::unique_ptr<WeightStore> store(new WeightStore());
  store->dir_ = model_dir;
  const fs::path dir(model_dir);
  {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat(model_dir, ": model directory does not exist"));
    }
  }
  const fs::path single = dir / kSingleFile;
  const fs::path index_path = dir / kIndexFile;

  if (IsRegularFile(single)) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single.string()));
    for (const auto& [name, rec] : file->tensors()) {
      store->index_.emplace(name, &rec);
      store->file_of_.emplace(name, file.get());
    }
    store->files_.push_back(std::move(file));
    RETURN_IF_ERROR(store->BindQuantizedTensors());
    return store;
  }
  if (!IsRegularFile(index_path)) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": neither ", kSingleFile, " nor ", kIndexFile,
                                            " found in the model directory"));
  }

  const std::string index_name = index_path.string();
  ASSIGN_OR_RETURN(Json index, ReadJsonFile(index_name));
  if (!index.is_object()) return absl::InvalidArgumentError(absl::StrCat(index_name, ": not a JSON object"));
  auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index_name, ": no \"weight_map\" object"));
  }

  // Open each distinct shard once, in name order.
  std::map<std::string, const SafetensorsFile*> shards;
  for (auto it = map_it->begin(); it != map_it->end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_name, ": weight_map entry for tensor '", it.key(), "' is not a file name"));
    }
    const std::string shard = it->get<std::string>();
    RETURN_IF_ERROR(CheckShardName(index_name, shard));
    shards.emplace(shard, nullptr);
  }
  for (auto& [shard, file_ptr] : shards) {
    const fs::path shard_path = dir / shard;
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(shard_path.string());
    if (!file.ok()) {
      if (absl::IsNotFound(file.status())) {
        return absl::NotFoundError(
            absl::StrCat(index_name, ": shard \"", shard, "\" does not exist (", shard_path.string(), ")"));
      }
      return file.status();
    }
    for (const auto& [name, rec] : (*file)->tensors()) {
      store->file_of_.emplace(name, file->get());
      auto [it, inserted] = store->index_.emplace(name, &rec);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", name, "' appears in two shards: ", it->second->file, " and ", rec.file));
      }
    }
    file_ptr = file->get();
    store->files_.push_back(*std::move(file));
  }
  // Every tensor the index names must be in the shard it names.
  for (auto it = map_it->begin(); it != map_it->end(); ++it) {
    const SafetensorsFile* shard = shards.at(it->get<std::string>());
    if (shard->tensors().count(it.key()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(index_name, ": tensor '", it.key(),
                                                     "' is listed in shard \"", it->get<std::string>(),
                                                     "\" but that shard does not hold it"));
    }
  }
  RETURN_IF_ERROR(store->BindQuantizedTensors());
  return store;
}

absl::Status WeightStore::BindQuantizedTensors() {
  for (auto& [name, rec] : index_) {
    if (!IsQuantized(rec->dtype)) continue;
    const std::string kind = rec->dtype == DType::kQ8 ? "I8 (q8 values)" : "U8 (q4 values, two per byte)";
    const std::string where = absl::StrCat("tensor '", name, "' in ", rec->file, ", ", kind, ", ");
    if (rec->shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(where, "must be 2-D, got shape ", ShapeString(rec->shape)));
    }
    const int64_t rows = rec->shape[0], cols = rec->dtype == DType::kQ8 ? rec->shape[1] : 2 * rec->shape[1];
    if (cols % kQuantBlock != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "has ", cols, " columns: not a whole number of blocks of ",
                                                     kQuantBlock));
    }
    const std::string scales_name = name + ".scales";
    auto it = index_.find(scales_name);
    if (it == index_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "has no scales tensor '", scales_name, "'"));
    }
    const TensorRecord& scales = *it->second;
    const std::vector<int64_t> want = {rows, cols / kQuantBlock};
    if (scales.dtype != DType::kF16 || scales.shape != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", scales_name, "' in ", scales.file, ": the scales of '", name, "' must be F16 ",
          ShapeString(want), " (one per block of ", kQuantBlock, " columns), got ",
          std::string(DTypeName(scales.dtype)), " ", ShapeString(scales.shape)));
    }
    auto q = std::make_unique<TensorRecord>(*rec);
    q->shape = {rows, cols};
    q->scales = static_cast<const uint16_t*>(scales.data);
    rec = q.get();
    quantized_records_.push_back(std::move(q));
  }
  return absl::OkStatus();
}

bool WeightStore::Has(const std::string& name) const { return index_.count(name) != 0; }

absl::StatusOr<const TensorRecord*> WeightStore::Find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor '", name, "' not found in checkpoint ", dir_));
  }
  return it->second;
}

absl::StatusOr<MatrixView> WeightStore::Matrix(const std::string& name, int64_t rows, int64_t cols) const {
  ASSIGN_OR_RETURN(const TensorRecord* rec, Find(name));
  const auto& s = rec->shape;
  if (s.size() != 2 || (rows >= 0 && s[0] != rows) || (cols >= 0 && s[1] != cols)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", rec->file, ": expected shape [",
                                                   DimString(rows), ", ", DimString(cols), "], got ",
                                                   ShapeString(s)));
  }
  MatrixView v;
  v.data = rec->data;
  v.dtype = rec->dtype;
  v.rows = s[0];
  v.cols = s[1];
  v.ld = s[1];
  v.device = Device::kCpu;
  v.scales = rec->scales;
  return v;
}

absl::StatusOr<VectorView> WeightStore::Vector(const std::string& name, int64_t size) const {
  ASSIGN_OR_RETURN(const TensorRecord* rec, Find(name));
  const auto& s = rec->shape;
  if (IsQuantized(rec->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", rec->file, " is quantized (",
                                                   std::string(DTypeName(rec->dtype)), "); a vector must be dense"));
  }
  if (s.size() != 1 || (size >= 0 && s[0] != size)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", rec->file, ": expected shape [",
                                                   DimString(size), "], got ", ShapeString(s)));
  }
  VectorView v;
  v.data = rec->data;
  v.dtype = rec->dtype;
  v.size = s[0];
  v.device = Device::kCpu;
  return v;
}

int64_t WeightStore::total_bytes() const {
  int64_t total = 0;
  for (const auto& [name, rec] : index_) total += rec->nbytes;
  return total;
}

std::optional<DType> QuantizedDTypeOf(const std::string& name, DType to, bool has_lm_head) {
  static const std::regex kLayerMatrix(R"(model\.layers\.[0-9]+\.(self_attn|mlp)\.[a-z]+_proj\.weight)");
  if (std::regex_match(name, kLayerMatrix)) return to;
  const bool head = has_lm_head ? name == "lm_head.weight" : name == "model.embed_tokens.weight";
  if (head) return DType::kQ8;
  return std::nullopt;
}

absl::StatusOr<DType> ParseQuantType(const std::string& name, const std::string& what) {
  if (name == "q8") return DType::kQ8;
  if (name == "q4") return DType::kQ4;
  return absl::InvalidArgumentError(absl::StrCat(what, ": unknown quantization \"", name, "\" (expected q8 or q4)"));
}

absl::Status WeightStore::Quantize(DType to, int num_threads,
                                   const std::function<void(const std::string&)>& progress) {
  for (const auto& [name, rec] : index_) {
    if (IsQuantized(rec->dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' in ", rec->file, " is already quantized (",
                                                     std::string(DTypeName(rec->dtype)),
                                                     "); --quantize applies to bf16, f16 or f32 checkpoints"));
    }
  }
  std::vector<std::pair<std::string, DType>> names;
  int64_t total = 0;
  bool has_layer_matrix = false;
  for (const auto& [name, rec] : index_) {
    const std::optional<DType> type = QuantizedDTypeOf(name, to, Has("lm_head.weight"));
    if (rec->shape.size() == 2 && type.has_value()) {
      names.emplace_back(name, *type);
      total += rec->nbytes;
      has_layer_matrix = has_layer_matrix || name.rfind("model.layers.", 0) == 0;
    }
  }
  if (!has_layer_matrix) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir_, ": no tensor named like a llama layer matrix (model.layers.N.*_proj.weight) to quantize; "
              "quantization supports llama-family checkpoints"));
  }
  const std::string type = to == DType::kQ8 ? "q8" : "q4";  // of the layer matrices
  int64_t done = 0, next_report = total / 10;
  for (const auto& [name, tensor_to] : names) {
    const TensorRecord& src = *index_.at(name);
    const int64_t rows = src.shape[0], cols = src.shape[1];
    MatrixView view{src.data, src.dtype, rows, cols, cols};
    const int64_t value_bytes = rows * DTypeRowBytes(tensor_to, cols);
    const int64_t scale_bytes = rows * QuantScaleBytes(tensor_to, cols);
    const int64_t padded = (value_bytes + 63) / 64 * 64;
    char* buffer = AllocateQuantizedTensor(padded + scale_bytes);
    if (buffer == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("tensor '", name, "': out of memory while quantizing"));
    }
    quantized_buffers_.emplace_back(buffer, &std::free);
    uint16_t* scales = reinterpret_cast<uint16_t*>(buffer + padded);
    RETURN_IF_ERROR(QuantizeMatrix(view, tensor_to, name, num_threads, buffer, scales));
    auto rec = std::make_unique<TensorRecord>(src);
    rec->dtype = tensor_to;
    rec->data = buffer;
    rec->scales = scales;
    rec->nbytes = value_bytes + scale_bytes;
    file_of_.at(name)->ReleasePages(src);
    index_[name] = rec.get();
    quantized_records_.push_back(std::move(rec));
    done += src.nbytes;
    if (progress && done >= next_report) {
      progress(absl::StrCat("quantizing ", dir_, " to ", type, ": ", done * 100 / total, " % of ", total >> 20,
                            " MiB"));
      next_report = done + total / 10;
    }
  }
  return absl::OkStatus();
}

bool ReadEveryDecodeStep(const std::string& name, bool has_lm_head) {
  if (name.find("vision") != std::string::npos || name.find("audio") != std::string::npos) return false;
  if (name.find("embed_tokens_per_layer") != std::string::npos) return false;
  const std::string_view table = "embed_tokens.weight";
  if (name.size() >= table.size() && name.compare(name.size() - table.size(), table.size(), table) == 0) {
    return !has_lm_head;
  }
  return true;
}

HugePageReport WeightStore::PreferHugePages() const {
  const bool has_lm_head = Has("lm_head.weight");
  HugePageReport total;
  for (const auto& file : files_) {
    total += file->PreferHugePages([&](const std::string& name) { return ReadEveryDecodeStep(name, has_lm_head); });
  }
  return total;
}

int64_t WeightStore::num_tensors() const { return static_cast<int64_t>(index_.size()); }

}  // namespace matspec
