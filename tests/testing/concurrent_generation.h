// Runs one Engine from many threads at once and compares every result with
// the same request run alone (tests/engine_concurrency_test.cc on the CPU,
// tests/cuda/engine_concurrency_test.cc on the GPU).
#ifndef MATSPEC_TESTS_TESTING_CONCURRENT_GENERATION_H_
#define MATSPEC_TESTS_TESTING_CONCURRENT_GENERATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "matspec/matspec.h"

namespace matspec::testing {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  GenerationOptions options;
};

// The bundled model's quarter-width slice drafting k = 3 (models/matlm-tiny).
DraftOptions BundledQuarterDraft();

// The last slice of `dir`/slices.csv (a Gemma 3n fixture's narrowest) drafting
// k = 2, as `engine` (loaded from `dir`) describes it; a GoogleTest failure and
// an empty slice name when the table does not load.
DraftOptions FixtureLastSliceDraft(Engine& engine, const std::string& dir);

// Five prompts x {plain, speculative greedy, speculative sampling with a seed},
// n new tokens each, drafting with `draft`.
std::vector<GenerationRequest> MixedRequests(int64_t vocab, const DraftOptions& draft, int64_t n);

// Every request alone, then `num_threads` threads each running all of them at once
// (each starting at a different request); adds a GoogleTest failure for every
// concurrent result whose tokens or speculation counts differ from the solo run.
// With `greedy_counts_exact` false the counts of greedy requests are not
// compared (an engine whose batch-aware cap lowers their k under load).
void ExpectConcurrentEqualsSolo(Engine& engine, const std::vector<GenerationRequest>& requests, int num_threads = 8,
                                bool greedy_counts_exact = true);

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_CONCURRENT_GENERATION_H_
