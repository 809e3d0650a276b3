// WeightStore: the one copy of a checkpoint's weights. Opens a Hugging Face
// model directory holding either `model.safetensors` or a sharded
// `model.safetensors.index.json` (+ the shards it names), maps every file,
// and hands out non-owning views by tensor name. Draft and verifier both read
// from this store; nothing else owns weight memory.
#ifndef MATSPEC_ENGINE_WEIGHT_STORE_H_
#define MATSPEC_ENGINE_WEIGHT_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
  // validation; a tensor name that appears in two shards; a quantized tensor
  // (I8 values: q8, U8 values: q4, as `matspec quantize` writes them) that is
  // not 2-D, whose columns are not whole blocks of 32, or whose
  // "<name>.scales" is missing or not F16 [rows, cols / 32].
  static absl::StatusOr<std::unique_ptr<WeightStore>> Open(const std::string& model_dir);

  bool Has(const std::string& name) const;
  // NotFound naming the tensor and the directory when missing.
  absl::StatusOr<const TensorRecord*> Find(const std::string& name) const;
  // Quantizes the store in place to `to` (kQ8 or kQ4), one tensor at a time:
  // each quantized tensor gets a buffer of its own and the mapped pages of its
  // 16/32-bit original are handed back, so the store holds one copy of every
  // weight (no bf16 copy is kept). Quantized (QuantizedDTypeOf): the matrices
  // of the transformer layers (model.layers.N.{self_attn,mlp}.*_proj.weight)
  // to `to`, and the LM head (lm_head.weight, or a tied embedding table) to
  // q8 whatever `to` is; the norms and other small tensors stay as they are
  // (bench/RESULTS.md §11 has the measurements behind it). Rows run
  // on num_threads threads; `progress` (may be empty) gets a line per 10 % of
  // the bytes. Errors: InvalidArgument naming the tensor for a tensor already
  // quantized, one whose columns are not a multiple of 32, or one holding a
  // NaN or an infinity; FailedPrecondition when no tensor has the llama layer
  // names (e.g. Gemma 3n checkpoints, not supported yet). On error the store
  // may be partly quantized; discard it.
  absl::Status Quantize(DType to, int num_threads,
                        const std::function<void(const std::string&)>& progress = {});

  // The tensors read every decode step (ReadEveryDecodeStep) through 2 MiB
  // pages where the kernel and file system can (engine/huge_pages.h): they
  // are faulted in now. Call it on a store that is not quantized at load
  // (Quantize hands the pages of the originals back; faulting them in again
  // would undo that).
  HugePageReport PreferHugePages() const;

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
  // Open(): gives every I8 / U8 tensor its logical shape and its scales.
  absl::Status BindQuantizedTensors();
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorRecord*> index_;
  std::map<std::string, const SafetensorsFile*> file_of_;  // for ReleasePages
  // Quantize(): the records and buffers of the quantized tensors (from 2 MiB
  // up, 2 MiB-aligned with MADV_HUGEPAGE: they stream from DRAM every step).
  std::vector<std::unique_ptr<TensorRecord>> quantized_records_;
  std::vector<std::unique_ptr<char, void (*)(void*)>> quantized_buffers_;
};

// "q8" -> kQ8, "q4" -> kQ4; InvalidArgument naming `what` (e.g. "--quantize")
// otherwise.
absl::StatusOr<DType> ParseQuantType(const std::string& name, const std::string& what);

// The dtype WeightStore::Quantize(to) gives the 2-D tensor `name`: `to` for
// the layer matrices, kQ8 for the LM head (lm_head.weight, or the embedding
// when the checkpoint has no lm_head: the tied table then serves both), none
// for everything else.
std::optional<DType> QuantizedDTypeOf(const std::string& name, DType to, bool has_lm_head);

// Whether a decode step reads all of tensor `name` (as opposed to a few rows
// of an embedding table, or nothing of a vision or audio tower): everything
// but the "vision" / "audio" tensors, Gemma 3n's embed_tokens_per_layer, and
// embed_tokens when the checkpoint has an lm_head (a tied table is the head).
bool ReadEveryDecodeStep(const std::string& name, bool has_lm_head);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_WEIGHT_STORE_H_
