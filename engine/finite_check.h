// Non-finite numbers in logits and weights. A NaN or infinity in a logits row
// would otherwise flow into argmax / sampling and come out as a plausible
// token (NaN compares false everywhere), so the Verifier and the Drafter check
// every row they use and stop generation with DataLoss naming the position and
// which model produced it; `matspec inspect --check-weights` finds the cause.
#ifndef MATSPEC_ENGINE_FINITE_CHECK_H_
#define MATSPEC_ENGINE_FINITE_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/weight_store.h"

namespace matspec {

// OK when every logit of row[0..n) is finite. With `allow_negative_infinity`
// (a draft scoring a reduced vocabulary writes -inf for the tokens it leaves
// out) -inf is allowed, but at least one logit must be finite. Otherwise
// DataLoss: "<producer> produced a non-finite logit at position <position>:
// token <id> has nan ...". `producer` is e.g. "the full model" or
// "the draft (slice \"half\")"; `position` the 0-based index in the sequence
// of the token the row predicts.
absl::Status CheckLogitsFinite(const float* row, int64_t n, bool allow_negative_infinity,
                               std::string_view producer, int64_t position);

struct NonFiniteTensor {
  std::string name;
  std::string file;
  int64_t elements = 0;
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  int64_t first_index = -1;  // flat index of the first NaN/Inf element
};

// Scans every tensor of `store` (f32, f16, bf16 by their exponent bits) and
// returns those holding a NaN or an infinity, in name order.
std::vector<NonFiniteTensor> ScanNonFiniteWeights(const WeightStore& store);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_FINITE_CHECK_H_
