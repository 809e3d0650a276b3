#include "tests/testing/concurrent_generation.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace matspec::testing {
namespace {

struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<int32_t> tokens;
  int64_t drafted = 0;
  int64_t accepted = 0;
};

Outcome Run(Engine& engine, const GenerationRequest& r) {
  Outcome o;
  absl::StatusOr<GenerationResult> g = engine.GenerateTokens(r.prompt, r.options);
  o.ok = g.ok();
  if (!g.ok()) {
    o.error = std::string(g.status().message());
    return o;
  }
  o.tokens = g->tokens;
  o.drafted = g->stats.drafted_tokens;
  o.accepted = g->stats.accepted_tokens;
  return o;
}

}  // namespace

DraftOptions BundledQuarterDraft() {
  DraftOptions draft;
  draft.slice_table = "matformer_configs/matlm-tiny.csv";
  draft.slice_name = "quarter";
  draft.draft_max = 3;
  return draft;
}

DraftOptions FixtureLastSliceDraft(Engine& engine, const std::string& dir) {
  DraftOptions draft;
  draft.slice_table = dir + "/slices.csv";
  draft.draft_max = 2;
  absl::StatusOr<std::vector<SliceInfo>> slices = engine.DescribeSlices(draft.slice_table);
  EXPECT_TRUE(slices.ok() && !slices->empty()) << slices.status();
  if (slices.ok() && !slices->empty()) draft.slice_name = slices->back().name;
  return draft;
}

std::vector<GenerationRequest> MixedRequests(int64_t vocab, const DraftOptions& draft, int64_t n) {
  std::vector<GenerationRequest> out;
  for (int p = 0; p < 5; ++p) {
    std::vector<int32_t> prompt;
    for (int j = 0; j < 3 + 5 * p; ++j) prompt.push_back(static_cast<int32_t>((p * 37 + j * 11 + 3) % vocab));
    GenerationOptions plain;
    plain.max_new_tokens = n;
    plain.stop_at_eos = false;
    plain.speculative = false;
    plain.draft = draft;
    GenerationOptions spec = plain;
    spec.speculative = true;
    GenerationOptions sampled = spec;
    sampled.temperature = 0.8;
    sampled.seed = 11 + p;
    for (const GenerationOptions& o : {plain, spec, sampled}) out.push_back({prompt, o});
  }
  return out;
}

void ExpectConcurrentEqualsSolo(Engine& engine, const std::vector<GenerationRequest>& requests, int num_threads,
                                bool greedy_counts_exact) {
  const int kThreads = num_threads;
  std::vector<Outcome> solo;
  for (const GenerationRequest& r : requests) {
    solo.push_back(Run(engine, r));
    ASSERT_TRUE(solo.back().ok) << solo.back().error;
    ASSERT_FALSE(solo.back().tokens.empty());
  }
  const size_t n = requests.size();
  std::vector<std::vector<Outcome>> got(kThreads, std::vector<Outcome>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < n; ++i) {
        const size_t r = (i + t) % n;
        got[t][r] = Run(engine, requests[r]);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  int mismatches = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (size_t r = 0; r < n; ++r) {
      const Outcome& g = got[t][r];
      ASSERT_TRUE(g.ok) << "thread " << t << " request " << r << ": " << g.error;
      const bool counts = !greedy_counts_exact && requests[r].options.temperature == 0.0;
      const bool same =
          g.tokens == solo[r].tokens && (counts || (g.drafted == solo[r].drafted && g.accepted == solo[r].accepted));
      if (!same) ++mismatches;
      EXPECT_TRUE(same) << "thread " << t << " request " << r << " (speculative " << requests[r].options.speculative
                        << ", temperature " << requests[r].options.temperature << ") differs from the solo run";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << kThreads * n << " concurrent requests";
}


}  // namespace matspec::testing
