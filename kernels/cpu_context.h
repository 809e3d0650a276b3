// The explicit execution context of the CPU kernels: how many threads a kernel
// may use. Owned by whoever runs a forward pass; nothing here is process-wide.
#ifndef MATSPEC_KERNELS_CPU_CONTEXT_H_
#define MATSPEC_KERNELS_CPU_CONTEXT_H_

namespace matspec {

struct CpuContext {
  int num_threads = 1;  // OpenMP team size used by the parallel kernels; >= 1
};

}  // namespace matspec

#endif  // MATSPEC_KERNELS_CPU_CONTEXT_H_
