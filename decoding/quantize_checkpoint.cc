#include "matspec/quantize_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/safetensors_writer.h"
#include "engine/status_macros.h"
#include "engine/weight_store.h"

namespace matspec {
namespace {

namespace fs = std::filesystem;

bool IsWeightFile(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.size() >= 12 && (name.ends_with(".safetensors") || name == "model.safetensors.index.json");
}

}  // namespace

absl::Status QuantizeCheckpoint(const QuantizeCheckpointOptions& options,
                                const std::function<void(const std::string&)>& progress) {
  ASSIGN_OR_RETURN(const DType to, ParseQuantType(options.type, "--type"));
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out: no output directory given");
  std::error_code ec;
  if (fs::exists(options.out_dir, ec) && fs::equivalent(options.out_dir, options.model_dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out ", options.out_dir, ": is the source directory; choose another"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<WeightStore> store, WeightStore::Open(options.model_dir));
  const int threads =
      options.num_threads > 0 ? options.num_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  RETURN_IF_ERROR(store->Quantize(to, threads, progress));

  fs::create_directories(options.out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("--out ", options.out_dir, ": cannot create: ", ec.message()));
  for (const fs::directory_entry& e : fs::directory_iterator(options.model_dir, ec)) {
    if (!e.is_regular_file() || IsWeightFile(e.path())) continue;
    fs::copy_file(e.path(), fs::path(options.out_dir) / e.path().filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat(e.path().string(), ": cannot copy to ", options.out_dir, ": ", ec.message()));
  }
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, rec] : store->index()) {
    if (!IsQuantized(rec->dtype)) {
      tensors.push_back({name, std::string(DTypeName(rec->dtype)), rec->shape, rec->data, rec->nbytes});
      continue;
    }
    const int64_t rows = rec->shape[0], cols = rec->shape[1];
    const bool q8 = rec->dtype == DType::kQ8;
    tensors.push_back({name, q8 ? "I8" : "U8", {rows, q8 ? cols : cols / 2}, rec->data,
                       rows * DTypeRowBytes(rec->dtype, cols)});
    tensors.push_back({name + ".scales", "F16", {rows, cols / kQuantBlock}, rec->scales,
                       rows * QuantScaleBytes(rec->dtype, cols)});
  }
  return WriteSafetensors((fs::path(options.out_dir) / "model.safetensors").string(), tensors,
                          {{"format", "pt"}, {"matspec.quantization", options.type}, {"matspec.block", "32"}});
}

}  // namespace matspec
