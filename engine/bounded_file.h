// Reading a small input file whole, safely: every file matspec reads into
// memory (config.json, the shard index, slice tables, TOML presets, token
// lists, prompt files) goes through ReadBoundedFile, so no input can make it
// allocate without bound or block forever.
//
// Refused by name, before any byte is read: a missing path (NotFound), a
// directory, a character or block device, a FIFO or a socket
// (InvalidArgument "... is a directory", "... is a FIFO (named pipe)", ...).
// A regular file larger than `max_bytes` is refused (InvalidArgument naming the
// size and the limit), also when it grows while being read. The file is opened
// O_NONBLOCK so a path swapped for a FIFO after the check cannot block.
#ifndef MATSPEC_ENGINE_BOUNDED_FILE_H_
#define MATSPEC_ENGINE_BOUNDED_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace matspec {

// Documented limits (docs/errors.md) for the files matspec reads whole.
inline constexpr int64_t kMaxConfigFileBytes = int64_t{16} << 20;     // config.json, *.index.json
inline constexpr int64_t kMaxSliceTableBytes = int64_t{4} << 20;      // matformer_configs/*.csv
inline constexpr int64_t kMaxPresetFileBytes = int64_t{1} << 20;      // configs/*.toml
inline constexpr int64_t kMaxTokenListBytes = int64_t{64} << 20;      // --draft-vocab-file
inline constexpr int64_t kMaxPromptFileBytes = int64_t{64} << 20;     // -f

// Reads the whole regular file at `path`. `what` names the file's role in
// every error ("slice table", "preset", "-f"), e.g.
// "-f /tmp: is a directory, not a file". Empty files are returned as "".
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, int64_t max_bytes, std::string_view what);

// The error ReadBoundedFile gives for a path that is not a regular file, or OK
// for a regular file (NotFound when missing). For inputs opened by other
// libraries (tokenizer.model) that should be refused by the same rule.
absl::Status CheckRegularFile(const std::string& path, std::string_view what);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_BOUNDED_FILE_H_
