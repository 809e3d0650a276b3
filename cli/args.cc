#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"

namespace matspec::cli {

absl::Status ParseArgs(const std::vector<std::string>& args, RunConfig* config, bool* help) {
  struct Setting {
    std::string name, value, origin;
  };
  std::vector<Setting> settings;
  std::string preset;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      *help = true;
      return absl::OkStatus();
    }
    std::string name;
    std::string value;
    bool has_value = false;
    if (absl::StartsWith(arg, "--")) {
      name = arg.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
      name = arg.substr(1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\" (flags start with --)"));
    }
    const std::string origin = absl::StrCat(arg.substr(0, arg.find('=')));
    if (name == "config") {
      if (!has_value) {
        if (i + 1 >= args.size()) return absl::InvalidArgumentError("--config needs a preset file");
        value = args[++i];
      }
      preset = value;
      continue;
    }
    const RunOptionDoc* doc = FindRunOption(name);
    if (doc == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", origin, " (see --help)"));
    }
    if (!has_value && !doc->boolean) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(origin, " needs a value"));
      value = args[++i];
    }
    settings.push_back({doc->name, value, origin});
  }
  if (!preset.empty()) {
    if (absl::Status s = ApplyPresetFile(preset, config); !s.ok()) return s;
  }
  for (const Setting& s : settings) {
    if (absl::Status st = SetRunOption(config, s.name, s.value, s.origin); !st.ok()) return st;
  }
  return absl::OkStatus();
}

FlagArg SplitFlag(const std::string& arg) {
  if (const size_t eq = arg.find('='); absl::StartsWith(arg, "--") && eq != std::string::npos) {
    return FlagArg{arg.substr(0, eq), arg.substr(eq + 1), true};
  }
  return FlagArg{arg, "", false};
}

absl::StatusOr<std::string> TakeFlagValue(const std::vector<std::string>& args, size_t* i, const FlagArg& f) {
  if (f.has_value) return f.value;
  if (*i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(f.flag, " needs a value"));
  return args[++*i];
}

int Fail(const absl::Status& status) {
  std::cerr << "matspec: " << status.message() << "\n";
  return 1;
}

}  // namespace matspec::cli
