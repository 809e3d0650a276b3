// GetBackend: the CPU backend is built in; the CUDA backend is a module found
// and opened with dlopen on first use (engine/backend.h).
//
// Where the module is looked for, in order: $MATSPEC_CUDA_MODULE (a path);
// beside the running executable; ../lib relative to it (build/bin/matspec and
// build/tests/* find build/lib/libmatspec_cuda.so; an installed bin/matspec
// finds lib/); beside the shared library holding this code (an installed
// P/lib/libmatspec.so linked by another program finds P/lib/); then the
// dynamic loader's own search (LD_LIBRARY_PATH).
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/backend.h"
#include "engine/cpu_backend.h"

#ifndef MATSPEC_BUILD_ID
#error "MATSPEC_BUILD_ID must be defined by the build (engine/CMakeLists.txt)"
#endif

namespace matspec {

const char* const kMatspecBuildId = MATSPEC_BUILD_ID;

namespace {

constexpr char kCudaModuleName[] = "libmatspec_cuda.so";
constexpr char kModuleEntry[] = "matspec_backend_v1";
using ModuleEntry = const Backend* (*)(const char* build_id);

std::string ExecutableDir() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return "";
  std::string p(path, n);
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

// The directory of the binary that holds this code: libmatspec.so when a
// program links the shared library, the executable itself otherwise.
std::string ThisBinaryDir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<const void*>(&ThisBinaryDir), &info) == 0 || info.dli_fname == nullptr) return "";
  const std::string p = info.dli_fname;
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Opens the module and asks it for its backend; a message naming the file and
// the cause otherwise.
absl::StatusOr<const Backend*> OpenModule(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot load the CUDA module ", path, ": ", why ? why : "unknown dlopen error",
        " (a missing libcudart/libcublas means the CUDA runtime libraries are not installed or not on "
        "LD_LIBRARY_PATH)"));
  }
  auto entry = reinterpret_cast<ModuleEntry>(dlsym(handle, kModuleEntry));
  if (entry == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a matspec backend module (it has no ", kModuleEntry, " symbol)"));
  }
  const Backend* backend = entry(kMatspecBuildId);
  if (backend == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat(path, " was built from another build of matspec than this ",
                                                      "program (", kMatspecBuildId, "); rebuild both together"));
  }
  return backend;  // the handle stays open for the life of the process
}

absl::StatusOr<const Backend*> LoadCudaModule() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MATSPEC_CUDA_MODULE"); env != nullptr && *env != '\0') {
    if (!Exists(env)) {
      return absl::NotFoundError(absl::StrCat("MATSPEC_CUDA_MODULE names ", env, ", which does not exist"));
    }
    return OpenModule(env);
  }
  const std::string dir = ExecutableDir();
  if (!dir.empty()) {
    candidates.push_back(absl::StrCat(dir, "/", kCudaModuleName));
    candidates.push_back(absl::StrCat(dir, "/../lib/", kCudaModuleName));
  }
  if (const std::string lib = ThisBinaryDir(); !lib.empty() && lib != dir) {
    candidates.push_back(absl::StrCat(lib, "/", kCudaModuleName));
  }
  for (const std::string& c : candidates) {
    if (Exists(c)) return OpenModule(c);
  }
  // Last, the loader's own search path.
  void* handle = dlopen(kCudaModuleName, RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) {
    dlclose(handle);
    return OpenModule(kCudaModuleName);
  }
  return absl::NotFoundError(absl::StrCat(
      "the CUDA module ", kCudaModuleName, " was not found (looked in ", absl::StrJoin(candidates, ", "),
      " and on LD_LIBRARY_PATH; MATSPEC_CUDA_MODULE may name it). This build of matspec may have no CUDA "
      "backend: configure with -DMATSPEC_CUDA=ON where nvcc is installed"));
}

}  // namespace

absl::StatusOr<const Backend*> GetBackend(std::string_view name) {
  if (name == "cpu") return &CpuBackendInstance();
  if (name != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("unknown device \"", std::string(name), "\" (devices: cpu, cuda)"));
  }
  // A successful load is kept; a failed one is retried on the next call (the
  // environment may have changed, e.g. MATSPEC_CUDA_MODULE in a test).
  static std::mutex mu;
  static const Backend* cuda = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (cuda != nullptr) return cuda;
  absl::StatusOr<const Backend*> loaded = LoadCudaModule();
  if (loaded.ok()) cuda = *loaded;
  return loaded;
}

}  // namespace matspec
