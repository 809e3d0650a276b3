// The bundled model (models/matlm-tiny) loaded with --quantize q8 and q4:
// greedy speculative decoding equals plain greedy decoding of the quantized
// model for every slice of matformer_configs/matlm-tiny.csv and k in
// {1, 2, 4, 8} (5 prompts x 48 new tokens), and the draft adds no weight
// memory (resident bytes with and without it are equal).
#include <gtest/gtest.h>

#include "matspec/matspec.h"

namespace matspec {
namespace {

constexpr char kModel[] = "models/matlm-tiny";
constexpr char kTable[] = "matformer_configs/matlm-tiny.csv";

class QuantizedBundledTest : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizedBundledTest, GreedySpeculativeEqualsPlainForEverySliceAndK) {
  LoadOptions lo;
  lo.model_dir = kModel;
  lo.num_threads = 1;  // ctest runs two suites at once on two cores
  lo.quantize = GetParam();
  auto engine = Engine::Load(lo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<std::string> prompts = {"In the beginning", "And it came to pass", "Blessed are the",
                                            "A soft answer", "It is a truth"};
  auto slices = (*engine)->DescribeSlices(kTable);
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_GE(slices->size(), 10u);
  for (const std::string& p : prompts) {
    GenerationOptions plain;
    plain.max_new_tokens = 48;
    plain.stop_at_eos = false;
    plain.speculative = false;
    auto ref = (*engine)->Generate(p, plain);
    ASSERT_TRUE(ref.ok()) << ref.status();
    ASSERT_EQ(ref->tokens.size(), 48u);
    for (const SliceInfo& s : *slices) {
      ASSERT_TRUE(s.valid) << s.name << ": " << s.error;
      for (int64_t k : {1, 2, 4, 8}) {
        GenerationOptions o = plain;
        o.speculative = true;
        o.draft.slice_table = kTable;
        o.draft.slice_name = s.name;
        o.draft.draft_max = k;
        auto r = (*engine)->Generate(p, o);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->tokens, ref->tokens) << GetParam() << " prompt \"" << p << "\" slice " << s.name << " k=" << k;
        EXPECT_EQ(r->stats.resident_weight_bytes, ref->stats.resident_weight_bytes);
        EXPECT_EQ(r->stats.weight_bytes, ref->stats.weight_bytes);
        EXPECT_LE(r->stats.draft_step_weight_bytes, r->stats.full_step_weight_bytes);
        if (s.name != "full") {
          EXPECT_LT(r->stats.draft_step_weight_bytes, r->stats.full_step_weight_bytes);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizedBundledTest, ::testing::Values("q8", "q4"));

}  // namespace
}  // namespace matspec
