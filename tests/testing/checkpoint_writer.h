// Test helpers that put real checkpoints on disk: a safetensors writer (with a
// raw mode for malformed files), a seeded tiny llama checkpoint in the Hugging
// Face layout, a physically cut copy of a checkpoint (the oracle for "a slice
// equals the cut model"), and temporary directories.
#ifndef MATSPEC_TESTS_TESTING_CHECKPOINT_WRITER_H_
#define MATSPEC_TESTS_TESTING_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/dtype.h"

namespace matspec::testing {

// Builds a safetensors file in memory. Tensors are laid out in the order they
// were added; the header is padded with spaces to a multiple of 8 bytes, as
// the reference writer does, so every tensor is aligned.
class SafetensorsWriter {
 public:
  // Converts `values` (row-major, product(shape) of them) to `dtype`.
  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape,
           const std::vector<float>& values);
  // Raw entry for bad-input tests: any dtype string, any shape, any bytes.
  void AddRaw(const std::string& name, std::string dtype_name, std::vector<int64_t> shape, std::string bytes);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // The header JSON (without padding) and the whole file.
  std::string HeaderJson() const;
  std::string Serialize() const;
  absl::Status Write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
  std::string error_;  // first misuse of Add(), reported by Write()
};

// Writes `header_json` framed as a safetensors file: the 8-byte length
// (`header_len` when >= 0, else the true length), the header, then `data`.
absl::Status WriteRawSafetensors(const std::string& path, std::string_view header_json, std::string_view data,
                                 int64_t header_len = -1);

absl::Status WriteFileBytes(const std::string& path, std::string_view bytes);
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// Tensor names of the Hugging Face llama layout.
std::string LayerTensor(int64_t layer, std::string_view suffix);  // "model.layers.<i>.<suffix>"

struct TinyLlamaOptions {
  int64_t vocab = 64;
  int64_t hidden = 48;
  int64_t layers = 3;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 0;             // 0: hidden / heads (head_dim is then left out of config.json)
  std::vector<int64_t> ffn_widths;  // one per layer; empty: 96 for every layer
  bool tie_embeddings = false;
  DType dtype = DType::kF32;
  double rope_theta = 10000.0;
  double rms_eps = 1e-5;
  int64_t max_pos = 512;
  uint64_t seed = 1;
  float scale = 0.5f;        // projections ~ N(0, scale^2 / fan_in)
  float logit_scale = 3.0f;  // embeddings / lm_head ~ N(0, logit_scale^2 / hidden): logits std ~ this
  bool sharded = false;      // two shards + model.safetensors.index.json
};

// Writes config.json and model.safetensors (or the sharded form) into `dir`
// (created if missing). Norm weights are 1 + N(0, 0.1^2). Same options, same bytes.
absl::Status WriteTinyLlama(const std::string& dir, const TinyLlamaOptions& options);

// Reads the llama checkpoint in `src_dir` through WeightStore and writes to
// `dst_dir` a checkpoint with only `keep_layers` (renumbered 0..), layer j cut
// to FFN width `widths_per_kept_layer[j]` (gate/up: first w rows; down: first
// w columns), in the source dtype. config.json is the source's with
// num_hidden_layers and a per-layer intermediate_size list replaced.
absl::Status WriteCutLlama(const std::string& src_dir, const std::string& dst_dir,
                           const std::vector<int64_t>& keep_layers,
                           const std::vector<int64_t>& widths_per_kept_layer);

// A fresh directory "<$TMPDIR or /tmp>/<prefix>XXXXXX"; the caller removes it.
// Returns "" if it cannot be created.
std::string MakeTempDir(std::string_view prefix);

// A MakeTempDir() that removes itself (recursively) when destroyed.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(std::string_view prefix = "matspec_test_") : path_(MakeTempDir(prefix)) {}
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_CHECKPOINT_WRITER_H_
