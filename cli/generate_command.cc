// `matspec generate`: submits one request, streams its text, and prints the
// statistics. SIGINT (Ctrl-C) cancels the request: the handler only writes a
// byte to a pipe (async-signal-safe); a watcher thread reads it and calls
// Request::Cancel, so the generation stops within one round and the stats
// line (and the --json object, stop_reason "cancelled") is still printed. The
// exit code is then 130 (128 + SIGINT, as shells report it). A second SIGINT
// kills the process as usual (SA_RESETHAND).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/round_log.h"
#include "matspec/json.h"
#include "matspec/input_files.h"
#include "matspec/matspec.h"

namespace matspec::cli {
namespace {

std::string Bytes(int64_t b) {
  if (b >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / double(int64_t{1} << 30));
  if (b >= (1 << 20)) return absl::StrFormat("%.2f MiB", b / double(1 << 20));
  if (b >= (1 << 10)) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrCat(b, " B");
}

std::string StatsLine(const GenerationStats& s, const GenerationOptions& opt) {
  std::string line = absl::StrFormat("matspec: %d tokens in %.2f s (%.1f tok/s), prompt %d tokens (%.2f s), stop: %s",
                                     s.generated_tokens, s.decode_seconds, s.tokens_per_second, s.prompt_tokens,
                                     s.prefill_seconds, s.stop_reason);
  if (!s.draft_slice.empty()) {
    std::vector<std::string> pos;
    for (double a : s.per_position_acceptance) pos.push_back(absl::StrFormat("%.2f", a));
    absl::StrAppendFormat(&line,
                          "\nmatspec: draft \"%s\"%s k=%d: drafted %d, accepted %d (%.1f%%), mean acceptance length "
                          "%.2f, per position [%s], rounds %d, draft %.2f s, verify %.2f s",
                          s.draft_slice,
                          opt.draft.draft_vocab > 0 || !opt.draft.draft_vocab_file.empty()
                              ? absl::StrFormat(" (head: %d tokens)", s.draft_vocab)
                              : "",
                          opt.draft.draft_max, s.drafted_tokens, s.accepted_tokens,
                          100.0 * s.acceptance_rate, s.mean_acceptance_length, absl::StrJoin(pos, " "), s.rounds,
                          s.draft_seconds, s.verify_seconds);
    absl::StrAppendFormat(&line, "\nmatspec: weights %s in one store (%s resident); the draft adds 0 B of weights, %s of KV cache",
                          Bytes(s.weight_bytes), Bytes(s.resident_weight_bytes), Bytes(s.draft_kv_bytes));
    absl::StrAppendFormat(&line, "; a step reads %s of weights (full), %s (draft)", Bytes(s.full_step_weight_bytes),
                          Bytes(s.draft_step_weight_bytes));
  } else {
    absl::StrAppendFormat(&line, " (plain decoding, %d rounds); weights %s (%s resident)", s.rounds,
                          Bytes(s.weight_bytes), Bytes(s.resident_weight_bytes));
  }
  if (s.device == "cuda") {
    absl::StrAppendFormat(&line, "\nmatspec: device cuda: %s of weights in GPU memory, shared by the draft",
                          Bytes(s.gpu_weight_bytes));
    absl::StrAppendFormat(&line, "; %d of %d rounds replayed as CUDA graphs", s.cuda_graph_launches, s.rounds);
  }
  return line;
}

absl::StatusOr<std::string> ReadPrompt(const RunConfig& c) {
  if ((!c.prompt.empty()) + (!c.prompt_file.empty()) + (!c.prompt_ids.empty()) > 1) {
    return absl::InvalidArgumentError("give the prompt with only one of -p, -f and --prompt-ids");
  }
  if (!c.prompt_ids.empty()) return std::string();
  if (!c.prompt_file.empty()) {
    return ReadPromptFile(c.prompt_file);
  }
  if (c.prompt.empty()) {
    return absl::InvalidArgumentError("no prompt: give one with -p TEXT, -f FILE or --prompt-ids 1,2,3");
  }
  return c.prompt;
}

// The write end of the SIGINT pipe; -1 outside a generation.
volatile sig_atomic_t interrupt_fd = -1;

void OnInterrupt(int) {
  const int saved = errno;
  const int fd = interrupt_fd;
  if (fd >= 0) {
    const char byte = 'i';
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);
  }
  errno = saved;
}

// While alive, SIGINT cancels `request` instead of killing the process.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(std::shared_ptr<Request> request) {
    if (pipe2(fds_, O_CLOEXEC) != 0) return;  // no pipe: SIGINT keeps its default
    interrupt_fd = fds_[1];
    watcher_ = std::thread([this, request = std::move(request)] {
      char byte = 0;
      ssize_t n;
      while ((n = read(fds_[0], &byte, 1)) < 0 && errno == EINTR) {
      }
      if (n == 1 && byte == 'i') {
        interrupted_ = true;
        request->Cancel();
      }
    });
    struct sigaction action = {};
    action.sa_handler = OnInterrupt;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~CancelOnInterrupt() { Stop(); }
  // Restores SIGINT and ends the watcher; true when a SIGINT cancelled the request.
  bool Stop() {
    if (!watcher_.joinable()) return interrupted_;
    sigaction(SIGINT, &previous_, nullptr);
    interrupt_fd = -1;
    const char done = 'd';  // wakes the watcher if no signal came
    [[maybe_unused]] ssize_t n = write(fds_[1], &done, 1);
    watcher_.join();
    close(fds_[0]);
    close(fds_[1]);
    return interrupted_;
  }

 private:
  int fds_[2] = {-1, -1};
  struct sigaction previous_ = {};
  std::thread watcher_;
  bool interrupted_ = false;  // written by the watcher, read after joining it
};

}  // namespace

int RunGenerate(const RunConfig& config) {
  absl::StatusOr<std::string> prompt = ReadPrompt(config);
  if (!prompt.ok()) return Fail(prompt.status());
  if (absl::Status s = config.generation.Validate(); !s.ok()) return Fail(s);
  std::unique_ptr<RoundLog> round_log;
  GenerationOptions options = config.generation;
  if (!config.round_log.empty()) {
    absl::StatusOr<std::unique_ptr<RoundLog>> log = RoundLog::Open(config.round_log);
    if (!log.ok()) return Fail(log.status());
    round_log = *std::move(log);
    options.on_round = [log = round_log.get()](const RoundRecord& r) { log->Write(r); };
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(config.load);
  if (!engine.ok()) return Fail(engine.status());
  RequestCallback stream = nullptr;
  if (!config.json) {
    stream = [](const RequestEvent& event) {
      std::fwrite(event.text.data(), 1, event.text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  }
  absl::StatusOr<std::shared_ptr<Request>> request =
      config.prompt_ids.empty() ? (*engine)->Submit(*prompt, options, stream)
                                : (*engine)->SubmitTokens(config.prompt_ids, options, stream);
  if (!request.ok()) return Fail(request.status());
  absl::StatusOr<GenerationResult> result;
  CancelOnInterrupt cancel_on_interrupt(*request);
  result = (*request)->Wait();
  const bool interrupted = cancel_on_interrupt.Stop();
  if (!result.ok()) {
    if (!config.json) std::fputs("\n", stdout);
    return Fail(result.status());
  }
  if (config.json) {
    std::cout << GenerationResultJson(*result) << "\n";
  } else {
    std::cout << "\n" << std::flush;
  }
  std::cerr << StatsLine(result->stats, config.generation) << "\n";
  if (round_log) {
    if (absl::Status s = round_log->Close(); !s.ok()) return Fail(s);
  }
  return interrupted && result->stats.stop_reason == "cancelled" ? kInterruptedExitCode : 0;
}

}  // namespace matspec::cli
