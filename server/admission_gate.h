// Admission control: at most `max_running` requests generate at once, at most
// `max_waiting` more wait for a slot, and any further request is refused at
// once (the server answers 503) rather than queued without bound. Closing the
// gate (SIGTERM) refuses new requests; the waiting ones keep their place
// unless the close releases them too.
// Thread-safe.
#ifndef MATSPEC_SERVER_ADMISSION_GATE_H_
#define MATSPEC_SERVER_ADMISSION_GATE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace matspec::server {

class AdmissionGate {
 public:
  AdmissionGate(int64_t max_running, int64_t max_waiting) : max_running_(max_running), max_waiting_(max_waiting) {}

  enum class Outcome { kAdmitted, kQueueFull, kClosed };

  // Holds one running slot while alive (move-only).
  class Slot {
   public:
    Slot() = default;
    explicit Slot(AdmissionGate* gate) : gate_(gate) {}
    Slot(Slot&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    void Release();

   private:
    AdmissionGate* gate_ = nullptr;
  };

  // Takes a running slot into *slot, waiting while all are taken; kQueueFull
  // when `max_waiting` requests already wait, kClosed once Close() was called.
  Outcome Enter(Slot* slot);

  // Refuses every later Enter; with `release_waiting`, the requests waiting
  // now leave too (kClosed).
  void Close(bool release_waiting);
  // Waits until no request runs or waits, or until `deadline`; true if idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);

  int64_t running() const;
  int64_t waiting() const;

 private:
  void Leave();
  const int64_t max_running_;
  const int64_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int64_t running_ = 0;
  int64_t waiting_ = 0;
  bool closed_ = false;
  bool release_waiting_ = false;
};

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_ADMISSION_GATE_H_
