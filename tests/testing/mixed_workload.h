// The mixed workload of the batching tests (tests/batch_scheduler_test.cc,
// tests/cuda/batch_scheduler_test.cc): request i of a batch on the bundled
// model, each with its own prompt length, draft (table slices, flags, skipped
// layers, a reduced draft head, plain), k fixed or adaptive, keys and values
// of the draft's own or copied from the verifier, greedy or sampled with a
// seed, and length.
#ifndef MATSPEC_TESTS_TESTING_MIXED_WORKLOAD_H_
#define MATSPEC_TESTS_TESTING_MIXED_WORKLOAD_H_

#include <cstdint>
#include <vector>

#include "matspec/matspec.h"

namespace matspec::testing {

inline constexpr const char* kBundledModel = "models/matlm-tiny";
inline constexpr const char* kBundledTable = "matformer_configs/matlm-tiny.csv";

struct Job {
  std::vector<int32_t> prompt;
  GenerationOptions options;
};

// Request i: prompts of 2-24 tokens, 6-42 new tokens, EOS ignored. Adaptive k
// only on greedy requests, whose tokens do not depend on k.
Job MixedJob(int i);

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_MIXED_WORKLOAD_H_
