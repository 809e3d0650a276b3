#include "engine/cuda/create_cuda_model.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_gemma3n_model.h"
#include "engine/cuda/cuda_llama_model.h"
#include "engine/bounded_file.h"
#include "engine/gemma3n_config.h"
#include "engine/model_config.h"
#include "engine/status_macros.h"

namespace matspec {

absl::StatusOr<std::unique_ptr<CudaModel>> CreateCudaModel(const std::string& model_dir, const WeightStore& store,
                                                           int device) {
  const std::string path = model_dir + "/config.json";
  ASSIGN_OR_RETURN(const std::string text, ReadBoundedFile(path, kMaxConfigFileBytes, "the model's"));
  if (IsGemma3nConfigJson(text)) {
    ASSIGN_OR_RETURN(std::unique_ptr<CudaGemma3nModel> m, CudaGemma3nModel::Create(path, store, device));
    return std::unique_ptr<CudaModel>(std::move(m));
  }
  ASSIGN_OR_RETURN(ModelConfig config, ParseModelConfig(text, path));
  ASSIGN_OR_RETURN(std::unique_ptr<CudaLlamaModel> m, CudaLlamaModel::Create(config, store, device));
  return std::unique_ptr<CudaModel>(std::move(m));
}

}  // namespace matspec
