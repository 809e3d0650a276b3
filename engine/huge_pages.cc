// File-backed weights through 2 MiB pages; see engine/huge_pages.h.
#include "engine/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

namespace matspec {
namespace {

uintptr_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// Faults [begin, begin + size) in; where MADV_POPULATE_READ is unknown (older
// kernels), by reading one byte per 4 KiB page.
void Populate(const void* begin, int64_t size) {
  if (size <= 0) return;
  if (::madvise(const_cast<void*>(begin), static_cast<size_t>(size), MADV_POPULATE_READ) == 0) return;
  const volatile char* p = static_cast<const volatile char*>(begin);
  char sink = 0;
  for (int64_t i = 0; i < size; i += 4096) sink = static_cast<char>(sink ^ p[i]);
  (void)sink;
}

// Drops [offset, offset + len) of the file from this mapping and from the page
// cache (clean, unmapped pages only: the kernel keeps what others map).
void Drop(int fd, const char* map, int64_t offset, int64_t len) {
  ::madvise(const_cast<char*>(map) + offset, static_cast<size_t>(len), MADV_DONTNEED);
  ::posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED);
}

// The file offsets of the 2 MiB-aligned blocks of [map, map + size) (whole
// blocks only) that overlap one of `ranges`, in order.
std::vector<int64_t> Chunks(const void* map, int64_t size, const std::vector<FileRange>& ranges) {
  const uintptr_t b = Addr(map), e = b + static_cast<uintptr_t>(size), h = kHugePageBytes;
  const uintptr_t first = (b + h - 1) / h * h, last = e / h * h;
  std::vector<int64_t> chunks;
  for (const FileRange& r : ranges) {
    if (r.length <= 0) continue;
    const uintptr_t rb = b + static_cast<uintptr_t>(r.offset), re = rb + static_cast<uintptr_t>(r.length);
    for (uintptr_t c = std::max(first, rb / h * h); c < std::min(last, re); c += h) {
      chunks.push_back(static_cast<int64_t>(c - b));
    }
  }
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  return chunks;
}

// Opens `path` if it is still the mapped file.
int OpenSameFile(const std::string& path, dev_t dev, ino_t ino) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int64_t FilePmdMappedBytes(const void* begin, int64_t size) {
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (f == nullptr) return -1;
  const uintptr_t b = Addr(begin), e = b + static_cast<uintptr_t>(size);
  int64_t total = 0;
  bool inside = false;
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    uintptr_t vb = 0, ve = 0;
    char dash = 0;
    // A mapping's header: "start-end perms offset dev inode path".
    if (std::sscanf(line, "%" SCNxPTR "%c%" SCNxPTR, &vb, &dash, &ve) == 3 && dash == '-') {
      inside = vb < e && ve > b;
      continue;
    }
    long long kb = 0;
    if (inside && std::sscanf(line, "FilePmdMapped: %lld kB", &kb) == 1) total += kb * 1024;
  }
  std::fclose(f);
  return total;
}

HugePageReport PreferFileHugePages(const std::string& path, dev_t dev, ino_t ino, const void* map, int64_t size,
                                   const std::vector<FileRange>& ranges) {
  HugePageReport r;
  const std::vector<int64_t> chunks = Chunks(map, size, ranges);
  r.eligible_bytes = static_cast<int64_t>(chunks.size()) * kHugePageBytes;
  if (chunks.empty()) return r;
  const char* bytes = static_cast<const char*>(map);
  const auto populate_all = [&] {
    for (const int64_t c : chunks) Populate(bytes + c, kHugePageBytes);
  };
  ::madvise(const_cast<void*>(map), static_cast<size_t>(size), MADV_HUGEPAGE);
  populate_all();
  r.huge_bytes = FilePmdMappedBytes(map, size);
  if (r.huge_bytes < 0) return HugePageReport{.eligible_bytes = r.eligible_bytes, .measured = false};
  if (r.huge_bytes * 10 >= r.eligible_bytes * 9) return r;  // most already are

  const int fd = OpenSameFile(path, dev, ino);
  if (fd < 0) return r;
  // The probe: a chunk that is not a 2 MiB page now (dropping it from the
  // mapping takes nothing off the count), dropped from the page cache and
  // faulted in again. Up to 16 tries spread over the chunks (a file that is
  // mostly in 2 MiB pages already needs a few to find one that is not).
  bool huge_comes_back = false;
  const size_t n = chunks.size();
  for (size_t attempt = 0; attempt < 16; ++attempt) {
    const int64_t chunk = chunks[(n / 2 + attempt * (n / 16 + 1) + attempt) % n];
    ::madvise(const_cast<char*>(bytes) + chunk, static_cast<size_t>(kHugePageBytes), MADV_DONTNEED);
    const int64_t without = FilePmdMappedBytes(map, size);
    if (without < r.huge_bytes) {  // it was a 2 MiB page already: put it back, try another
      Populate(bytes + chunk, kHugePageBytes);
      continue;
    }
    Drop(fd, bytes, chunk, kHugePageBytes);
    Populate(bytes + chunk, kHugePageBytes);
    huge_comes_back = FilePmdMappedBytes(map, size) >= without + kHugePageBytes;
    break;
  }
  if (huge_comes_back) {
    for (const int64_t c : chunks) Drop(fd, bytes, c, kHugePageBytes);
    populate_all();
    r.reread = true;
  }
  ::close(fd);
  r.huge_bytes = FilePmdMappedBytes(map, size);
  if (r.huge_bytes < 0) return HugePageReport{.eligible_bytes = r.eligible_bytes, .reread = r.reread, .measured = false};
  r.huge_bytes = std::min(r.huge_bytes, r.eligible_bytes);  // the count covers the whole mapping
  return r;
}

std::string DescribeHugePages(const HugePageReport& r) {
  if (!r.measured) return "unknown (/proc/self/smaps unreadable)";
  if (r.eligible_bytes == 0) return "none (no weight read every step spans a whole 2 MiB page)";
  return absl::StrFormat("%.1f MiB of %.1f MiB in 2 MiB pages%s", r.huge_bytes / 1048576.0,
                         r.eligible_bytes / 1048576.0,
                         r.reread ? " (the page cache held 4 KiB pages: the file was read again once)" : "");
}

}  // namespace matspec
