// `matspec slices`, `matspec inspect` and `matspec quantize`.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/matmul.h"
#include "matspec/matspec.h"
#include "matspec/quantize_checkpoint.h"
#include "matspec/weight_check.h"

namespace matspec::cli {
namespace {

std::string Params(int64_t n) {
  if (n >= 1'000'000'000) return absl::StrFormat("%.3fB", n / 1e9);
  if (n >= 1'000'000) return absl::StrFormat("%.3fM", n / 1e6);
  return absl::StrFormat("%.1fK", n / 1e3);
}

// Prints the --check-weights scan; exit 1 when a tensor holds NaN or Inf.
int CheckWeightsReport(const std::string& model_dir) {
  absl::StatusOr<WeightCheckReport> r = CheckWeights(model_dir);
  if (!r.ok()) return Fail(r.status());
  std::cout << absl::StrFormat("check-weights:  %d tensors (%.2f MiB) scanned, %d hold NaN or Inf\n", r->tensors,
                               r->bytes / double(1 << 20), r->non_finite.size());
  for (const TensorNonFiniteCount& t : r->non_finite) {
    std::cout << absl::StrFormat("  %s: %d NaN, %d Inf of %d elements (first at element %d) in %s\n", t.name,
                                 t.nan_count, t.inf_count, t.elements, t.first_index, t.file);
  }
  if (r->non_finite.empty()) return 0;
  return Fail(absl::DataLossError(absl::StrFormat("%d tensors of %s hold NaN or Inf (first: %s)",
                                                  r->non_finite.size(), model_dir, r->non_finite[0].name)));
}

}  // namespace

int RunSlices(const RunConfig& config) {
  const std::string& table = config.generation.draft.slice_table;
  if (table.empty()) return Fail(absl::InvalidArgumentError("slices needs --matformer-config-path CSV"));
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(config.load);
  if (!engine.ok()) return Fail(engine.status());
  absl::StatusOr<std::vector<SliceInfo>> slices = (*engine)->DescribeSlices(table);
  if (!slices.ok()) return Fail(slices.status());
  std::cout << absl::StrFormat("%-40s %6s %12s %10s %12s  %-6s %s\n", "name", "layers", "params", "table (B)",
                               "bytes/step", "valid", "FFN widths / skipped / reason");
  for (const SliceInfo& s : *slices) {
    std::string detail = s.short_widths;
    if (!s.skipped_layers.empty()) detail += " skip [" + absl::StrJoin(s.skipped_layers, ", ") + "]";
    if (!s.valid) detail += "  -- " + s.error;
    std::cout << absl::StrFormat("%-40s %6d %12s %10s %12s  %-6s %s\n", s.name, s.layers,
                                 s.valid ? Params(s.parameters) : "-",
                                 s.declared_params_b > 0 ? absl::StrFormat("%.4g", s.declared_params_b) : "-",
                                 s.valid ? absl::StrFormat("%.2f MiB", s.step_weight_bytes / double(1 << 20)) : "-",
                                 s.valid ? "yes" : "no", detail);
  }
  return 0;
}

int RunInspect(const RunConfig& config) {
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(config.load);
  if (!engine.ok()) return Fail(engine.status());
  const ModelInfo m = (*engine)->Describe();
  std::cout << absl::StrFormat(
      "model:          %s\narchitecture:   %s\nvocab:          %d\nhidden:         %d\nlayers:         %d\n"
      "heads:          %d query, %d key/value, head_dim %d\nFFN widths:     [%s]\nmax positions:  %d\n"
      "tied head:      %s\ndtype:          %s\nparameters:     %d (%s)\nweight bytes:   %d (%.2f MiB, %d tensors)\n",
      m.model_dir, m.architecture, m.vocab_size, m.hidden_size, m.num_layers, m.num_heads, m.num_kv_heads,
      m.head_dim, absl::StrJoin(m.ffn_widths, ", "), m.max_position_embeddings, m.tied_embeddings ? "yes" : "no",
      m.dtype, m.parameters, Params(m.parameters), m.weight_bytes, m.weight_bytes / double(1 << 20), m.num_tensors);
  // The CPU matrix-product path this machine dispatches to (chosen from cpuid).
  std::cout << absl::StrFormat("cpu:            %s\n", GetCpuFeatures().name);
  // (On amx-bf16 the AMX tiles take every token count of bf16 weights.)
  const std::string few =
      AvailableMatMulPaths().front() == MatMulPath::kAmxBf16 ? "" : Bf16MultiTokenKernelName();
  std::cout << absl::StrFormat("cpu kernels:    %s%s\n", MatMulIsaName(),
                               few.empty() ? "" : absl::StrCat(" (bf16 x 2+ tokens: ", few, ")"));
  // Quantized weights (--quantize q8|q4, or a quantized checkpoint) have tiles of their own.
  std::cout << absl::StrFormat("q8/q4 kernels:  %s\n", QuantMatMulKernelName(AvailableMatMulPaths().front()));
  std::cout << absl::StrFormat("weight pages:   %s\n", m.weight_pages);
  if (config.check_weights) return CheckWeightsReport(config.load.model_dir);
  return 0;
}

int RunQuantize(const RunConfig& config) {
  if (config.load.model_dir.empty()) return Fail(absl::InvalidArgumentError("quantize needs -m DIR"));
  if (config.quantize_type.empty()) return Fail(absl::InvalidArgumentError("quantize needs --type q8|q4"));
  const absl::Status s = QuantizeCheckpoint({.model_dir = config.load.model_dir,
                                             .out_dir = config.quantize_out,
                                             .type = config.quantize_type,
                                             .num_threads = config.load.num_threads},
                                            [](const std::string& line) { std::cerr << "matspec: " << line << "\n"; });
  if (!s.ok()) return Fail(s);
  std::cerr << "matspec: wrote " << config.quantize_out << " (" << config.quantize_type << ")\n";
  return 0;
}

}  // namespace matspec::cli
