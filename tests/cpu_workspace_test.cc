// CpuWorkspace / AlignedBuffer: memory is 64-byte aligned, kept between uses,
// grows on demand and is freed by ShrinkTo only above the kept size. (That
// MatMul gives the same bits with a kept workspace is matmul_batch_test's.)
#include "kernels/cpu_workspace.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace matspec {
namespace {

bool Aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST(AlignedBufferTest, GrowsKeepsAndShrinks) {
  AlignedBuffer b;
  EXPECT_EQ(b.size(), 0);
  void* first = b.Reserve(100);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(Aligned64(first));
  EXPECT_EQ(b.size(), 128);  // rounded up to whole cache lines
  std::memset(first, 0xab, 128);
  EXPECT_EQ(b.Reserve(64), first) << "a smaller request reuses the memory";
  EXPECT_EQ(static_cast<unsigned char*>(first)[127], 0xab) << "and keeps its contents";
  void* grown = b.Reserve(1000);
  EXPECT_TRUE(Aligned64(grown));
  EXPECT_EQ(b.size(), 1024);
  b.ShrinkTo(1024);
  EXPECT_EQ(b.size(), 1024) << "not above the kept size: kept";
  b.ShrinkTo(512);
  EXPECT_EQ(b.size(), 0) << "above it: freed";
  EXPECT_TRUE(Aligned64(b.Reserve(1)));
}

TEST(CpuWorkspaceTest, SlotsAreDistinctAndLocalFallback) {
  CpuWorkspace w;
  AlignedBuffer& x = w.slot(CpuWorkspace::Slot::kConvertedX);
  AlignedBuffer& packed = w.slot(CpuWorkspace::Slot::kPackedX);
  EXPECT_NE(&x, &packed);
  AlignedBuffer local;
  EXPECT_EQ(&WorkspaceSlot(&w, CpuWorkspace::Slot::kPackedX, local), &packed);
  EXPECT_EQ(&WorkspaceSlot(nullptr, CpuWorkspace::Slot::kPackedX, local), &local);
}

}  // namespace
}  // namespace matspec
