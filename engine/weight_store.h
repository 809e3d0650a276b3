// WeightStore: the one copy of a checkpoint's weights. Opens a Hugging Face
// model directory holding either `model.safetensors` or a sharded
// `model.safetensors.index.json` (+ the shards it names), maps every file,
// and hands out non-owning views by tensor name. Draft and verifier both read
// from this store; nothing else owns weight memory.
#ifndef MATSPEC_ENGINE_WEIGHT_STORE_H_
#define MATSPEC_ENGINE_WEIGHT_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/safetensors.h"
#include "kernels/tensor_view.h"

namespace matspec {

class WeightStore {
 public:
  // Errors: NotFound when the directory has neither model.safetensors nor
  // model.safetensors.index.json; InvalidArgument for a malformed index (bad
  // JSON, no "weight_map", a shard outside the directory) or a shard that fails
  // validation; a tensor name that appears in two shards.
  static absl::StatusOr<std::unique_ptr<WeightStore>> Open(const std::string& model_dir);

  bool Has(const std::string& name) const;
  // NotFound naming the tensor and the directory when missing.
  absl::StatusOr<const TensorRecord*> Find(const std::string& name) const;
  // View of a 2-D tensor; InvalidArgument if it is not [rows, cols] as expected
  // (pass -1 to accept any size in that dimension).
  absl::StatusOr<MatrixView> Matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // View of a 1-D tensor of `size` elements (-1: any size).
  absl::StatusOr<VectorView> Vector(const std::string& name, int64_t size) const;

  const std::string& dir() const { return dir_; }
  // Sum of all tensor bytes in the store (what the weights occupy once resident).
  int64_t total_bytes() const;
  int64_t num_tensors() const;
  const std::map<std::string, const TensorRecord*>& index() const { return index_; }

 private:
  WeightStore() = default;
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorRecord*> index_;
};

}  // namespace matspec

#endif  // MATSPEC_ENGINE_WEIGHT_STORE_H_
