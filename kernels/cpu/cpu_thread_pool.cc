#include "kernels/cpu_thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace matspec {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// How long an idle thread polls before it sleeps. A wake-up from the condition
// variable costs tens of microseconds on a VM and meets cold caches, and the
// gaps it has to bridge are the single-threaded stretches between two
// parallel products: a draft step of the bundled model's slices (its layer
// products are too small to share) takes 150-300 us at 2 threads, so a
// round's verification used to wake a sleeping worker after every draft.
// Spinning 1 ms instead of ~100 us (a PAUSE count, whose latency also varies
// 10x between CPUs) lowered the measured draft cost c by 6-9 % and lifted
// fixed-k speed-ups by 2-4 % at 2 threads, plain decoding unchanged
// (bench/RESULTS.md §10.2.10). A time, not a count, so the budget is the
// same on every CPU.
constexpr std::chrono::microseconds kSpinBudget{1000};

// Polls `ready` for up to kSpinBudget; true once it holds.
template <class Ready>
bool SpinUntil(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

}  // namespace

CpuThreadPool::CpuThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

CpuThreadPool::~CpuThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void CpuThreadPool::Drain(Job& job) {
  for (int64_t i = job.next.fetch_add(1, std::memory_order_relaxed); i < job.n;
       i = job.next.fetch_add(1, std::memory_order_relaxed)) {
    job.call(job.fn, i);
  }
}

void CpuThreadPool::Run(int64_t n, void (*call)(const void*, int64_t), const void* fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) call(fn, i);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  Job job{call, fn, n};
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = &job;
    generation_.fetch_add(1, std::memory_order_release);
    if (sleepers_ > 0) wake_cv_.notify_all();
  }
  Drain(job);
  // No worker takes the job from here on; wait for those that hold it.
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = nullptr;
  }
  if (SpinUntil([&] { return job.refs.load(std::memory_order_acquire) == 0; })) return;
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return job.refs.load(std::memory_order_acquire) == 0; });
}

void CpuThreadPool::WorkerLoop() {
  uint64_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (generation_.load(std::memory_order_relaxed) == seen && !stop_) {
        ++sleepers_;
        wake_cv_.wait(lock, [&] {
          return stop_ || generation_.load(std::memory_order_relaxed) != seen;
        });
        --sleepers_;
      }
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      job = current_;
      if (job != nullptr) job->refs.fetch_add(1, std::memory_order_relaxed);
    }
    if (job == nullptr) continue;  // that job is already finished
    Drain(*job);
    if (job->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_all();
    }
  }
}

}  // namespace matspec
