// libFuzzer: a whole safetensors file (8-byte length, JSON header, data) given
// to SafetensorsFile::Open through a memfd, so no disk file is written.
#include <sys/mman.h>
#include <unistd.h>

#include "engine/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("matspec_fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t off = 0;
  while (off < size) {
    const ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto file = matspec::SafetensorsFile::Open(path);
  if (!file.ok()) matspec::fuzz::ExpectNamed(file.status(), path);
  if (file.ok()) {
    for (const auto& [name, rec] : (*file)->tensors()) {
      // Every record must lie inside the mapping: touch its first and last byte.
      if (rec.nbytes > 0) {
        volatile unsigned char a = static_cast<const unsigned char*>(rec.data)[0];
        volatile unsigned char b = static_cast<const unsigned char*>(rec.data)[rec.nbytes - 1];
        (void)a, (void)b;
      }
    }
  }
  close(fd);
  return 0;
}
