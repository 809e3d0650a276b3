// A team of worker threads for the CPU kernels whose waits cannot collapse
// when another process holds a core. OpenMP's fork-join spins until every
// thread of the team has arrived, so one descheduled thread stalls the call
// (2 threads measured ~10x slower than 1 on a shared 2-core machine), and
// libgomp reads OMP_WAIT_POLICY only when it loads. Here:
//  - items are claimed dynamically and the calling thread works too, so a
//    descheduled worker delays a call by at most the item it holds;
//  - an idle worker spins up to 1 ms for the next call, then sleeps on a
//    condition variable (so it burns at most that much of a core after a call).
// Results never depend on which thread ran an item (the kernels make each
// output a function of its inputs only).
//
// Ownership: whoever owns a CpuContext may own a pool and point the context at
// it (CpuContext::pool); nothing is process-wide. Concurrent ParallelFor calls
// on one pool are serialised; use one pool per concurrently decoding thread.
#ifndef MATSPEC_KERNELS_CPU_THREAD_POOL_H_
#define MATSPEC_KERNELS_CPU_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace matspec {

class CpuThreadPool {
 public:
  // A team of num_threads (>= 1) threads: the caller of ParallelFor and
  // num_threads - 1 workers started here.
  explicit CpuThreadPool(int num_threads);
  ~CpuThreadPool();  // stops and joins the workers
  CpuThreadPool(const CpuThreadPool&) = delete;
  CpuThreadPool& operator=(const CpuThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(i) exactly once for every i in [0, n), on the calling thread and
  // the workers, and returns when every call has returned.
  template <class Fn>
  void ParallelFor(int64_t n, const Fn& fn) {
    Run(n, [](const void* f, int64_t i) { (*static_cast<const Fn*>(f))(i); }, &fn);
  }

 private:
  struct Job {
    void (*call)(const void*, int64_t);
    const void* fn;
    int64_t n;
    std::atomic<int64_t> next{0};  // next unclaimed item
    std::atomic<int> refs{0};      // workers holding this job
  };

  void Run(int64_t n, void (*call)(const void*, int64_t), const void* fn);
  void WorkerLoop();
  static void Drain(Job& job);

  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one job at a time
  std::mutex mu_;         // guards current_, stop_, sleepers_; with the cvs
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};  // bumped for every job
  Job* current_ = nullptr;
  int sleepers_ = 0;
  bool stop_ = false;
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CPU_THREAD_POOL_H_
