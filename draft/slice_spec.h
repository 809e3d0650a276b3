// MatFormer slice specifications: parsing slice tables (the CSV format of the
// official Gemma 3n table), building a slice from command-line flags, and
// validating a spec against a model into an engine SliceView.
//
// Table format: RFC 4180 CSV with a header row. Required columns (matched by
// exact header text): `name`, `# Layers`, `# Effective Params (B)`,
// `FFN Hidden Dims`, `Layers Skipped`; other columns are kept as text.
// `FFN Hidden Dims` is a bracketed list, one width per KEPT layer in order;
// each item is an integer expression of literals (with `_` digit separators),
// `*`, `+`, `-` and parentheses, e.g. `2_048 * 4`. `Layers Skipped` is empty
// or a bracketed list of original layer indices.
#ifndef MATSPEC_DRAFT_SLICE_SPEC_H_
#define MATSPEC_DRAFT_SLICE_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/slice_view.h"

namespace matspec {

struct SliceSpec {
  std::string name;
  std::vector<int64_t> ffn_widths;       // one per kept layer, in layer order
  std::vector<int64_t> skipped_layers;   // original indices, as written
  std::optional<int64_t> declared_layers;    // "# Layers" column
  std::optional<double> declared_params_b;   // "# Effective Params (B)" column
  std::map<std::string, std::string> extra;  // other columns, by header
  std::string source;                        // "file.csv:row N" or "flags"
};

// Parses a whole table. `source` (usually the path) prefixes every error,
// which also names the row and column: InvalidArgument for broken quoting,
// a missing required column, a row with the wrong number of fields, a bad
// width expression, a non-positive width, duplicate slice names.
absl::StatusOr<std::vector<SliceSpec>> ParseSliceTable(std::string_view csv_text,
                                                       std::string_view source);
// Reads and parses a file; NotFound if it is missing.
absl::StatusOr<std::vector<SliceSpec>> LoadSliceTable(const std::string& path);

// Exact-name lookup; NotFound naming the slice, the table and the names available.
absl::StatusOr<SliceSpec> FindSlice(const std::vector<SliceSpec>& table, std::string_view name,
                                    std::string_view source);

// A spec from flags: `ffn` is "" (full width), one width ("512") applied to
// every kept layer, or a comma-separated list with one width per kept layer;
// `skip` is "" or a comma-separated list of layer indices ("3,4").
// InvalidArgument naming the flag (--draft-ffn / --draft-skip) on bad syntax
// or a list of the wrong length.
absl::StatusOr<SliceSpec> SliceSpecFromFlags(std::string_view ffn, std::string_view skip,
                                             const ModelConfig& model);

// Checks a spec against the model and builds the view. InvalidArgument naming
// the slice and the offending layer when: a skipped layer is out of range or
// repeated, a reserved layer (may not be skipped) is skipped, every layer is
// skipped, the width list length differs from the kept-layer count, a width is
// above that layer's full width or not positive.
absl::StatusOr<SliceView> ValidateSlice(const SliceSpec& spec, const ModelConfig& model,
                                        const std::vector<int64_t>& reserved_layers = {});

// "[512 x 4]", "[256, 512 x 2, 1024]": run-length short form of per-layer widths.
std::string ShortWidths(const std::vector<int64_t>& widths);

}  // namespace matspec

#endif  // MATSPEC_DRAFT_SLICE_SPEC_H_
