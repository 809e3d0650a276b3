// RunConfig: every user-settable option of a matspec run, settable by name.
// The CLI's long flags and the keys of TOML presets (configs/*.toml) are the
// same names, and both go through SetRunOption, so a preset and a command line
// can never disagree on what an option means or which values it accepts.
#ifndef MATSPEC_RUN_CONFIG_H_
#define MATSPEC_RUN_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "matspec/matspec.h"

namespace matspec {

struct RunConfig {
  LoadOptions load;
  GenerationOptions generation;
  std::string prompt;       // -p
  std::string prompt_file;  // -f
  std::vector<int32_t> prompt_ids;  // --prompt-ids: token ids instead of text (no BOS added)
  bool json = false;        // --json: one JSON object on stdout
  std::string round_log;    // --round-log FILE: one JSON line per round (generate, bench)
  bool check_weights = false;  // inspect --check-weights: scan every tensor for NaN/Inf
  std::string quantize_type;   // quantize --type: q8 or q4
  std::string quantize_out;    // quantize --out: the directory to write
};

struct RunOptionDoc {
  std::string name;   // long flag / preset key, e.g. "draft-max"
  std::string alias;  // short flag, e.g. "m", or ""
  bool boolean;       // takes no value on the command line
  std::string help;
};

// All options, in help order.
const std::vector<RunOptionDoc>& RunOptionDocs();

// Finds an option by long name or short alias; nullptr if unknown.
const RunOptionDoc* FindRunOption(std::string_view name_or_alias);

// Sets option `name` from its text form. `origin` ("--draft-max",
// "configs/x.toml: draft-max") prefixes errors: InvalidArgument for an unknown
// option or a value that does not parse as the option's type. Range checks
// happen later, in GenerationOptions::Validate().
absl::Status SetRunOption(RunConfig* config, std::string_view name, std::string_view value,
                          std::string_view origin);

// Applies every key of a TOML preset. NotFound for a missing file,
// InvalidArgument (naming file, line and key) for a TOML syntax error, an
// unknown key, a table or array where a value belongs, or a bad value.
absl::Status ApplyPresetFile(const std::string& path, RunConfig* config);

}  // namespace matspec

#endif  // MATSPEC_RUN_CONFIG_H_
