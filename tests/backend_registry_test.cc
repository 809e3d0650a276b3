// Device selection (engine/backend.h): the CPU backend is built in; --device
// cuda opens the module libmatspec_cuda.so, and each way that can fail ends
// with a clear error: no module, a file that is not a module, a module of
// another kind, no driver or no GPU. Runs in every build: in a CPU-only build
// the module is simply absent; in a CUDA build on a machine without a GPU the
// module loads and the device is refused.
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/backend.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec {
namespace {

bool Contains(const absl::Status& s, const std::string& part) {
  return std::string(s.message()).find(part) != std::string::npos;
}

// Sets MATSPEC_CUDA_MODULE for one test.
class ScopedModulePath {
 public:
  explicit ScopedModulePath(const std::string& path) { setenv("MATSPEC_CUDA_MODULE", path.c_str(), 1); }
  ~ScopedModulePath() { unsetenv("MATSPEC_CUDA_MODULE"); }
};

absl::Status LoadOnCuda() {
  LoadOptions lo;
  lo.model_dir = "models/matlm-tiny";
  lo.device = "cuda";
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::Load(lo);
  return e.ok() ? absl::OkStatus() : e.status();
}

TEST(BackendRegistryTest, CpuIsBuiltIn) {
  absl::StatusOr<const Backend*> cpu = GetBackend("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_TRUE((*cpu)->concurrent_sequences());
}

TEST(BackendRegistryTest, UnknownDeviceIsRefused) {
  absl::StatusOr<const Backend*> b = GetBackend("tpu");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(b.status(), "tpu")) << b.status();
}

TEST(BackendRegistryTest, MissingModuleIsNamed) {
  ScopedModulePath env("/nonexistent/libmatspec_cuda.so");
  const absl::Status s = LoadOnCuda();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(Contains(s, "--device cuda")) << s;
  EXPECT_TRUE(Contains(s, "/nonexistent/libmatspec_cuda.so")) << s;
}

TEST(BackendRegistryTest, AFileThatIsNotASharedObjectIsRefused) {
  testing::ScopedTempDir dir("backend_registry");
  const std::string path = dir.path() + "/libmatspec_cuda.so";
  std::ofstream(path) << "not an ELF file\n";
  ScopedModulePath env(path);
  const absl::Status s = LoadOnCuda();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(Contains(s, "cannot load the CUDA module " + path)) << s;
}

TEST(BackendRegistryTest, ASharedObjectWithoutTheEntryPointIsRefused) {
  // Any shared object of the system that is not a matspec module: the C math library.
  const std::string libm = "/lib/x86_64-linux-gnu/libm.so.6";
  if (!std::ifstream(libm)) GTEST_SKIP() << libm << " not present";
  ScopedModulePath env(libm);
  const absl::Status s = LoadOnCuda();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(Contains(s, "is not a matspec backend module")) << s;
}

// Without MATSPEC_CUDA_MODULE: a CPU-only build has no module (NotFound, with
// the configure hint); a CUDA build finds its module, which refuses a machine
// without a driver or a GPU by name. With a GPU the load succeeds (the GPU
// tests cover it).
TEST(BackendRegistryTest, DefaultSearchExplainsWhatIsMissing) {
  const absl::Status s = LoadOnCuda();
  if (s.ok()) GTEST_SKIP() << "a GPU is present and the module loaded";
  if (s.code() == absl::StatusCode::kNotFound) {
    EXPECT_TRUE(Contains(s, "libmatspec_cuda.so was not found")) << s;
    EXPECT_TRUE(Contains(s, "-DMATSPEC_CUDA=ON")) << s;
    return;
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(Contains(s, "driver") || Contains(s, "GPU")) << s;
  EXPECT_TRUE(Contains(s, "--device cuda")) << s;
}

}  // namespace
}  // namespace matspec
