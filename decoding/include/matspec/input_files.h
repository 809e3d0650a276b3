// Reading user-named input files for a client of the library (the CLI's -f):
// the same bounded, special-file-refusing read the library uses for its own
// inputs (config.json, slice tables, presets, token lists).
#ifndef MATSPEC_INPUT_FILES_H_
#define MATSPEC_INPUT_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace matspec {

// The text of a prompt file. NotFound for a missing path; InvalidArgument
// naming "-f PATH" for a directory, device, FIFO or socket, a file over 64 MiB,
// and an empty file (as `-p ""` is refused: an empty prompt would generate from
// BOS alone).
absl::StatusOr<std::string> ReadPromptFile(const std::string& path);

}  // namespace matspec

#endif  // MATSPEC_INPUT_FILES_H_
