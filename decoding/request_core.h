// RequestCore: the state one request shares between its handle (Request, on
// the caller's threads) and whatever advances it (today a thread of its own
// running RunGeneration; later a batching scheduler). The advancing side calls
// Publish() after each round and Finish() once; it polls cancelled() between
// rounds. The handle side reads events, statistics and the result.
#ifndef MATSPEC_DECODING_REQUEST_CORE_H_
#define MATSPEC_DECODING_REQUEST_CORE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "absl/status/statusor.h"
#include "matspec/matspec.h"

namespace matspec {

class RequestCore {
 public:
  // With a callback, events go to it; without, they queue for NextEvent().
  explicit RequestCore(RequestCallback on_event) : on_event_(std::move(on_event)) {}

  // --- advancing side ---
  // Delivers one event and records the statistics so far; false when the
  // callback asked to stop.
  bool Publish(RequestEvent event, const GenerationStats& stats_so_far);
  // Records the outcome and wakes every waiter. Called exactly once.
  void Finish(absl::StatusOr<GenerationResult> result);
  // The flag checked between rounds.
  bool cancelled() const { return cancel_.load(std::memory_order_relaxed); }
  // For the decoding loop, which polls it directly.
  const std::atomic<bool>* cancel_flag() const { return &cancel_; }

  // --- handle side ---
  void Cancel() { cancel_.store(true, std::memory_order_relaxed); }
  std::optional<RequestEvent> NextEvent();
  absl::StatusOr<GenerationResult> WaitResult();
  bool done() const;
  GenerationStats stats() const;

 private:
  const RequestCallback on_event_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<RequestEvent> events_;                         // guarded by mu_
  GenerationStats stats_;                                   // guarded by mu_
  std::optional<absl::StatusOr<GenerationResult>> result_;  // guarded by mu_; set once: done
};

}  // namespace matspec

#endif  // MATSPEC_DECODING_REQUEST_CORE_H_
