#include "matspec/input_files.h"

#include "absl/strings/str_cat.h"
#include "engine/bounded_file.h"
#include "engine/status_macros.h"

namespace matspec {

absl::StatusOr<std::string> ReadPromptFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(path, kMaxPromptFileBytes, "-f"));
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("-f ", path, ": the file is empty (no prompt)"));
  }
  return text;
}

}  // namespace matspec
