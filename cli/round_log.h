// `--round-log FILE` (matspec generate, matspec bench): one JSON line per
// speculation round or plain step (matspec/json.h RoundRecordJson): what was
// drafted and kept, the draft's top-1 probability per drafted token, and the
// round's draft, verification and wall times. For measuring acceptance and
// draft-length policies offline (tools/draft_policy_bounds.py).
#ifndef MATSPEC_CLI_ROUND_LOG_H_
#define MATSPEC_CLI_ROUND_LOG_H_

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "matspec/json.h"
#include "matspec/matspec.h"

namespace matspec::cli {

class RoundLog {
 public:
  // Creates (truncates) `path`; InvalidArgument naming it when it cannot.
  static absl::StatusOr<std::unique_ptr<RoundLog>> Open(const std::string& path);
  ~RoundLog();
  RoundLog(const RoundLog&) = delete;
  RoundLog& operator=(const RoundLog&) = delete;

  // Appends one line; thread-safe. A write error is kept for Close().
  void Write(const RoundRecord& record, const RoundLabels& labels = {});
  // Flushes and closes; the first write or close error, naming the file.
  absl::Status Close();

 private:
  RoundLog(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::mutex mutex_;
  std::FILE* file_;  // guarded by mutex_; null once closed
  bool failed_ = false;
};

}  // namespace matspec::cli

#endif  // MATSPEC_CLI_ROUND_LOG_H_
