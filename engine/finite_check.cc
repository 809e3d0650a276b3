#include "engine/finite_check.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace matspec {

absl::Status CheckLogitsFinite(const float* row, int64_t n, bool allow_negative_infinity, std::string_view producer,
                               int64_t position) {
  bool any_finite = false;
  for (int64_t i = 0; i < n; ++i) {
    const float v = row[i];
    if (std::isfinite(v)) {
      any_finite = true;
      continue;
    }
    if (allow_negative_infinity && v == -INFINITY) continue;
    return absl::DataLossError(absl::StrCat(std::string(producer), " produced a non-finite logit at position ",
                                            position, ": token ", i, " has ", std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf"),
                                            " (check the weights: matspec inspect --check-weights)"));
  }
  if (!any_finite && n > 0) {
    return absl::DataLossError(absl::StrCat(std::string(producer), " produced no finite logit at position ",
                                            position, " (check the weights: matspec inspect --check-weights)"));
  }
  return absl::OkStatus();
}

namespace {

// Counts NaN / Inf among `count` elements whose exponent field is `exp_mask`
// (all ones: NaN or Inf) and mantissa `man_mask`.
template <typename Bits>
void Scan(const void* data, int64_t count, Bits exp_mask, Bits man_mask, NonFiniteTensor& out) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (int64_t i = 0; i < count; ++i) {
    Bits x;
    std::memcpy(&x, bytes + i * sizeof(Bits), sizeof(Bits));
    if ((x & exp_mask) != exp_mask) continue;
    if ((x & man_mask) != 0) {
      ++out.nan_count;
    } else {
      ++out.inf_count;
    }
    if (out.first_index < 0) out.first_index = i;
  }
}

}  // namespace

std::vector<NonFiniteTensor> ScanNonFiniteWeights(const WeightStore& store) {
  std::vector<NonFiniteTensor> found;
  for (const auto& [name, rec] : store.index()) {
    NonFiniteTensor t;
    t.name = name;
    t.file = rec->file;
    t.elements = rec->nbytes / DTypeSize(rec->dtype);
    switch (rec->dtype) {
      case DType::kF32:
        Scan<uint32_t>(rec->data, t.elements, 0x7F800000u, 0x007FFFFFu, t);
        break;
      case DType::kF16:
        Scan<uint16_t>(rec->data, t.elements, 0x7C00, 0x03FF, t);
        break;
      case DType::kBF16:
        Scan<uint16_t>(rec->data, t.elements, 0x7F80, 0x007F, t);
        break;
      case DType::kQ8:
      case DType::kQ4:  // integers; QuantizeMatrix refused non-finite inputs
        break;
    }
    if (t.nan_count + t.inf_count > 0) found.push_back(std::move(t));
  }
  return found;
}

}  // namespace matspec
