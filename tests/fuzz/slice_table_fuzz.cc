// libFuzzer: slice tables (CSV), the integer expressions and lists in their
// cells, and the --draft-ffn / --draft-skip flag forms. The first byte picks
// the parser; the rest is its text. Accepted specs are validated against a
// small model, as the engine does.
#include "draft/int_expr.h"
#include "draft/slice_spec.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text = matspec::fuzz::AsText(data + 1, size - 1);
  matspec::ModelConfig model;
  model.model_type = "llama";
  model.num_layers = 6;
  model.hidden_size = 64;
  model.ffn_widths = {256, 256, 256, 256, 128, 128};
  switch (data[0] % 4) {
    case 0: {
      auto table = matspec::ParseSliceTable(text, "fuzz.csv");
      if (!table.ok()) {
        matspec::fuzz::ExpectNamed(table.status(), "fuzz.csv");
        return 0;
      }
      for (const matspec::SliceSpec& spec : *table) (void)matspec::ValidateSlice(spec, model, {0});
      if (!table->empty()) (void)matspec::FindSlice(*table, (*table)[0].name, "fuzz.csv");
      break;
    }
    case 1:
      (void)matspec::EvalIntExpr(text);
      break;
    case 2:
      (void)matspec::ParseIntList(text, /*allow_empty=*/true);
      break;
    case 3: {
      const size_t bar = text.find('|');
      const std::string_view ffn = text.substr(0, bar);
      const std::string_view skip = bar == std::string_view::npos ? std::string_view() : text.substr(bar + 1);
      auto spec = matspec::SliceSpecFromFlags(ffn, skip, model);
      if (spec.ok()) (void)matspec::ValidateSlice(*spec, model, {0});
      break;
    }
  }
  return 0;
}
