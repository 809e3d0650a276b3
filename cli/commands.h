// The `matspec` command line: a thin client of the public API
// (matspec/matspec.h, matspec/run_config.h). Each subcommand returns the
// process exit code; errors go to stderr as "matspec: <message>".
#ifndef MATSPEC_CLI_COMMANDS_H_
#define MATSPEC_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "matspec/run_config.h"

namespace matspec::cli {

// Parses `args` (after the subcommand) into `config`: --config PRESET first,
// then every flag in order, so flags override the preset. `-h/--help` sets *help.
absl::Status ParseArgs(const std::vector<std::string>& args, RunConfig* config, bool* help);

// One argument of a subcommand that has flags of its own: "--name=value" is
// split into flag "--name" and an inline value; anything else is the flag alone.
struct FlagArg {
  std::string flag;
  std::string value;
  bool has_value = false;  // the value was inline
};
FlagArg SplitFlag(const std::string& arg);
// The value of a flag that takes one: its inline value, else args[*i + 1]
// (advancing *i). InvalidArgument "<flag> needs a value" when there is none.
absl::StatusOr<std::string> TakeFlagValue(const std::vector<std::string>& args, size_t* i, const FlagArg& f);

// Exit code of a generation that SIGINT cancelled (its stats are still printed).
inline constexpr int kInterruptedExitCode = 130;

int RunGenerate(const RunConfig& config);
int RunSlices(const RunConfig& config);
int RunInspect(const RunConfig& config);
// `matspec serve`: takes its raw arguments (it has flags of its own).
int RunServe(std::vector<std::string> args);
// `matspec bench` / `matspec tune` (tune = true): their own flags, then the
// ordinary ones; `args` follow the subcommand.
int RunBench(const std::vector<std::string>& args, bool tune);
int RunQuantize(const RunConfig& config);

// Prints "matspec: <status message>" to stderr and returns 1.
int Fail(const absl::Status& status);

}  // namespace matspec::cli

#endif  // MATSPEC_CLI_COMMANDS_H_
