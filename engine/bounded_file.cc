// ReadBoundedFile: stat, refuse special files by name, read at most max + 1 bytes.
#include "engine/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace matspec {
namespace {

std::string Prefix(std::string_view what, const std::string& path) {
  return what.empty() ? path : absl::StrCat(std::string(what), " ", path);
}

// "a directory", "a FIFO (named pipe)", ...; empty for a regular file.
std::string KindOf(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

absl::Status KindError(std::string_view what, const std::string& path, mode_t mode) {
  return absl::InvalidArgumentError(absl::StrCat(Prefix(what, path), ": is ", KindOf(mode), ", not a file"));
}

absl::Status StatError(std::string_view what, const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(absl::StrCat(Prefix(what, path), ": no such file"));
  return absl::InvalidArgumentError(absl::StrCat(Prefix(what, path), ": cannot open: ", std::strerror(err)));
}

// `size` < 0: unknown (the file grew while being read).
absl::Status TooLarge(std::string_view what, const std::string& path, int64_t size, int64_t max_bytes) {
  const std::string how = size >= 0 ? absl::StrCat("is ", size, " bytes") : std::string("grew while being read");
  return absl::InvalidArgumentError(
      absl::StrCat(Prefix(what, path), ": file ", how, ", more than the limit of ", max_bytes, " bytes"));
}

}  // namespace

absl::Status CheckRegularFile(const std::string& path, std::string_view what) {
  struct stat st;
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": empty path"));
  if (::stat(path.c_str(), &st) != 0) return StatError(what, path, errno);
  if (!S_ISREG(st.st_mode)) return KindError(what, path, st.st_mode);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, int64_t max_bytes, std::string_view what) {
  if (absl::Status s = CheckRegularFile(path, what); !s.ok()) return s;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return StatError(what, path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // swapped after the check
    const mode_t mode = st.st_mode;
    ::close(fd);
    return KindError(what, path, mode);
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    return TooLarge(what, path, st.st_size, max_bytes);
  }
  std::string text;
  text.resize(static_cast<size_t>(st.st_size) + 1);  // one spare byte detects growth
  size_t have = 0;
  while (true) {
    if (have == text.size()) {
      if (static_cast<int64_t>(have) > max_bytes) {
        ::close(fd);
        return TooLarge(what, path, -1, max_bytes);
      }
      text.resize(std::min<size_t>(text.size() * 2 + 4096, static_cast<size_t>(max_bytes) + 1));
    }
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(absl::StrCat(Prefix(what, path), ": read error: ", std::strerror(err)));
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  if (static_cast<int64_t>(have) > max_bytes) return TooLarge(what, path, -1, max_bytes);
  text.resize(have);
  return text;
}

}  // namespace matspec
