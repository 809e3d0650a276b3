// File-backed weights through 2 MiB pages.
//
// A decode step streams every weight from DRAM, and the hardware prefetchers
// stop at 4 KiB page boundaries: on the development machine a plain sum reads
// ~21-22 GB/s through 2 MiB pages against 15-19 GB/s through 4 KiB pages, and
// the 410 M bf16 llama decodes ~15 % faster (bench/RESULTS.md §5.7). A
// read-only file mapping gets 2 MiB pages only where the page cache holds the
// file in 2 MiB folios, which depends on how the file entered the cache: ext4
// on Linux 6.18 caches a file faulted through an MADV_HUGEPAGE mapping in 2 MiB
// folios, but one read before through 4 KiB pages (by another program, or by
// plain reads) stays in small folios for as long as it is cached.
//
// PreferFileHugePages makes the best of it without copying the weights, for
// the byte ranges of the file that are read every step (the chunks: the
// 2 MiB-aligned blocks of the mapping that overlap them; an embedding table
// read a few rows per token, or a vision tower never read, stays unread):
//  1. fault the chunks in (MADV_POPULATE_READ) and count the bytes mapped
//     through 2 MiB pages (/proc/self/smaps, FilePmdMapped);
//  2. if most already are, stop;
//  3. else probe one chunk: drop it from the mapping and from the page cache
//     (MADV_DONTNEED, POSIX_FADV_DONTNEED) and fault it in again; if it comes
//     back as a 2 MiB page, the file system can do it, so do the same for
//     every chunk (one read of them from disk, once per page-cache life: the
//     next load finds 2 MiB folios at step 2);
//  4. otherwise leave it (a file system without large folios such as tmpfs
//     without huge=, an older kernel, or a file another process maps in small
//     pages).
// Nothing depends on the outcome but speed; the bytes read are the same file's.
#ifndef MATSPEC_ENGINE_HUGE_PAGES_H_
#define MATSPEC_ENGINE_HUGE_PAGES_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace matspec {

inline constexpr int64_t kHugePageBytes = int64_t{2} << 20;

// A byte range of a file: [offset, offset + length).
struct FileRange {
  int64_t offset = 0;
  int64_t length = 0;
};

struct HugePageReport {
  int64_t eligible_bytes = 0;  // bytes of the chunks (whole 2 MiB pages of the mappings)
  int64_t huge_bytes = 0;      // of those, mapped through 2 MiB pages now
  bool reread = false;         // a file was dropped from the page cache and read again
  bool measured = true;        // false where /proc/self/smaps could not be read

  HugePageReport& operator+=(const HugePageReport& o) {
    eligible_bytes += o.eligible_bytes;
    huge_bytes += o.huge_bytes;
    reread = reread || o.reread;
    measured = measured && o.measured;
    return *this;
  }
};

// `map`: a read-only MAP_PRIVATE mapping of the whole file `path` (size bytes,
// at offset 0), which was (dev, ino) when mapped; `ranges`: the parts read
// every step. The mapping gets MADV_HUGEPAGE. The page cache is dropped only
// for that same file (checked by dev and inode), only for the chunks, and only
// when the probe shows that 2 MiB pages come back.
HugePageReport PreferFileHugePages(const std::string& path, dev_t dev, ino_t ino, const void* map, int64_t size,
                                   const std::vector<FileRange>& ranges);

// Bytes of [begin, begin + size) mapped through 2 MiB file pages
// (FilePmdMapped, summed over the mappings that overlap it), or -1 where
// /proc/self/smaps cannot be read.
int64_t FilePmdMappedBytes(const void* begin, int64_t size);

// "782.6 MiB of 782.6 MiB in 2 MiB pages (read again once)" and the like.
std::string DescribeHugePages(const HugePageReport& r);

}  // namespace matspec

#endif  // MATSPEC_ENGINE_HUGE_PAGES_H_
