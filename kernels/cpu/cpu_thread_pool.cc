#include "kernels/cpu_thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace matspec {
namespace {

// A few to ~100 microseconds of polling (PAUSE takes 10-150 cycles, depending
// on the CPU) before a worker sleeps: long enough to
// catch the next product of a forward pass, short enough not to hold a core.
constexpr int kSpinIterations = 1 << 12;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
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
  for (int spin = 0; spin < kSpinIterations; ++spin) {
    if (job.refs.load(std::memory_order_acquire) == 0) return;
    CpuRelax();
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return job.refs.load(std::memory_order_acquire) == 0; });
}

void CpuThreadPool::WorkerLoop() {
  uint64_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    for (int spin = 0; spin < kSpinIterations; ++spin) {
      if (generation_.load(std::memory_order_acquire) != seen) break;
      CpuRelax();
    }
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
