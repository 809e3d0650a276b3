#include "kernels/cpu_workspace.h"

#include <new>

namespace matspec {

void* AlignedBuffer::Reserve(int64_t bytes) {
  if (bytes > size_) {
    const int64_t rounded = (bytes + 63) / 64 * 64;
    data_.reset();  // the old buffer first: peak memory is the new size alone
    void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(p);
    size_ = rounded;
  }
  return data_.get();
}

void AlignedBuffer::ShrinkTo(int64_t keep_bytes) {
  if (size_ > keep_bytes) {
    data_.reset();
    size_ = 0;
  }
}

}  // namespace matspec
