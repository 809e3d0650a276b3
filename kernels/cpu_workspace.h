// Scratch memory the CPU kernels reuse from call to call instead of
// allocating it each time: MatMul's bf16 (or quantized) copy of x and the
// prefill GEMM's packed x. A CpuContext points at one (CpuContext::workspace);
// whoever owns the context owns the workspace, one per sequence
// (ForwardScratch), so two threads never share one. A kernel call uses its
// slot only while it runs; calls whose context has no workspace (tests,
// benchmarks) allocate for the call alone, with the same results.
#ifndef MATSPEC_KERNELS_CPU_WORKSPACE_H_
#define MATSPEC_KERNELS_CPU_WORKSPACE_H_

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace matspec {

// 64-byte aligned memory that grows on demand and is kept between uses.
class AlignedBuffer {
 public:
  // At least `bytes` bytes (contents unspecified; earlier contents are lost
  // when it grows). Throws std::bad_alloc, as operator new does, when memory is
  // exhausted.
  void* Reserve(int64_t bytes);
  // Frees the memory when it holds more than `keep_bytes` (a long prompt's
  // buffer is not kept for the decode steps after it).
  void ShrinkTo(int64_t keep_bytes);
  int64_t size() const { return size_; }

 private:
  struct Free {
    void operator()(void* q) const { std::free(q); }
  };
  std::unique_ptr<void, Free> data_;
  int64_t size_ = 0;
};

class CpuWorkspace {
 public:
  enum class Slot { kConvertedX, kPackedX };
  AlignedBuffer& slot(Slot s) { return s == Slot::kConvertedX ? converted_x_ : packed_x_; }

 private:
  AlignedBuffer converted_x_;  // MatMul: x rounded to bf16 or quantized per block
  AlignedBuffer packed_x_;     // the prefill GEMM: x packed into token tiles
};

// The buffer of `slot` for one kernel call: the workspace's when there is
// one, otherwise `local` (a buffer of the caller's, freed after the call).
inline AlignedBuffer& WorkspaceSlot(CpuWorkspace* workspace, CpuWorkspace::Slot slot, AlignedBuffer& local) {
  return workspace != nullptr ? workspace->slot(slot) : local;
}

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CPU_WORKSPACE_H_
