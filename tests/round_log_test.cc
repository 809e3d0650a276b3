// GenerationOptions::on_round (the round log behind --round-log): one record
// per round, consistent with the statistics, the draft's top-1 probability
// for every drafted token, and no effect on the output.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "matspec/json.h"
#include "matspec/matspec.h"
#include "nlohmann/json.hpp"

namespace matspec {
namespace {

GenerationOptions Speculative(int64_t k, bool adaptive) {
  GenerationOptions o;
  o.max_new_tokens = 40;
  o.stop_at_eos = false;
  o.draft.slice_table = "matformer_configs/matlm-tiny.csv";  // tests run from the source root
  o.draft.slice_name = "quarter";
  o.draft.draft_max = k;
  o.draft.draft_adaptive = adaptive;
  return o;
}

std::unique_ptr<Engine> LoadBundled(bool batching) {
  LoadOptions load;
  load.model_dir = "models/matlm-tiny";
  load.num_threads = 1;
  load.batching = batching;
  auto engine = Engine::Load(load);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

TEST(RoundLogTest, OneRecordPerRoundMatchingTheStatistics) {
  for (const bool batching : {true, false}) {  // the batch scheduler and the one-sequence decoder
    for (const auto& [k, adaptive] : std::vector<std::pair<int64_t, bool>>{{3, false}, {0, false}, {4, true}}) {
      SCOPED_TRACE(testing::Message() << "batching " << batching << " k " << k << " adaptive " << adaptive);
      std::unique_ptr<Engine> engine = LoadBundled(batching);
      ASSERT_NE(engine, nullptr);
      GenerationOptions o = Speculative(std::max<int64_t>(k, 1), adaptive);
      o.speculative = k > 0;
      const auto plain = engine->Generate("And God said", o);
      ASSERT_TRUE(plain.ok()) << plain.status();

      std::vector<RoundRecord> records;
      o.on_round = [&](const RoundRecord& r) { records.push_back(r); };
      const auto logged = engine->Generate("And God said", o);
      ASSERT_TRUE(logged.ok()) << logged.status();
      EXPECT_EQ(logged->tokens, plain->tokens);  // the log changes nothing

      const GenerationStats& s = logged->stats;
      ASSERT_EQ(static_cast<int64_t>(records.size()), s.rounds);
      int64_t drafted = 0, accepted = 0, committed = 0;
      for (size_t i = 0; i < records.size(); ++i) {
        const RoundRecord& r = records[i];
        EXPECT_EQ(r.round, static_cast<int64_t>(i));
        EXPECT_EQ(r.position, static_cast<int64_t>(logged->prompt_tokens.size()) + committed);
        EXPECT_LE(r.accepted, r.drafted);
        EXPECT_EQ(static_cast<int64_t>(r.draft_top_p.size()), r.drafted);
        for (float p : r.draft_top_p) {
          EXPECT_GT(p, 0.f);
          EXPECT_LE(p, 1.f);
        }
        ASSERT_EQ(r.draft_logit_gap.size(), r.draft_top_p.size());
        for (size_t j = 0; j < r.draft_top_p.size(); ++j) {
          // top-1 minus top-2 logit: 0 exactly when the top two tie, and p1 <= 1 / (1 + exp(-gap)).
          EXPECT_GE(r.draft_logit_gap[j], 0.f);
          EXPECT_LE(r.draft_top_p[j], 1.0 / (1.0 + std::exp(-static_cast<double>(r.draft_logit_gap[j]))) + 1e-5);
        }
        EXPECT_GE(r.verify_seconds, 0.0);
        EXPECT_GE(r.round_seconds, 0.0);
        if (k == 0) {
          EXPECT_EQ(r.drafted, 0);
        }
        drafted += r.drafted;
        accepted += r.accepted;
        committed += r.accepted + 1;
      }
      EXPECT_EQ(drafted, s.drafted_tokens);
      EXPECT_EQ(accepted, s.accepted_tokens);
      EXPECT_EQ(committed, s.generated_tokens);  // no stop token cut a round short here
    }
  }
}

TEST(RoundLogTest, JsonLineHasTheLabelsFirstThenTheRecord) {
  RoundRecord r{.round = 2, .position = 9, .drafted = 3, .accepted = 1, .draft_seconds = 0.5,
                .verify_seconds = 0.25, .round_seconds = 1.0, .draft_top_p = {0.5f, 0.25f, 1.0f},
                .draft_logit_gap = {0.125f, 0.0f, 7.5f}};
  const std::string line = RoundRecordJson(r, {{"draft", std::string("quarter")}, {"k", int64_t{3}}, {"temp", 0.7}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(line);
  EXPECT_EQ(j.begin().key(), "draft");
  EXPECT_EQ(j["draft"], "quarter");
  EXPECT_EQ(j["k"], 3);
  EXPECT_DOUBLE_EQ(j["temp"].get<double>(), 0.7);
  EXPECT_EQ(j["round"], 2);
  EXPECT_EQ(j["position"], 9);
  EXPECT_EQ(j["drafted"], 3);
  EXPECT_EQ(j["accepted"], 1);
  EXPECT_DOUBLE_EQ(j["draft_seconds"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["verify_seconds"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["round_seconds"].get<double>(), 1.0);
  EXPECT_EQ(j["draft_top_p"].size(), 3u);
  EXPECT_FLOAT_EQ(j["draft_top_p"][1].get<float>(), 0.25f);
  EXPECT_EQ(j["draft_logit_gap"].size(), 3u);
  EXPECT_FLOAT_EQ(j["draft_logit_gap"][2].get<float>(), 7.5f);
}

}  // namespace
}  // namespace matspec
