#include "server/admission_gate.h"

namespace matspec::server {

AdmissionGate::Slot& AdmissionGate::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

void AdmissionGate::Slot::Release() {
  if (gate_ != nullptr) gate_->Leave();
  gate_ = nullptr;
}

AdmissionGate::Outcome AdmissionGate::Enter(Slot* slot) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) return Outcome::kClosed;
  if (running_ >= max_running_) {
    if (waiting_ >= max_waiting_) return Outcome::kQueueFull;
    ++waiting_;
    changed_.wait(lock, [this] { return release_waiting_ || running_ < max_running_; });
    --waiting_;
    if (release_waiting_) {
      changed_.notify_all();  // WaitIdle may be waiting for this one
      return Outcome::kClosed;
    }
  }
  ++running_;
  lock.unlock();
  *slot = Slot(this);  // after unlocking: replacing a held slot releases it
  return Outcome::kAdmitted;
}

void AdmissionGate::Leave() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
  }
  changed_.notify_all();
}

void AdmissionGate::Close(bool release_waiting) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    release_waiting_ = release_waiting_ || release_waiting;
  }
  changed_.notify_all();
}

bool AdmissionGate::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return running_ == 0 && waiting_ == 0; });
}

int64_t AdmissionGate::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

int64_t AdmissionGate::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_;
}

}  // namespace matspec::server
