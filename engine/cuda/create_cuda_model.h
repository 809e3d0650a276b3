// One entry point for loading any supported architecture onto the GPU: reads
// `model_dir`/config.json, picks the model by model_type (gemma3n ->
// CudaGemma3nModel, the llama family -> CudaLlamaModel) and binds it to
// `store`. Errors as the models' Create.
#ifndef MATSPEC_ENGINE_CUDA_CREATE_CUDA_MODEL_H_
#define MATSPEC_ENGINE_CUDA_CREATE_CUDA_MODEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_model.h"
#include "engine/weight_store.h"

namespace matspec {

absl::StatusOr<std::unique_ptr<CudaModel>> CreateCudaModel(const std::string& model_dir, const WeightStore& store,
                                                           int device = 0);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_CUDA_CREATE_CUDA_MODEL_H_
