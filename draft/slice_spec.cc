#include "draft/slice_spec.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "draft/csv.h"
#include "draft/int_expr.h"
#include "engine/bounded_file.h"
#include "engine/status_macros.h"

namespace matspec {
namespace {

// Abseil 20220623 here has its own absl::string_view (not std's): the public
// functions take std views and convert once; helpers work on absl views.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

constexpr absl::string_view kNameColumn = "name";
constexpr absl::string_view kLayersColumn = "# Layers";
constexpr absl::string_view kParamsColumn = "# Effective Params (B)";
constexpr absl::string_view kWidthsColumn = "FFN Hidden Dims";
constexpr absl::string_view kSkippedColumn = "Layers Skipped";
constexpr absl::string_view kFfnFlag = "--draft-ffn";
constexpr absl::string_view kSkipFlag = "--draft-skip";

// Column positions of the required headers.
struct TableColumns {
  size_t name = 0;
  size_t layers = 0;
  size_t params = 0;
  size_t widths = 0;
  size_t skipped = 0;
};

absl::StatusOr<TableColumns> FindColumns(const CsvRecord& header, absl::string_view source) {
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    if (!by_name.emplace(header.fields[i], i).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": row ", header.line, ": header names column \"", header.fields[i], "\" twice"));
    }
  }
  TableColumns columns;
  const std::pair<absl::string_view, size_t*> required[] = {{kNameColumn, &columns.name},
                                                            {kLayersColumn, &columns.layers},
                                                            {kParamsColumn, &columns.params},
                                                            {kWidthsColumn, &columns.widths},
                                                            {kSkippedColumn, &columns.skipped}};
  for (const auto& [title, index] : required) {
    auto it = by_name.find(std::string(title));
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": row ", header.line, ": missing required column \"", title,
                       "\" (header has: \"", absl::StrJoin(header.fields, "\", \""), "\")"));
    }
    *index = it->second;
  }
  return columns;
}

// Parses one data row; errors name the row and the column.
absl::StatusOr<SliceSpec> ParseRow(const CsvRecord& row, const std::vector<std::string>& header,
                                   const TableColumns& columns, absl::string_view source) {
  auto error = [&](absl::string_view column, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": row ", row.line, ", column \"", column, "\": ", what));
  };
  if (row.fields.size() != header.size()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": row ", row.line, ": has ", row.fields.size(),
                                                   " fields but the header has ", header.size()));
  }
  SliceSpec spec;
  spec.source = absl::StrCat(source, ":row ", row.line);
  spec.name = std::string(absl::StripAsciiWhitespace(row.fields[columns.name]));
  if (spec.name.empty()) return error(kNameColumn, "the slice name is empty");

  const absl::string_view layers = absl::StripAsciiWhitespace(row.fields[columns.layers]);
  if (!layers.empty()) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(layers, &value) || value <= 0) {
      return error(kLayersColumn, absl::StrCat("\"", layers, "\" is not a positive integer"));
    }
    spec.declared_layers = value;
  }
  const absl::string_view params = absl::StripAsciiWhitespace(row.fields[columns.params]);
  if (!params.empty()) {
    double value = 0;
    if (!absl::SimpleAtod(params, &value) || !std::isfinite(value) || value < 0) {
      return error(kParamsColumn, absl::StrCat("\"", params, "\" is not a number"));
    }
    spec.declared_params_b = value;
  }

  absl::StatusOr<std::vector<int64_t>> widths =
      ParseIntList(row.fields[columns.widths], /*allow_empty=*/false);
  if (!widths.ok()) return error(kWidthsColumn, widths.status().message());
  for (size_t i = 0; i < widths->size(); ++i) {
    if ((*widths)[i] <= 0) {
      return error(kWidthsColumn,
                   absl::StrCat("width ", i + 1, " is ", (*widths)[i], "; widths must be positive"));
    }
  }
  spec.ffn_widths = *std::move(widths);

  const absl::string_view skipped = absl::StripAsciiWhitespace(row.fields[columns.skipped]);
  if (!skipped.empty()) {
    absl::StatusOr<std::vector<int64_t>> layers_skipped = ParseIntList(Sv(skipped), /*allow_empty=*/true);
    if (!layers_skipped.ok()) return error(kSkippedColumn, layers_skipped.status().message());
    for (int64_t layer : *layers_skipped) {
      if (layer < 0) return error(kSkippedColumn, absl::StrCat("layer index ", layer, " is negative"));
    }
    spec.skipped_layers = *std::move(layers_skipped);
  }

  if (spec.declared_layers.has_value() &&
      *spec.declared_layers != static_cast<int64_t>(spec.ffn_widths.size())) {
    return error(kLayersColumn,
                 absl::StrCat("declares ", *spec.declared_layers, " layers but \"", kWidthsColumn,
                              "\" lists ", spec.ffn_widths.size(), " widths (one per kept layer)"));
  }

  for (size_t i = 0; i < header.size(); ++i) {
    if (i == columns.name || i == columns.layers || i == columns.params || i == columns.widths ||
        i == columns.skipped) {
      continue;
    }
    spec.extra[header[i]] = row.fields[i];
  }
  return spec;
}

// Parses a non-negative decimal integer written in a flag; nullopt-like error
// text on failure.
absl::StatusOr<int64_t> ParseFlagInt(absl::string_view flag, absl::string_view item, int index) {
  const absl::string_view text = absl::StripAsciiWhitespace(item);
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": item ", index, " (\"", text, "\") ", what));
  };
  if (text.empty()) return error("is empty");
  if (text.front() == '-') return error("is negative");
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return error("is not a non-negative integer");
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return error("is too large");
  return value;
}

// Splits a comma-separated flag value; "" gives no items.
absl::StatusOr<std::vector<int64_t>> ParseFlagList(absl::string_view flag, absl::string_view value) {
  std::vector<int64_t> out;
  if (absl::StripAsciiWhitespace(value).empty()) return out;
  int index = 0;
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    ASSIGN_OR_RETURN(int64_t parsed, ParseFlagInt(flag, item, ++index));
    out.push_back(parsed);
  }
  return out;
}

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

}  // namespace

absl::StatusOr<std::vector<SliceSpec>> ParseSliceTable(std::string_view csv_text,
                                                       std::string_view std_source) {
  const absl::string_view source = Av(std_source);
  ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(csv_text, std_source));
  if (records.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": empty slice table (no header row)"));
  }
  const CsvRecord& header = records.front();
  ASSIGN_OR_RETURN(TableColumns columns, FindColumns(header, source));

  std::vector<SliceSpec> table;
  std::map<std::string, int64_t> row_of_name;
  for (size_t r = 1; r < records.size(); ++r) {
    ASSIGN_OR_RETURN(SliceSpec spec, ParseRow(records[r], header.fields, columns, source));
    auto [it, inserted] = row_of_name.emplace(spec.name, records[r].line);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": row ", records[r].line, ", column \"",
                                                     kNameColumn, "\": slice name \"", spec.name,
                                                     "\" already used on row ", it->second));
    }
    table.push_back(std::move(spec));
  }
  return table;
}

absl::StatusOr<std::vector<SliceSpec>> LoadSliceTable(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadBoundedFile(path, kMaxSliceTableBytes, "slice table"));
  return ParseSliceTable(text, path);
}

absl::StatusOr<SliceSpec> FindSlice(const std::vector<SliceSpec>& table, std::string_view std_name,
                                    std::string_view std_source) {
  const absl::string_view name = Av(std_name);
  const absl::string_view source = Av(std_source);
  std::vector<std::string> names;
  for (const SliceSpec& spec : table) {
    if (spec.name == std_name) return spec;
    names.push_back(Quoted(spec.name));
  }
  if (names.empty()) {
    return absl::NotFoundError(
        absl::StrCat("slice \"", name, "\" not found in ", source, ": the table has no slices"));
  }
  return absl::NotFoundError(absl::StrCat("slice \"", name, "\" not found in ", source,
                                          "; available: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<SliceSpec> SliceSpecFromFlags(std::string_view ffn, std::string_view skip,
                                             const ModelConfig& model) {
  const int64_t num_layers = static_cast<int64_t>(model.ffn_widths.size());
  ASSIGN_OR_RETURN(std::vector<int64_t> skipped, ParseFlagList(kSkipFlag, Av(skip)));
  std::set<int64_t> skipped_set;
  for (int64_t layer : skipped) {
    if (layer >= num_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat(kSkipFlag, ": layer ", layer, " is out of range [0, ", num_layers, ")"));
    }
    if (!skipped_set.insert(layer).second) {
      return absl::InvalidArgumentError(absl::StrCat(kSkipFlag, ": layer ", layer, " is listed twice"));
    }
  }
  std::vector<int64_t> kept_full_widths;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    if (!skipped_set.count(layer)) kept_full_widths.push_back(model.ffn_widths[layer]);
  }

  ASSIGN_OR_RETURN(std::vector<int64_t> widths, ParseFlagList(kFfnFlag, Av(ffn)));
  for (size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kFfnFlag, ": item ", i + 1, " is 0; widths must be positive"));
    }
  }
  SliceSpec spec;
  spec.name = "custom";
  spec.source = "flags";
  spec.skipped_layers = std::move(skipped);
  if (widths.empty()) {
    spec.ffn_widths = std::move(kept_full_widths);
  } else if (widths.size() == 1) {
    spec.ffn_widths.assign(kept_full_widths.size(), widths[0]);
  } else if (widths.size() != kept_full_widths.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kFfnFlag, ": expected one width or ", kept_full_widths.size(), " (one per kept layer: ", num_layers,
        " layers, ", skipped_set.size(), " skipped), got ", widths.size()));
  } else {
    spec.ffn_widths = std::move(widths);
  }
  return spec;
}

absl::StatusOr<SliceView> ValidateSlice(const SliceSpec& spec, const ModelConfig& model,
                                        const std::vector<int64_t>& reserved_layers) {
  const std::string where = spec.source.empty() ? "" : absl::StrCat(" (", spec.source, ")");
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("slice \"", spec.name, "\": ", what, where));
  };
  const int64_t num_layers = static_cast<int64_t>(model.ffn_widths.size());
  if (num_layers == 0 || (model.num_layers != 0 && model.num_layers != num_layers)) {
    return error(absl::StrCat("the model config is inconsistent: ", model.num_layers, " layers but ",
                              num_layers, " FFN widths"));
  }
  const std::set<int64_t> reserved(reserved_layers.begin(), reserved_layers.end());
  std::vector<bool> skipped(num_layers, false);
  for (int64_t layer : spec.skipped_layers) {
    if (layer < 0 || layer >= num_layers) {
      return error(absl::StrCat("skipped layer ", layer, " is out of range [0, ", num_layers, ")"));
    }
    if (skipped[layer]) return error(absl::StrCat("layer ", layer, " is skipped twice"));
    if (reserved.count(layer)) {
      return error(absl::StrCat("layer ", layer, " may not be skipped: it is reserved by the model"));
    }
    skipped[layer] = true;
  }
  const int64_t kept = num_layers - static_cast<int64_t>(spec.skipped_layers.size());
  if (kept == 0) return error(absl::StrCat("every layer (", num_layers, ") is skipped"));
  if (static_cast<int64_t>(spec.ffn_widths.size()) != kept) {
    return error(absl::StrCat("FFN width list has the wrong length: expected ", kept,
                              " (one per kept layer), got ", spec.ffn_widths.size()));
  }

  SliceView view;
  view.name = spec.name;
  view.ffn_widths.assign(num_layers, 0);
  size_t next_width = 0;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    if (skipped[layer]) continue;
    const int64_t width = spec.ffn_widths[next_width++];
    const int64_t full = model.ffn_widths[layer];
    if (width <= 0) {
      return error(absl::StrCat("layer ", layer, " FFN width ", width, " is not positive"));
    }
    if (width > full) {
      return error(absl::StrCat("layer ", layer, " FFN width ", width, " exceeds the model's ", full));
    }
    if (model.ffn_width_multiple > 1 && width % model.ffn_width_multiple != 0) {
      return error(absl::StrCat("layer ", layer, " FFN width ", width, " is not a multiple of ",
                                model.ffn_width_multiple, ", the block of the model's quantized FFN weights"));
    }
    view.layers.push_back(layer);
    view.ffn_widths[layer] = width;
  }
  return view;
}

std::string ShortWidths(const std::vector<int64_t>& widths) {
  std::vector<std::string> runs;
  for (size_t i = 0; i < widths.size();) {
    size_t j = i;
    while (j < widths.size() && widths[j] == widths[i]) ++j;
    const size_t count = j - i;
    runs.push_back(count == 1 ? absl::StrCat(widths[i]) : absl::StrCat(widths[i], " x ", count));
    i = j;
  }
  return absl::StrCat("[", absl::StrJoin(runs, ", "), "]");
}

}  // namespace matspec
