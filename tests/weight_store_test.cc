// WeightStore over real checkpoints written by tests/testing/checkpoint_writer:
// single-file and sharded stores hold the same tensors and bytes, views have
// the right shapes, and every broken directory or index is refused with a
// message naming the file, shard or tensor. Also checks the test writers
// themselves (determinism, the physically cut checkpoint).
#include "engine/weight_store.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::matspec::testing::LayerTensor;
using ::matspec::testing::ScopedTempDir;
using ::matspec::testing::StatusIs;
using ::matspec::testing::TinyLlamaOptions;
using ::matspec::testing::WriteFileBytes;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kNotFound = absl::StatusCode::kNotFound;
constexpr char kShard1[] = "model-00001-of-00002.safetensors";
constexpr char kShard2[] = "model-00002-of-00002.safetensors";

// Elements in the default TinyLlamaOptions checkpoint (vocab 64, hidden 48,
// 3 layers, 4 heads of 12, 2 kv heads, FFN 96, untied).
constexpr int64_t kTinyElements = 64 * 48 * 2 + 48 + 3 * (48 * 2 + 48 * 48 * 2 + 24 * 48 * 2 + 96 * 48 * 3);

class WeightStoreTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, TinyLlamaOptions opt = {}) {
    const std::string dir = tmp_.Sub(name);
    EXPECT_OK(testing::WriteTinyLlama(dir, opt));
    return dir;
  }
  ScopedTempDir tmp_{"weight_store_test_"};
};

TEST_F(WeightStoreTest, OpensSingleFileCheckpoint) {
  const std::string dir = Write("single");
  ASSERT_OK_AND_ASSIGN(auto store, WeightStore::Open(dir));
  EXPECT_EQ(store->dir(), dir);
  EXPECT_EQ(store->num_tensors(), 2 + 9 * 3 + 1);
  EXPECT_EQ(store->total_bytes(), kTinyElements * 4);
  EXPECT_TRUE(store->Has("lm_head.weight"));
  EXPECT_TRUE(store->Has(LayerTensor(2, "mlp.down_proj.weight")));
  EXPECT_FALSE(store->Has(LayerTensor(3, "mlp.down_proj.weight")));
}

TEST_F(WeightStoreTest, TotalBytesFollowsDtypeAndTying) {
  TinyLlamaOptions opt;
  opt.dtype = DType::kBF16;
  opt.tie_embeddings = true;
  ASSERT_OK_AND_ASSIGN(auto store, WeightStore::Open(Write("bf16_tied", opt)));
  EXPECT_FALSE(store->Has("lm_head.weight"));
  EXPECT_EQ(store->total_bytes(), (kTinyElements - 64 * 48) * 2);
}

TEST_F(WeightStoreTest, MatrixAndVectorViews) {
  ASSERT_OK_AND_ASSIGN(auto store, WeightStore::Open(Write("views")));
  ASSERT_OK_AND_ASSIGN(MatrixView gate, store->Matrix(LayerTensor(1, "mlp.gate_proj.weight"), 96, 48));
  EXPECT_EQ(gate.rows, 96);
  EXPECT_EQ(gate.cols, 48);
  EXPECT_EQ(gate.ld, 48);
  EXPECT_EQ(gate.dtype, DType::kF32);
  EXPECT_EQ(gate.device, Device::kCpu);
  ASSERT_OK_AND_ASSIGN(const TensorRecord* rec, store->Find(LayerTensor(1, "mlp.gate_proj.weight")));
  EXPECT_EQ(gate.data, rec->data);
  EXPECT_EQ(gate.At(5, 7), LoadAsF32(rec->data, rec->dtype, 5 * 48 + 7));

  ASSERT_OK_AND_ASSIGN(MatrixView any, store->Matrix("model.embed_tokens.weight", -1, 48));
  EXPECT_EQ(any.rows, 64);
  ASSERT_OK_AND_ASSIGN(VectorView norm, store->Vector("model.norm.weight", 48));
  EXPECT_EQ(norm.size, 48);
  EXPECT_GT(norm.At(0), 0.5f);  // norm weights sit around 1
  ASSERT_OK_AND_ASSIGN(VectorView any_norm, store->Vector("model.norm.weight", -1));
  EXPECT_EQ(any_norm.size, 48);
}

TEST_F(WeightStoreTest, ShardedStoreEqualsSingleFileStore) {
  TinyLlamaOptions opt;
  opt.dtype = DType::kF16;
  opt.layers = 4;
  opt.ffn_widths = {96, 64, 96, 32};
  ASSERT_OK_AND_ASSIGN(auto single, WeightStore::Open(Write("single", opt)));
  opt.sharded = true;
  const std::string sharded_dir = Write("sharded", opt);
  ASSERT_TRUE(std::filesystem::exists(sharded_dir + "/model.safetensors.index.json"));
  ASSERT_FALSE(std::filesystem::exists(sharded_dir + "/model.safetensors"));
  ASSERT_OK_AND_ASSIGN(auto sharded, WeightStore::Open(sharded_dir));

  EXPECT_EQ(sharded->num_tensors(), single->num_tensors());
  EXPECT_EQ(sharded->total_bytes(), single->total_bytes());
  std::set<std::string> files;
  for (const auto& [name, rec] : single->index()) {
    ASSERT_OK_AND_ASSIGN(const TensorRecord* other, sharded->Find(name));
    files.insert(other->file);
    EXPECT_EQ(other->dtype, rec->dtype) << name;
    EXPECT_EQ(other->shape, rec->shape) << name;
    ASSERT_EQ(other->nbytes, rec->nbytes) << name;
    EXPECT_EQ(std::memcmp(other->data, rec->data, rec->nbytes), 0) << name;
  }
  EXPECT_EQ(files, (std::set<std::string>{sharded_dir + "/" + kShard1, sharded_dir + "/" + kShard2}));
}

TEST_F(WeightStoreTest, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string a = Write("a");
  const std::string b = Write("b");
  TinyLlamaOptions opt;
  opt.seed = 2;
  const std::string c = Write("c", opt);
  ASSERT_OK_AND_ASSIGN(std::string bytes_a, testing::ReadFileBytes(a + "/model.safetensors"));
  ASSERT_OK_AND_ASSIGN(std::string bytes_b, testing::ReadFileBytes(b + "/model.safetensors"));
  ASSERT_OK_AND_ASSIGN(std::string bytes_c, testing::ReadFileBytes(c + "/model.safetensors"));
  EXPECT_EQ(bytes_a, bytes_b);
  EXPECT_NE(bytes_a, bytes_c);
}

TEST_F(WeightStoreTest, MissingTensorIsNotFoundNamingTensorAndDir) {
  const std::string dir = Write("missing_tensor");
  ASSERT_OK_AND_ASSIGN(auto store, WeightStore::Open(dir));
  EXPECT_THAT(store->Find("model.layers.9.mlp.up_proj.weight"),
              StatusIs(kNotFound, AllOf(HasSubstr("model.layers.9.mlp.up_proj.weight"), HasSubstr(dir))));
  EXPECT_THAT(store->Matrix("nope", 1, 1), StatusIs(kNotFound, HasSubstr("nope")));
}

TEST_F(WeightStoreTest, WrongShapeNamesTensorExpectedAndActual) {
  ASSERT_OK_AND_ASSIGN(auto store, WeightStore::Open(Write("wrong_shape")));
  EXPECT_THAT(store->Matrix("lm_head.weight", 65, 48),
              StatusIs(kInvalid, AllOf(HasSubstr("lm_head.weight"), HasSubstr("model.safetensors"),
                                       HasSubstr("expected shape [65, 48]"), HasSubstr("got [64, 48]"))));
  EXPECT_THAT(store->Matrix("model.norm.weight", -1, 48),
              StatusIs(kInvalid, AllOf(HasSubstr("expected shape [?, 48]"), HasSubstr("got [48]"))));
  EXPECT_THAT(store->Vector("model.norm.weight", 47),
              StatusIs(kInvalid, AllOf(HasSubstr("model.norm.weight"), HasSubstr("got [48]"))));
  EXPECT_THAT(store->Vector("lm_head.weight", 64), StatusIs(kInvalid, HasSubstr("got [64, 48]")));
}

TEST_F(WeightStoreTest, DirectoryWithoutWeightsIsNotFound) {
  const std::string dir = tmp_.Sub("empty");
  std::filesystem::create_directories(dir);
  EXPECT_THAT(WeightStore::Open(dir),
              StatusIs(kNotFound, AllOf(HasSubstr(dir), HasSubstr("model.safetensors"))));
  EXPECT_THAT(WeightStore::Open(tmp_.Sub("no_such_dir")), StatusIs(kNotFound, HasSubstr("no_such_dir")));
}

TEST_F(WeightStoreTest, CorruptSingleFileNamesTheFile) {
  const std::string dir = Write("corrupt");
  ASSERT_OK(WriteFileBytes(dir + "/model.safetensors", std::string("\x02\0\0\0\0\0\0\0[]", 10)));
  EXPECT_THAT(WeightStore::Open(dir), StatusIs(kInvalid, HasSubstr(dir + "/model.safetensors")));
}

class ShardedIndexTest : public WeightStoreTest {
 protected:
  void SetUp() override {
    TinyLlamaOptions opt;
    opt.sharded = true;
    dir_ = Write("sharded", opt);
    index_ = dir_ + "/model.safetensors.index.json";
  }
  std::string dir_;
  std::string index_;
};

TEST_F(ShardedIndexTest, IndexPointingAtMissingShard) {
  std::filesystem::remove(dir_ + "/" + kShard2);
  EXPECT_THAT(WeightStore::Open(dir_), StatusIs(kNotFound, AllOf(HasSubstr(index_), HasSubstr(kShard2))));
}

TEST_F(ShardedIndexTest, MalformedIndexJson) {
  ASSERT_OK(WriteFileBytes(index_, R"({"weight_map": {"a": )"));
  EXPECT_THAT(WeightStore::Open(dir_),
              StatusIs(kInvalid, AllOf(HasSubstr(index_), HasSubstr("not valid JSON"))));
}

TEST_F(ShardedIndexTest, IndexWithoutWeightMap) {
  ASSERT_OK(WriteFileBytes(index_, R"({"metadata": {}})"));
  EXPECT_THAT(WeightStore::Open(dir_), StatusIs(kInvalid, AllOf(HasSubstr(index_), HasSubstr("weight_map"))));
}

TEST_F(ShardedIndexTest, ShardOutsideTheDirectory) {
  ASSERT_OK(WriteFileBytes(index_, R"({"weight_map": {"model.norm.weight": "../elsewhere.safetensors"}})"));
  EXPECT_THAT(WeightStore::Open(dir_),
              StatusIs(kInvalid, AllOf(HasSubstr(index_), HasSubstr("../elsewhere.safetensors"),
                                       HasSubstr("not a file inside the model directory"))));
  ASSERT_OK(WriteFileBytes(index_, R"({"weight_map": {"model.norm.weight": "/etc/passwd"}})"));
  EXPECT_THAT(WeightStore::Open(dir_), StatusIs(kInvalid, HasSubstr("/etc/passwd")));
}

TEST_F(ShardedIndexTest, TensorNotInTheShardTheIndexNames) {
  // model.norm.weight lives in the second shard; claim it is in the first.
  ASSERT_OK(WriteFileBytes(index_, absl::StrCat(R"({"weight_map": {"model.norm.weight": ")", kShard1,
                                                R"(", "model.embed_tokens.weight": ")", kShard1, R"("}})")));
  EXPECT_THAT(
      WeightStore::Open(dir_),
      StatusIs(kInvalid, AllOf(HasSubstr(index_), HasSubstr("model.norm.weight"), HasSubstr(kShard1))));
}

TEST_F(ShardedIndexTest, DuplicateTensorAcrossShards) {
  testing::SafetensorsWriter a, b;
  a.Add("x", DType::kF32, {2}, {1.f, 2.f});
  b.Add("x", DType::kF32, {2}, {3.f, 4.f});
  b.Add("y", DType::kF32, {1}, {5.f});
  ASSERT_OK(a.Write(dir_ + "/a.safetensors"));
  ASSERT_OK(b.Write(dir_ + "/b.safetensors"));
  ASSERT_OK(WriteFileBytes(index_, R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})"));
  EXPECT_THAT(WeightStore::Open(dir_),
              StatusIs(kInvalid, AllOf(HasSubstr("'x'"), HasSubstr("two shards"), HasSubstr("a.safetensors"),
                                       HasSubstr("b.safetensors"))));
}

TEST_F(ShardedIndexTest, CorruptShardNamesTheShard) {
  ASSERT_OK_AND_ASSIGN(std::string bytes, testing::ReadFileBytes(dir_ + "/" + kShard2));
  ASSERT_OK(WriteFileBytes(dir_ + "/" + kShard2, bytes.substr(0, bytes.size() - 100)));
  EXPECT_THAT(WeightStore::Open(dir_), StatusIs(kInvalid, HasSubstr(dir_ + "/" + kShard2)));
}

// WriteCutLlama is the oracle of the slice-exactness tests: check it keeps the
// right layers, renumbers them, and cuts gate/up rows and down columns.
TEST_F(WeightStoreTest, CutCheckpointKeepsPrefixesOfTheKeptLayers) {
  TinyLlamaOptions opt;
  opt.layers = 4;
  opt.ffn_widths = {96, 80, 96, 64};
  opt.dtype = DType::kBF16;
  const std::string src = Write("full", opt);
  const std::string dst = tmp_.Sub("cut");
  ASSERT_OK(testing::WriteCutLlama(src, dst, {0, 2, 3}, {40, 96, 8}));

  ASSERT_OK_AND_ASSIGN(ModelConfig config, LoadModelConfig(dst + "/config.json"));
  EXPECT_EQ(config.num_layers, 3);
  EXPECT_EQ(config.ffn_widths, (std::vector<int64_t>{40, 96, 8}));
  EXPECT_EQ(config.hidden_size, 48);

  ASSERT_OK_AND_ASSIGN(auto full, WeightStore::Open(src));
  ASSERT_OK_AND_ASSIGN(auto cut, WeightStore::Open(dst));
  EXPECT_FALSE(cut->Has(LayerTensor(3, "mlp.up_proj.weight")));
  const std::vector<std::pair<int64_t, int64_t>> kept = {{0, 40}, {2, 96}, {3, 8}};
  for (size_t j = 0; j < kept.size(); ++j) {
    const auto [l, w] = kept[j];
    const int64_t jj = static_cast<int64_t>(j);
    for (const char* proj : {"mlp.gate_proj.weight", "mlp.up_proj.weight"}) {
      ASSERT_OK_AND_ASSIGN(MatrixView a, full->Matrix(LayerTensor(l, proj), -1, 48));
      ASSERT_OK_AND_ASSIGN(MatrixView b, cut->Matrix(LayerTensor(jj, proj), w, 48));
      EXPECT_EQ(b.dtype, DType::kBF16);
      for (int64_t r = 0; r < w; ++r) {
        for (int64_t c = 0; c < 48; ++c) ASSERT_EQ(a.At(r, c), b.At(r, c)) << proj << " " << r << "," << c;
      }
    }
    ASSERT_OK_AND_ASSIGN(MatrixView a, full->Matrix(LayerTensor(l, "mlp.down_proj.weight"), 48, -1));
    ASSERT_OK_AND_ASSIGN(MatrixView b, cut->Matrix(LayerTensor(jj, "mlp.down_proj.weight"), 48, w));
    for (int64_t r = 0; r < 48; ++r) {
      for (int64_t c = 0; c < w; ++c) ASSERT_EQ(a.At(r, c), b.At(r, c)) << "down " << r << "," << c;
    }
    ASSERT_OK_AND_ASSIGN(const TensorRecord* qa, full->Find(LayerTensor(l, "self_attn.q_proj.weight")));
    ASSERT_OK_AND_ASSIGN(const TensorRecord* qb, cut->Find(LayerTensor(jj, "self_attn.q_proj.weight")));
    ASSERT_EQ(qa->nbytes, qb->nbytes);
    EXPECT_EQ(std::memcmp(qa->data, qb->data, qa->nbytes), 0);
  }
  ASSERT_OK_AND_ASSIGN(const TensorRecord* ha, full->Find("lm_head.weight"));
  ASSERT_OK_AND_ASSIGN(const TensorRecord* hb, cut->Find("lm_head.weight"));
  EXPECT_EQ(std::memcmp(ha->data, hb->data, ha->nbytes), 0);
}

TEST_F(WeightStoreTest, CutCheckpointRejectsBadRequests) {
  const std::string src = Write("full");
  EXPECT_THAT(testing::WriteCutLlama(src, tmp_.Sub("c1"), {0, 5}, {8, 8}), StatusIs(kInvalid));
  EXPECT_THAT(testing::WriteCutLlama(src, tmp_.Sub("c2"), {0}, {97}), StatusIs(kInvalid));
  EXPECT_THAT(testing::WriteCutLlama(src, tmp_.Sub("c3"), {0, 1}, {8}), StatusIs(kInvalid));
}

}  // namespace
}  // namespace matspec
