// The speculative loop against plain decoding on tiny random llama models:
// greedy speculative output equals plain greedy for every slice of a table and
// k in {1, 2, 4, 8}; the identity slice accepts everything; statistics add up;
// prompts that do not fit the context are refused.
#include "decoding/speculative_decoder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "draft/slice_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

class SpeculativeDecoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir("spec_decoder"));
    testing::TinyLlamaOptions opt;
    opt.vocab = 61;
    opt.hidden = 40;
    opt.layers = 4;
    opt.heads = 4;
    opt.kv_heads = 2;
    opt.ffn_widths = {96, 80, 96, 64};
    opt.dtype = DType::kBF16;
    opt.seed = 7;
    ASSERT_TRUE(testing::WriteTinyLlama(*dir_, opt).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    auto loaded = testing::LoadLlama(*dir_);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    m_ = std::move(*loaded);
  }

  std::vector<int32_t> Prompt(int i) const {
    std::vector<int32_t> p;
    for (int j = 0; j < 3 + i % 7; ++j) p.push_back((i * 13 + j * 7 + 1) % 61);
    return p;
  }

  std::vector<int32_t> Generate(const std::vector<int32_t>& prompt, DecodeParams params,
                                GenerationStats* stats = nullptr) {
    GenerationStats local;
    std::vector<int32_t> out;
    SpeculativeDecoder d(m_.model.get(), std::move(params));
    absl::Status s = d.Run(prompt, nullptr, &out, stats ? stats : &local);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  static DecodeParams Params(int64_t n) {
    DecodeParams p;
    p.max_new_tokens = n;
    p.context_size = 256;
    return p;
  }

  static std::string* dir_;
  testing::LoadedModel m_;
};
std::string* SpeculativeDecoderTest::dir_ = nullptr;

// A table exercising uniform widths, Mix'n'Match and layer skips.
constexpr char kTable[] =
    "name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped\n"
    "full,4,,\"[96, 80, 96, 64]\",\n"
    "half,4,,\"[48, 40, 48, 32]\",\n"
    "eighth,4,,\"[12, 10, 12, 8]\",\n"
    "mix,4,,\"[96, 10, 48, 64]\",\n"
    "skip1,3,,\"[48, 48, 32]\",[1]\n"
    "skip2,2,,\"[24, 16]\",\"[1, 2]\"\n";

TEST_F(SpeculativeDecoderTest, GreedySpeculativeEqualsPlainForEverySliceAndK) {
  auto table = ParseSliceTable(kTable, "test table");
  ASSERT_TRUE(table.ok()) << table.status();
  for (int prompt_i = 0; prompt_i < 10; ++prompt_i) {
    const std::vector<int32_t> prompt = Prompt(prompt_i);
    const std::vector<int32_t> plain = Generate(prompt, Params(64));
    ASSERT_EQ(plain.size(), 64u);
    for (const SliceSpec& spec : *table) {
      auto slice = ValidateSlice(spec, m_.config);
      ASSERT_TRUE(slice.ok()) << slice.status();
      for (int64_t k : {1, 2, 4, 8}) {
        DecodeParams p = Params(64);
        p.draft = *slice;
        p.policy.draft_max = k;
        EXPECT_EQ(Generate(prompt, p), plain) << "slice " << spec.name << " k=" << k << " prompt " << prompt_i;
      }
    }
  }
}

// A draft that copies the verifier's keys and values for the tokens it has
// not seen (the prompt, its own last token after a fully accepted round, the
// tokens of plain rounds) proposes differently, but greedy output is still
// plain greedy's: fixed k and adaptive (which runs plain rounds), every slice.
TEST_F(SpeculativeDecoderTest, DraftAdoptingTheVerifiersRowsStillEqualsPlain) {
  auto table = ParseSliceTable(kTable, "test table");
  ASSERT_TRUE(table.ok()) << table.status();
  for (int prompt_i = 0; prompt_i < 6; ++prompt_i) {
    const std::vector<int32_t> prompt = Prompt(prompt_i);
    const std::vector<int32_t> plain = Generate(prompt, Params(48));
    for (const SliceSpec& spec : *table) {
      auto slice = ValidateSlice(spec, m_.config);
      ASSERT_TRUE(slice.ok()) << slice.status();
      for (int64_t k : {1, 3, 8}) {
        for (bool adaptive : {false, true}) {
          DecodeParams p = Params(48);
          p.draft = *slice;
          p.policy.draft_max = k;
          p.policy.adopt_verifier_kv = true;
          p.adaptive_draft = adaptive;
          GenerationStats stats;
          EXPECT_EQ(Generate(prompt, p, &stats), plain)
              << "slice " << spec.name << " k=" << k << (adaptive ? " adaptive" : "") << " prompt " << prompt_i;
          EXPECT_EQ(stats.accepted_tokens + stats.rounds, stats.generated_tokens);
        }
      }
    }
  }
}

// The full model as its own draft, adopting the verifier's rows: the rows are
// the ones it would have computed, so it still accepts every token.
TEST_F(SpeculativeDecoderTest, IdentityDraftAdoptingTheVerifiersRowsAcceptsEveryToken) {
  DecodeParams p = Params(40);
  p.draft = m_.model->FullSlice();
  p.policy.draft_max = 4;
  p.policy.adopt_verifier_kv = true;
  GenerationStats stats;
  Generate(Prompt(3), p, &stats);
  EXPECT_EQ(stats.generated_tokens, 40);
  EXPECT_EQ(stats.accepted_tokens, stats.drafted_tokens);
  EXPECT_EQ(stats.rounds, 8);
}

TEST_F(SpeculativeDecoderTest, IdentityDraftAcceptsEveryToken) {
  DecodeParams p = Params(40);
  p.draft = m_.model->FullSlice();
  p.policy.draft_max = 4;
  GenerationStats stats;
  Generate(Prompt(3), p, &stats);
  EXPECT_EQ(stats.generated_tokens, 40);
  EXPECT_EQ(stats.accepted_tokens, stats.drafted_tokens);
  EXPECT_DOUBLE_EQ(stats.acceptance_rate, 1.0);
  // 40 tokens at 5 per round = 8 rounds, the last one drafting at most 4.
  EXPECT_EQ(stats.rounds, 8);
  EXPECT_DOUBLE_EQ(stats.mean_acceptance_length, 1.0 + double(stats.accepted_tokens) / stats.rounds);
  ASSERT_EQ(stats.per_position_acceptance.size(), 4u);
  for (double a : stats.per_position_acceptance) EXPECT_DOUBLE_EQ(a, 1.0);
}

TEST_F(SpeculativeDecoderTest, StatisticsAddUp) {
  auto table = ParseSliceTable(kTable, "t");
  ASSERT_TRUE(table.ok());
  auto slice = ValidateSlice((*table)[2], m_.config);
  ASSERT_TRUE(slice.ok());
  DecodeParams p = Params(50);
  p.draft = *slice;
  p.policy.draft_max = 3;
  GenerationStats s;
  Generate(Prompt(5), p, &s);
  EXPECT_EQ(s.generated_tokens, 50);
  // Each round emits its accepted tokens plus one.
  EXPECT_EQ(s.accepted_tokens + s.rounds, s.generated_tokens);
  int64_t drafted = 0, accepted = 0;
  for (size_t i = 0; i < s.per_position_drafted.size(); ++i) {
    drafted += s.per_position_drafted[i];
    accepted += s.per_position_accepted[i];
    EXPECT_LE(s.per_position_accepted[i], s.per_position_drafted[i]);
    if (i > 0) {
      EXPECT_LE(s.per_position_accepted[i], s.per_position_accepted[i - 1]);
    }
  }
  EXPECT_EQ(drafted, s.drafted_tokens);
  EXPECT_EQ(accepted, s.accepted_tokens);
  EXPECT_GT(s.drafted_tokens, 0);
}

TEST_F(SpeculativeDecoderTest, DraftPMinShortensDraftsWithoutChangingOutput) {
  auto slice = ValidateSlice(*SliceSpecFromFlags("24", "", m_.config), m_.config);
  ASSERT_TRUE(slice.ok());
  DecodeParams p = Params(48);
  p.draft = *slice;
  p.policy.draft_max = 6;
  GenerationStats loose, tight;
  const auto out_loose = Generate(Prompt(1), p, &loose);
  p.policy.draft_p_min = 0.99f;  // random weights are rarely that confident
  const auto out_tight = Generate(Prompt(1), p, &tight);
  EXPECT_EQ(out_loose, out_tight);
  EXPECT_LT(tight.drafted_tokens, loose.drafted_tokens);
  p.policy.draft_min = 2;  // but never fewer than draft_min while the budget allows
  GenerationStats floor;
  Generate(Prompt(1), p, &floor);
  // Only the last two rounds (budget 2 or 1 token) may draft fewer.
  EXPECT_GE(floor.drafted_tokens, 2 * (floor.rounds - 2));
}

// --draft-min equal to --draft-max with a p-min that would stop every step:
// every round drafts exactly min(draft_max, budget - 1) tokens.
TEST_F(SpeculativeDecoderTest, DraftMinEqualToDraftMaxDraftsEveryRoundFully) {
  auto slice = ValidateSlice(*SliceSpecFromFlags("24", "", m_.config), m_.config);
  ASSERT_TRUE(slice.ok());
  const int64_t n = 23;
  DecodeParams p = Params(n);
  p.draft = *slice;
  p.policy.draft_max = 3;
  p.policy.draft_min = 3;
  p.policy.draft_p_min = 0.999999f;
  std::vector<int64_t> round_sizes;
  SpeculativeDecoder d(m_.model.get(), p);
  std::vector<int32_t> out;
  GenerationStats s;
  ASSERT_TRUE(d.Run(Prompt(3), [&](const std::vector<int32_t>& fresh) {
                 round_sizes.push_back(static_cast<int64_t>(fresh.size()));
                 return true;
               }, &out, &s).ok());
  ASSERT_EQ(static_cast<int64_t>(out.size()), n);
  int64_t want_drafted = 0, done = 0;
  for (int64_t size : round_sizes) {
    want_drafted += std::min<int64_t>(3, n - done - 1);
    done += size;
  }
  EXPECT_EQ(s.drafted_tokens, want_drafted);
  EXPECT_EQ(s.rounds, static_cast<int64_t>(round_sizes.size()));
  EXPECT_EQ(out, Generate(Prompt(3), Params(n)));  // still the plain greedy output
}

// A token callback that returns false ends generation after that round, with
// exactly the tokens it was shown, and the stop reason says so.
TEST_F(SpeculativeDecoderTest, CallbackReturningFalseStopsAfterThatRound) {
  const std::vector<int32_t> plain = Generate(Prompt(5), Params(30));
  for (int stop_after : {1, 3}) {
    DecodeParams p = Params(30);
    p.draft = *ValidateSlice(*SliceSpecFromFlags("48", "", m_.config), m_.config);
    p.policy.draft_max = 3;
    std::vector<int32_t> shown;
    int calls = 0;
    SpeculativeDecoder d(m_.model.get(), p);
    std::vector<int32_t> out;
    GenerationStats s;
    ASSERT_TRUE(d.Run(Prompt(5), [&](const std::vector<int32_t>& fresh) {
                   shown.insert(shown.end(), fresh.begin(), fresh.end());
                   return ++calls < stop_after;
                 }, &out, &s).ok());
    EXPECT_EQ(calls, stop_after);
    EXPECT_EQ(out, shown);
    EXPECT_EQ(s.stop_reason, "callback");
    EXPECT_EQ(s.rounds, stop_after);
    ASSERT_LT(out.size(), plain.size());
    EXPECT_EQ(out, std::vector<int32_t>(plain.begin(), plain.begin() + out.size()));
  }
}

TEST_F(SpeculativeDecoderTest, StopsAtStopTokenAndAtContextEnd) {
  const std::vector<int32_t> prompt = Prompt(2);
  const std::vector<int32_t> plain = Generate(prompt, Params(30));
  DecodeParams p = Params(30);
  p.stop_tokens = {plain[9]};
  p.draft = m_.model->FullSlice();
  p.policy.draft_max = 4;
  GenerationStats s;
  const auto stopped = Generate(prompt, p, &s);
  const auto first = std::find(plain.begin(), plain.end(), plain[9]) - plain.begin();
  ASSERT_EQ(static_cast<int64_t>(stopped.size()), first + 1);
  EXPECT_EQ(s.stop_reason, "eos");

  DecodeParams c = Params(100);
  c.context_size = static_cast<int64_t>(prompt.size()) + 7;
  c.draft = m_.model->FullSlice();
  c.policy.draft_max = 4;
  GenerationStats cs;
  const auto capped = Generate(prompt, c, &cs);
  EXPECT_EQ(capped.size(), 7u);
  EXPECT_EQ(cs.stop_reason, "context");
  EXPECT_EQ(capped, std::vector<int32_t>(plain.begin(), plain.begin() + 7));
}

TEST_F(SpeculativeDecoderTest, PromptLongerThanContextIsRefused) {
  DecodeParams p = Params(10);
  p.context_size = 5;
  SpeculativeDecoder d(m_.model.get(), p);
  std::vector<int32_t> out;
  GenerationStats s;
  absl::Status st = d.Run(std::vector<int32_t>(5, 1), nullptr, &out, &s);
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(st.message()), HasSubstr("context"));
}

TEST_F(SpeculativeDecoderTest, SameSeedSameOutputWhenSampling) {
  auto slice = ValidateSlice(*SliceSpecFromFlags("48", "", m_.config), m_.config);
  ASSERT_TRUE(slice.ok());
  DecodeParams p = Params(40);
  p.draft = *slice;
  p.sampling.temperature = 0.9f;
  p.sampling.top_p = 0.95f;
  p.seed = 1234;
  const auto a = Generate(Prompt(4), p);
  const auto b = Generate(Prompt(4), p);
  EXPECT_EQ(a, b);
  p.seed = 1235;
  EXPECT_NE(Generate(Prompt(4), p), a);
}

}  // namespace
}  // namespace matspec
