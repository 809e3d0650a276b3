#include "matspec/weight_check.h"

#include "engine/finite_check.h"
#include "engine/status_macros.h"
#include "engine/weight_store.h"

namespace matspec {

absl::StatusOr<WeightCheckReport> CheckWeights(const std::string& model_dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<WeightStore> store, WeightStore::Open(model_dir));
  WeightCheckReport report;
  report.tensors = store->num_tensors();
  report.bytes = store->total_bytes();
  for (NonFiniteTensor& t : ScanNonFiniteWeights(*store)) {
    report.non_finite.push_back({.name = std::move(t.name),
                                 .file = std::move(t.file),
                                 .elements = t.elements,
                                 .nan_count = t.nan_count,
                                 .inf_count = t.inf_count,
                                 .first_index = t.first_index});
  }
  return report;
}

}  // namespace matspec
