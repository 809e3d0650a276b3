#include "tests/testing/mixed_workload.h"

namespace matspec::testing {

Job MixedJob(int i) {
  Job job;
  for (int j = 0; j < 2 + (i * 7) % 23; ++j) job.prompt.push_back(static_cast<int32_t>((i * 131 + j * 17 + 5) % 4000));
  GenerationOptions& o = job.options;
  o.max_new_tokens = 6 + (i * 11) % 37;
  o.stop_at_eos = false;
  static const char* kSlices[] = {"quarter", "half", "eighth-skip-2-4", "mix-rising-1-4", "quarter"};
  switch (i % 6) {
    case 0: o.speculative = false; break;  // plain
    case 4: o.draft.ffn = "192"; o.draft.skip = "3"; break;  // a slice given by flags
    default: o.draft.slice_table = kBundledTable; o.draft.slice_name = kSlices[i % 5]; break;
  }
  o.draft.draft_max = 1 + i % 6;
  if (i % 7 == 3) o.draft.draft_vocab = 1024;  // a reduced draft head
  // Some drafts compute their own keys and values; the rest copy the verifier's for what they missed.
  if (i % 4 == 3) o.draft.draft_own_kv = true;
  // Adaptive k (greedy): such requests share what they learn (draft/draft_length_memory.h).
  if (i % 5 == 1 && i % 3 != 2 && o.speculative) o.draft.draft_adaptive = true;
  if (i % 3 == 2) {
    o.temperature = 0.7 + 0.1 * (i % 4);
    o.top_p = i % 2 ? 0.9 : 1.0;
    o.seed = 100 + i;
  }
  return job;
}

}  // namespace matspec::testing
