#include "cli/round_log.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace matspec::cli {

absl::StatusOr<std::unique_ptr<RoundLog>> RoundLog::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--round-log: cannot create ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<RoundLog>(new RoundLog(path, f));
}

RoundLog::~RoundLog() { (void)Close(); }

void RoundLog::Write(const RoundRecord& record, const RoundLabels& labels) {
  const std::string line = RoundRecordJson(record, labels) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_ == nullptr) return;
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) failed_ = true;
}

absl::Status RoundLog::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_ == nullptr) return absl::OkStatus();
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (failed_ || !closed) return absl::DataLossError(absl::StrCat("--round-log: could not write all of ", path_));
  return absl::OkStatus();
}

}  // namespace matspec::cli
