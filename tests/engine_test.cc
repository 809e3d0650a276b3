// The public API: loading, option validation (errors name the CLI flag),
// draft resolution, plain vs speculative through Engine, and the claim that
// the draft adds no weight memory (resident bytes measured with mincore).
#include "matspec/matspec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/model.h"
#include "matspec/run_config.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("engine");
    testing::TinyLlamaOptions opt;
    opt.vocab = 71;
    opt.hidden = 32;
    opt.layers = 4;
    opt.ffn_widths = {64, 64, 64, 64};
    opt.dtype = DType::kBF16;
    opt.max_pos = 96;
    ASSERT_TRUE(testing::WriteTinyLlama(dir_, opt).ok());
    std::ofstream(dir_ + "/slices.csv") << "name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped\n"
                                           "full,4,,\"[64, 64, 64, 64]\",\n"
                                           "quarter,4,,\"[16, 16, 16, 16]\",\n"
                                           "skip,3,,\"[32, 32, 32]\",[2]\n"
                                           "too wide,4,,\"[64, 128, 64, 64]\",\n";
    LoadOptions lo;
    lo.model_dir = dir_;
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  const std::vector<int32_t> prompt_ = {3, 14, 15, 9, 26, 53, 58};
};

TEST_F(EngineTest, SpeculativeEqualsPlainAndAddsNoWeightMemory) {
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.speculative = false;
  auto a = engine_->GenerateTokens(prompt_, plain);
  ASSERT_TRUE(a.ok()) << a.status();
  GenerationOptions spec = plain;
  spec.speculative = true;
  spec.draft.slice_table = dir_ + "/slices.csv";
  spec.draft.slice_name = "quarter";
  spec.draft.draft_max = 3;
  auto b = engine_->GenerateTokens(prompt_, spec);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(b->stats.draft_slice, "quarter");
  EXPECT_GT(b->stats.drafted_tokens, 0);
  // One store: same weight bytes, same resident bytes, with or without a draft.
  EXPECT_EQ(a->stats.weight_bytes, b->stats.weight_bytes);
  EXPECT_GT(a->stats.resident_weight_bytes, 0);
  EXPECT_EQ(a->stats.resident_weight_bytes, b->stats.resident_weight_bytes);
  EXPECT_GT(b->stats.draft_kv_bytes, 0);
}

// A reduced-vocabulary draft head scores only ids < draft_vocab: the output is
// still the full model's (greedy), the draft reads fewer head bytes, and bad
// sizes are refused with the flag's name.
TEST_F(EngineTest, ReducedVocabularyDraftHead) {
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.speculative = false;
  plain.stop_at_eos = false;
  auto a = engine_->GenerateTokens(prompt_, plain);
  ASSERT_TRUE(a.ok()) << a.status();
  for (int64_t n : {1, 20, 50, 70, 71}) {
    GenerationOptions spec = plain;
    spec.speculative = true;
    spec.draft.ffn = "32";
    spec.draft.draft_max = 3;
    spec.draft.draft_vocab = n;
    auto b = engine_->GenerateTokens(prompt_, spec);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->tokens, b->tokens) << "draft_vocab " << n;
    EXPECT_EQ(b->stats.draft_vocab, n);
  }
  GenerationOptions bad = plain;
  bad.speculative = true;
  bad.draft.draft_vocab = -1;
  auto r = engine_->GenerateTokens(prompt_, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("--draft-vocab"));
  bad.draft.draft_vocab = 72;
  r = engine_->GenerateTokens(prompt_, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("exceeds the model's vocabulary (71"));
}

// A token-list draft head (--draft-vocab-file): only the listed ids are
// scored; output unchanged; bad lists are refused naming file and line.
TEST_F(EngineTest, TokenListDraftHead) {
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.speculative = false;
  plain.stop_at_eos = false;
  auto a = engine_->GenerateTokens(prompt_, plain);
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string list = dir_ + "/draft_vocab.txt";
  std::ofstream(list) << "# most frequent first\n70 3, 14 15\n9 26 53 58 0 1 2 40 41 42 43 44\n";
  for (int64_t n : {0, 1, 5, 16}) {
    GenerationOptions spec = plain;
    spec.speculative = true;
    spec.draft.ffn = "32";
    spec.draft.draft_max = 3;
    spec.draft.draft_vocab_file = list;
    spec.draft.draft_vocab = n;
    auto b = engine_->GenerateTokens(prompt_, spec);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(a->tokens, b->tokens) << "first " << n << " ids of the list";
    EXPECT_EQ(b->stats.draft_vocab, n == 0 ? 16 : n);
  }
  auto refused = [&](const std::string& text, int64_t n, const std::string& message) {
    std::ofstream(list) << text;
    GenerationOptions spec = plain;
    spec.speculative = true;
    spec.draft.draft_vocab_file = list;
    spec.draft.draft_vocab = n;
    auto r = engine_->GenerateTokens(prompt_, spec);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(r.status().message(), HasSubstr(message)) << r.status();
  };
  refused("1 2 x3\n", 0, "draft_vocab.txt:1: \"x3\" is not a token id");
  refused("1 2\n71\n", 0, "draft_vocab.txt:2: token id 71 is outside the vocabulary [0, 71)");
  refused("1 2 1\n", 0, "token id 1 is listed twice");
  refused("# nothing\n", 0, "the token list is empty");
  refused("1 2 3\n", 4, "--draft-vocab 4 exceeds the 3 token ids");
  GenerationOptions missing = plain;
  missing.speculative = true;
  missing.draft.draft_vocab_file = dir_ + "/no-such-list.txt";
  auto r = engine_->GenerateTokens(prompt_, missing);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no-such-list.txt: no such file"));
}

// Which ids a --draft-vocab-file list keeps, not only how many: the first n
// of the list in the file's order (then sorted for the head). A full-width draft
// whose head keeps exactly the tokens of the greedy output proposes exactly
// them (every draft accepted); one whose head keeps none of them proposes none
// (no draft accepted). The list is written highest id first, so keeping the
// lowest n ids, or the last n, would change both counts.
TEST_F(EngineTest, TokenListKeepsTheFirstListedIds) {
  GenerationOptions plain;
  plain.max_new_tokens = 40;
  plain.speculative = false;
  plain.stop_at_eos = false;
  auto a = engine_->GenerateTokens(prompt_, plain);
  ASSERT_TRUE(a.ok()) << a.status();
  std::vector<bool> in_output(71, false);
  for (int32_t t : a->tokens) in_output[t] = true;
  std::vector<int32_t> used, unused;
  for (int32_t id = 70; id >= 0; --id) (in_output[id] ? used : unused).push_back(id);
  ASSERT_GE(used.size(), 3u);
  auto write_list = [&](const std::vector<int32_t>& first, const std::vector<int32_t>& rest) {
    std::ofstream out(dir_ + "/ids.txt");
    for (int32_t id : first) out << id << "\n";
    for (int32_t id : rest) out << id << "\n";
  };
  GenerationOptions spec = plain;
  spec.speculative = true;
  spec.draft.ffn = "64";  // full width: the draft's logits are the verifier's
  spec.draft.draft_max = 3;
  spec.draft.draft_vocab_file = dir_ + "/ids.txt";

  write_list(used, unused);
  spec.draft.draft_vocab = static_cast<int64_t>(used.size());
  auto b = engine_->GenerateTokens(prompt_, spec);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_GT(b->stats.drafted_tokens, 0);
  EXPECT_EQ(b->stats.accepted_tokens, b->stats.drafted_tokens) << "the head lost a listed id";

  write_list(unused, used);
  spec.draft.draft_vocab = static_cast<int64_t>(unused.size());
  auto c = engine_->GenerateTokens(prompt_, spec);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(a->tokens, c->tokens);
  EXPECT_GT(c->stats.drafted_tokens, 0);
  EXPECT_EQ(c->stats.accepted_tokens, 0) << "the head kept an id the list put after the first n";
}

// Generation stops at config.json's eos_token_id (a number or a list) when
// stop_at_eos is on (the default), plain and speculative, and emits the stop
// token; with stop_at_eos off the same ids do not stop it.
TEST_F(EngineTest, StopsAtConfigEosTokenId) {
  GenerationOptions free_run;
  free_run.max_new_tokens = 30;
  free_run.speculative = false;
  free_run.stop_at_eos = false;
  auto a = engine_->GenerateTokens(prompt_, free_run);
  ASSERT_TRUE(a.ok()) << a.status();
  const int32_t eos = a->tokens[6];
  const int64_t first = std::find(a->tokens.begin(), a->tokens.end(), eos) - a->tokens.begin();
  int32_t other = 0;  // an id the free run never emits
  while (std::find(a->tokens.begin(), a->tokens.end(), other) != a->tokens.end()) ++other;
  for (const std::string& eos_json : {std::to_string(eos), "[" + std::to_string(other) + ", " +
                                                               std::to_string(eos) + "]"}) {
    auto config = testing::ReadFileBytes(dir_ + "/config.json");
    ASSERT_TRUE(config.ok());
    std::string text = *config;
    const size_t at = text.find("\"eos_token_id\": ");
    ASSERT_NE(at, std::string::npos);
    const size_t end = text.find_first_of(",\n", at + 16);
    text.replace(at, end - at, "\"eos_token_id\": " + eos_json);
    ASSERT_TRUE(testing::WriteFileBytes(dir_ + "/config.json", text).ok());
    LoadOptions lo;
    lo.model_dir = dir_;
    auto e = Engine::Load(lo);
    ASSERT_TRUE(e.ok()) << e.status();
    for (bool speculative : {false, true}) {
      SCOPED_TRACE(eos_json + (speculative ? " speculative" : " plain"));
      GenerationOptions o = free_run;
      o.stop_at_eos = true;
      o.speculative = speculative;
      o.draft.draft_max = 3;
      auto r = (*e)->GenerateTokens(prompt_, o);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->tokens, std::vector<int32_t>(a->tokens.begin(), a->tokens.begin() + first + 1));
      EXPECT_EQ(r->stats.stop_reason, "eos");
      o.stop_at_eos = false;
      r = (*e)->GenerateTokens(prompt_, o);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->tokens, a->tokens);
      EXPECT_EQ(r->stats.stop_reason, "length");
    }
  }
}

TEST_F(EngineTest, ReducedHeadLogitsArePrefixOfTheFullHead) {
  Model& m = engine_->model();
  SliceView full = m.FullSlice();
  SliceView reduced = full;
  reduced.name = "full, head 30";
  reduced.head_rows = 30;
  const int64_t vocab = m.vocab_size();
  auto run = [&](const SliceView& slice) {
    std::unique_ptr<KvCache> kv = m.NewKvCache(slice, 32);
    std::vector<float> logits(prompt_.size() * vocab);
    ForwardArgs args;
    args.slice = &slice;
    args.tokens = prompt_.data();
    args.t = static_cast<int64_t>(prompt_.size());
    args.kv = kv.get();
    args.logits = logits.data();
    args.all_logits = true;
    EXPECT_TRUE(m.Forward(args).ok());
    return logits;
  };
  const std::vector<float> want = run(full), got = run(reduced);
  for (size_t r = 0; r < prompt_.size(); ++r) {
    for (int64_t v = 0; v < vocab; ++v) {
      if (v < 30) {
        ASSERT_EQ(got[r * vocab + v], want[r * vocab + v]) << "row " << r << " token " << v;
      } else {
        ASSERT_EQ(got[r * vocab + v], -std::numeric_limits<float>::infinity()) << "row " << r << " token " << v;
      }
    }
  }
  // The draft reads 30 of the head's 71 rows.
  EXPECT_EQ(m.WeightBytesRead(full) - m.WeightBytesRead(reduced), (vocab - 30) * 32 * 2);
}

TEST_F(EngineTest, DefaultDraftIsHalfWidth) {
  GenerationOptions o;
  o.max_new_tokens = 8;
  auto r = engine_->GenerateTokens(prompt_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stats.draft_slice, HasSubstr("ffn/2"));
}

TEST_F(EngineTest, DraftFromFlags) {
  GenerationOptions o;
  o.max_new_tokens = 8;
  o.draft.ffn = "16,8,16";
  o.draft.skip = "0";
  auto r = engine_->GenerateTokens(prompt_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  o.draft.ffn = "16,8";
  r = engine_->GenerateTokens(prompt_, o);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("3"));  // expected 3 widths
}

TEST_F(EngineTest, BadDraftsAreRefusedWithNames) {
  GenerationOptions o;
  o.draft.slice_table = dir_ + "/slices.csv";
  o.draft.slice_name = "nope";
  auto r = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nope"));
  o.draft.slice_name = "too wide";
  r = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("too wide"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("layer 1"));
  o.draft.slice_name = "";
  o.draft.slice_table = "";
  o.draft.skip = "9";
  r = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("9"));
}

TEST_F(EngineTest, OptionValidationNamesTheFlag) {
  struct Case {
    std::function<void(GenerationOptions&)> set;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {[](GenerationOptions& o) { o.draft.draft_max = 0; }, "--draft-max"},
      {[](GenerationOptions& o) { o.draft.draft_max = -2; }, "--draft-max"},
      {[](GenerationOptions& o) { o.draft.draft_min = -1; }, "--draft-min"},
      {[](GenerationOptions& o) { o.draft.draft_min = 9; }, "--draft-min"},
      {[](GenerationOptions& o) { o.draft.draft_p_min = 1.5; }, "--draft-p-min"},
      {[](GenerationOptions& o) { o.max_new_tokens = -5; }, "-n"},
      {[](GenerationOptions& o) { o.temperature = -1; }, "--temp"},
      {[](GenerationOptions& o) { o.top_k = -1; }, "--top-k"},
      {[](GenerationOptions& o) { o.top_p = 0; }, "--top-p"},
      {[](GenerationOptions& o) { o.context_size = -3; }, "--ctx-size"},
      {[](GenerationOptions& o) { o.draft.slice_name = "x"; }, "--matformer-config-path"},
  };
  for (const Case& c : cases) {
    GenerationOptions o;
    c.set(o);
    auto r = engine_->GenerateTokens(prompt_, o);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.flag));
  }
}

// The boundary of the --draft-min rule: equal to --draft-max is allowed.
TEST_F(EngineTest, DraftMinEqualToDraftMaxIsAccepted) {
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.stop_at_eos = false;
  o.draft.draft_max = 3;
  o.draft.draft_min = 3;
  auto r = engine_->GenerateTokens(prompt_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tokens.size(), 12u);
  o.draft.draft_min = 4;
  EXPECT_FALSE(engine_->GenerateTokens(prompt_, o).ok());
}

TEST_F(EngineTest, PromptLongerThanContextIsRefused) {
  GenerationOptions o;
  o.context_size = 5;
  auto r = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("context"));
  o.context_size = 1000;  // above max_position_embeddings (96)
  r = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("max_position_embeddings"));
}

// reserve_max_new_tokens: prompt + max_new_tokens must fit (exactly filling
// the context is allowed); without it generation stops at the context's end.
TEST_F(EngineTest, ReservedMaxNewTokensMustFitBesideThePrompt) {
  const int64_t p = static_cast<int64_t>(prompt_.size());
  GenerationOptions o;
  o.context_size = p + 6;
  o.max_new_tokens = 7;
  o.stop_at_eos = false;
  auto stopped = engine_->GenerateTokens(prompt_, o);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->stats.stop_reason, "context");
  EXPECT_EQ(static_cast<int64_t>(stopped->tokens.size()), 6);

  o.reserve_max_new_tokens = true;
  auto refused = engine_->GenerateTokens(prompt_, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("max_new_tokens asks for 7"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("at most 6 new tokens fit"));

  o.max_new_tokens = 6;  // exactly fills the context
  auto fits = engine_->GenerateTokens(prompt_, o);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(static_cast<int64_t>(fits->tokens.size()), 6);
  EXPECT_EQ(fits->tokens, stopped->tokens);
}

TEST_F(EngineTest, TokenOutsideVocabularyIsRefused) {
  auto r = engine_->GenerateTokens({1, 2, 71}, GenerationOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("71"));
}

TEST_F(EngineTest, TextNeedsATokenizer) {
  auto r = engine_->Generate("hello", GenerationOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tokenizer.model"));
}

TEST_F(EngineTest, DescribeAndSlices) {
  const ModelInfo m = engine_->Describe();
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_EQ(m.num_layers, 4);
  EXPECT_EQ(m.dtype, "BF16");
  EXPECT_GT(m.parameters, 0);
  EXPECT_GT(m.weight_bytes, m.parameters);  // 2 bytes each
  auto slices = engine_->DescribeSlices(dir_ + "/slices.csv");
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_EQ(slices->size(), 4u);
  EXPECT_TRUE((*slices)[0].valid);
  EXPECT_EQ((*slices)[0].parameters, m.parameters);
  EXPECT_LT((*slices)[1].parameters, m.parameters);
  EXPECT_TRUE((*slices)[2].valid);
  EXPECT_FALSE((*slices)[3].valid);
  EXPECT_THAT((*slices)[3].error, HasSubstr("layer 1"));
}

TEST(EngineLoadTest, MissingDirectoryIsNamed) {
  LoadOptions lo;
  lo.model_dir = "/nonexistent/model";
  auto e = Engine::Load(lo);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("/nonexistent/model"));
}

TEST(EngineLoadTest, UnknownDeviceIsRefused) {
  LoadOptions lo;
  lo.model_dir = "x";
  lo.device = "tpu";
  EXPECT_FALSE(Engine::Load(lo).ok());
}

TEST(RunConfigTest, FlagsAndPresetsShareKeys) {
  const std::string dir = testing::MakeTempDir("preset");
  std::ofstream(dir + "/p.toml") << "model = \"m\"\ndraft-max = 6\ntemp = 0.5\nno-speculative = true\n";
  RunConfig c;
  ASSERT_TRUE(ApplyPresetFile(dir + "/p.toml", &c).ok());
  EXPECT_EQ(c.load.model_dir, "m");
  EXPECT_EQ(c.generation.draft.draft_max, 6);
  EXPECT_DOUBLE_EQ(c.generation.temperature, 0.5);
  EXPECT_FALSE(c.generation.speculative);
  ASSERT_TRUE(SetRunOption(&c, "draft-max", "2", "--draft-max").ok());
  EXPECT_EQ(c.generation.draft.draft_max, 2);

  std::ofstream(dir + "/bad_key.toml") << "draft-maxx = 3\n";
  absl::Status s = ApplyPresetFile(dir + "/bad_key.toml", &c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("draft-maxx"));
  std::ofstream(dir + "/bad_syntax.toml") << "draft-max = = 3\n";
  s = ApplyPresetFile(dir + "/bad_syntax.toml", &c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad_syntax.toml"));
  std::ofstream(dir + "/bad_value.toml") << "draft-max = \"four\"\n";
  s = ApplyPresetFile(dir + "/bad_value.toml", &c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("draft-max"));
  EXPECT_FALSE(SetRunOption(&c, "seed", "-1", "--seed").ok());
  EXPECT_FALSE(SetRunOption(&c, "top-p", "abc", "--top-p").ok());
  std::filesystem::remove_all(dir);
}

// The per-sequence thread pool is the default; --no-thread-pool (or
// thread-pool = false in a preset) selects OpenMP teams.
TEST(RunConfigTest, ThreadPoolIsTheDefaultAndCanBeTurnedOff) {
  RunConfig c;
  EXPECT_TRUE(c.load.thread_pool);
  ASSERT_TRUE(SetRunOption(&c, "no-thread-pool", "true", "--no-thread-pool").ok());
  EXPECT_FALSE(c.load.thread_pool);
  ASSERT_TRUE(SetRunOption(&c, "thread-pool", "true", "--thread-pool").ok());
  EXPECT_TRUE(c.load.thread_pool);
  const std::string dir = testing::MakeTempDir("preset_pool");
  std::ofstream(dir + "/p.toml") << "thread-pool = false\n";
  ASSERT_TRUE(ApplyPresetFile(dir + "/p.toml", &c).ok());
  EXPECT_FALSE(c.load.thread_pool);
  EXPECT_FALSE(SetRunOption(&c, "no-thread-pool", "maybe", "--no-thread-pool").ok());
  std::filesystem::remove_all(dir);
}

// Huge pages for the mapped weights are the default; --no-huge-pages (or
// no-huge-pages = true in a preset) leaves the mapping as it comes.
TEST(RunConfigTest, HugePagesAreTheDefaultAndCanBeTurnedOff) {
  RunConfig c;
  EXPECT_TRUE(c.load.huge_pages);
  ASSERT_TRUE(SetRunOption(&c, "no-huge-pages", "true", "--no-huge-pages").ok());
  EXPECT_FALSE(c.load.huge_pages);
  ASSERT_TRUE(SetRunOption(&c, "no-huge-pages", "false", "--no-huge-pages").ok());
  EXPECT_TRUE(c.load.huge_pages);
  const std::string dir = testing::MakeTempDir("preset_huge");
  std::ofstream(dir + "/p.toml") << "no-huge-pages = true\n";
  ASSERT_TRUE(ApplyPresetFile(dir + "/p.toml", &c).ok());
  EXPECT_FALSE(c.load.huge_pages);
  EXPECT_FALSE(SetRunOption(&c, "no-huge-pages", "maybe", "--no-huge-pages").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace matspec
