// CudaContext, DeviceBuffer, WorkspaceArena and the status conversion. The
// conversion, the arena and the "no device" path run on every machine; the
// rest needs a GPU and skips without one.
#include "kernels/cuda/cuda_context.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "kernels/cuda/cuda_status.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;

bool Contains(const absl::Status& s, const std::string& part) {
  return std::string(s.message()).find(part) != std::string::npos;
}

absl::Status FailsWithInvalidValue() {
  CUDA_RETURN_IF_ERROR(cudaErrorInvalidValue);
  return absl::OkStatus();
}

TEST(CudaStatusTest, SuccessIsOk) {
  EXPECT_TRUE(CudaStatusFrom(cudaSuccess, "x", "f.cc", 1).ok());
  EXPECT_TRUE(CudaStatusFrom(CUBLAS_STATUS_SUCCESS, "x", "f.cc", 1).ok());
}

TEST(CudaStatusTest, ErrorsNameTheCallFileAndLine) {
  const absl::Status oom = CudaStatusFrom(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "a.cc", 12);
  EXPECT_EQ(oom.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(oom, "a.cc:12")) << oom;
  EXPECT_TRUE(Contains(oom, "cudaMalloc(&p, n)")) << oom;
  EXPECT_TRUE(Contains(oom, "cudaErrorMemoryAllocation")) << oom;

  EXPECT_EQ(CudaStatusFrom(cudaErrorNoDevice, "x", "a.cc", 1).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CudaStatusFrom(cudaErrorLaunchFailure, "x", "a.cc", 1).code(), absl::StatusCode::kInternal);

  const absl::Status blas = CudaStatusFrom(CUBLAS_STATUS_INVALID_VALUE, "cublasGemmEx(...)", "b.cc", 7);
  EXPECT_EQ(blas.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(blas, "b.cc:7")) << blas;
  EXPECT_TRUE(Contains(blas, "CUBLAS_STATUS_INVALID_VALUE")) << blas;
  EXPECT_EQ(CudaStatusFrom(CUBLAS_STATUS_ALLOC_FAILED, "x", "b.cc", 1).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(CudaStatusTest, MacroReturnsTheStatusWithThisFile) {
  const absl::Status s = FailsWithInvalidValue();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "cuda_context_test.cc:")) << s;
  EXPECT_TRUE(Contains(s, "cudaErrorInvalidValue")) << s;
}

TEST(WorkspaceArenaTest, AlignsEveryTakeAndMeasuresWithoutABase) {
  WorkspaceArena measure(nullptr);
  measure.Take<char>(1);
  measure.Take<double>(33);  // 264 bytes -> 512
  measure.Take<int>(0);
  EXPECT_EQ(measure.used(), 256u + 512u);

  alignas(256) static char base[2048];
  WorkspaceArena arena(base);
  char* a = arena.Take<char>(1);
  double* b = arena.Take<double>(33);
  float* c = arena.Take<float>(1);
  EXPECT_EQ(a, base);
  EXPECT_EQ(reinterpret_cast<char*>(b), base + 256);
  EXPECT_EQ(reinterpret_cast<char*>(c), base + 768);
  EXPECT_EQ(arena.used(), measure.used() + 256);
}

// Runs only where there is NO GPU (the CI machine): every entry point fails
// with a status instead of crashing.
TEST(CudaNoDeviceTest, CreateAndAllocateFailCleanly) {
  if (CudaDeviceAvailable().ok()) GTEST_SKIP() << "a GPU is present; the GPU tests cover it";
  const absl::Status probe = CudaDeviceAvailable();
  EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(probe, "cudaGetDeviceCount")) << probe;  // names the driver or the device
  absl::StatusOr<std::unique_ptr<CudaContext>> ctx = CudaContext::Create();
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.status().code(), absl::StatusCode::kUnavailable) << ctx.status();
  absl::StatusOr<DeviceBuffer> buf = DeviceBuffer::Allocate(64);
  EXPECT_FALSE(buf.ok());
}

using CudaContextTest = CudaTest;

TEST_F(CudaContextTest, OwnsAStreamAHandleAndAWorkspace) {
  EXPECT_NE(ctx_->stream(), nullptr);
  EXPECT_GE(ctx_->workspace_bytes(), size_t{1} << 20);
  EXPECT_NE(ctx_->workspace().data, nullptr);
  absl::StatusOr<cublasHandle_t> handle = ctx_->CublasOn(ctx_->stream());
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_NE(*handle, nullptr);
  ASSERT_TRUE(ctx_->ReserveWorkspace(size_t{5} << 20).ok());
  EXPECT_GE(ctx_->workspace_bytes(), size_t{5} << 20);
  ASSERT_TRUE(ctx_->ReserveWorkspace(16).ok());  // never shrinks
  EXPECT_GE(ctx_->workspace_bytes(), size_t{5} << 20);
  EXPECT_TRUE(ctx_->Synchronize().ok());
}

TEST_F(CudaContextTest, BadDeviceIndexIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<CudaContext>> other = CudaContext::Create(0, 100000);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument) << other.status();
}

TEST_F(CudaContextTest, OutOfMemorySaysNeededAndFree) {
  const size_t huge = size_t{1} << 50;  // 1 PiB
  absl::StatusOr<DeviceBuffer> buf = DeviceBuffer::Allocate(huge);
  ASSERT_FALSE(buf.ok());
  EXPECT_EQ(buf.status().code(), absl::StatusCode::kResourceExhausted) << buf.status();
  EXPECT_TRUE(Contains(buf.status(), "GPU out of memory: needed 1125899906842624 bytes")) << buf.status();
  EXPECT_TRUE(Contains(buf.status(), " free")) << buf.status();
  // The failure left no stale error behind: the next allocation and a launch check pass.
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  absl::StatusOr<DeviceBuffer> small = DeviceBuffer::Allocate(1024);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->size(), 1024u);
}

TEST_F(CudaContextTest, DeviceBufferMovesOwnership) {
  absl::StatusOr<DeviceBuffer> a = DeviceBuffer::Allocate(4096);
  ASSERT_TRUE(a.ok()) << a.status();
  void* p = a->data();
  DeviceBuffer b = std::move(*a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a->data(), nullptr);
  DeviceBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 4096u);
  absl::StatusOr<DeviceBuffer> empty = DeviceBuffer::Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->data(), nullptr);
}

}  // namespace
}  // namespace matspec
