// Request (the public handle) and RequestCore (its shared state).
#include <utility>

#include "decoding/batch_scheduler.h"
#include "decoding/request_core.h"
#include "matspec/matspec.h"

namespace matspec {

bool RequestCore::Publish(RequestEvent event, const GenerationStats& stats_so_far) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = stats_so_far;
    if (!on_event_) events_.push_back(std::move(event));
  }
  changed_.notify_all();
  return on_event_ ? on_event_(event) : true;
}

void RequestCore::Finish(absl::StatusOr<GenerationResult> result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (result.ok()) stats_ = result->stats;
    result_ = std::move(result);
  }
  changed_.notify_all();
}

std::optional<RequestEvent> RequestCore::NextEvent() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !events_.empty() || result_.has_value(); });
  if (events_.empty()) return std::nullopt;
  RequestEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

absl::StatusOr<GenerationResult> RequestCore::WaitResult() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return result_.has_value(); });
  return *result_;
}

bool RequestCore::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_.has_value();
}

GenerationStats RequestCore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Request::Request(uint64_t id, std::shared_ptr<RequestCore> core) : id_(id), core_(std::move(core)) {}

Request::~Request() {
  core_->Cancel();  // no effect once ended
  if (scheduler_) {
    // The scheduler ends it within a round; a handle dropped by a callback (on
    // the scheduler's thread) cannot wait for that.
    if (scheduler_->thread_id() != std::this_thread::get_id()) (void)core_->WaitResult();
    return;
  }
  if (!worker_.joinable()) return;
  // A handle dropped by its own callback cannot wait for itself; the thread
  // holds what it needs and ends within the round.
  if (worker_.get_id() == std::this_thread::get_id()) {
    worker_.detach();
  } else {
    worker_.join();
  }
}

std::optional<RequestEvent> Request::Next() { return core_->NextEvent(); }
void Request::Cancel() { core_->Cancel(); }
absl::StatusOr<GenerationResult> Request::Wait() { return core_->WaitResult(); }
bool Request::Done() const { return core_->done(); }
GenerationStats Request::Stats() const { return core_->stats(); }

}  // namespace matspec
