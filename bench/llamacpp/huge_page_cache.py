#!/usr/bin/env python3
"""Puts files into the page cache in 2 MiB folios, and says how many of their bytes map as 2 MiB pages.

    python3 bench/llamacpp/huge_page_cache.py FILE...

A read-only file mapping gets 2 MiB pages only where the page cache holds the file in 2 MiB folios, and
that depends on how the file entered the cache (bench/RESULTS.md §5.7): llama-bench decoded the same bf16
GGUF at 21.0 tok/s with 172 MiB of it in 2 MiB pages and at 25.9 tok/s with all of it. So before a
comparison each file is dropped from the cache (POSIX_FADV_DONTNEED; pages another process maps stay) and
read again through an MADV_HUGEPAGE mapping, which ext4 on Linux 6.18 caches in 2 MiB folios; both engines
then start from the same, best page state. Prints one line per file.
"""
import mmap
import os
import sys


def pmd_mapped_kib(start, end):
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo < end and hi > start
            elif inside and line.startswith("FilePmdMapped:"):
                total += int(line.split()[1])
    return total


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        size = os.path.getsize(path)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
                if hasattr(mmap, "MADV_HUGEPAGE"):
                    m.madvise(mmap.MADV_HUGEPAGE)
                for offset in range(0, size, 4096):
                    m[offset]
                # This mapping is the one of `path` in /proc/self/maps (it is the only one).
                kib = 0
                with open("/proc/self/maps") as maps:
                    for line in maps:
                        fields = line.split()
                        if len(fields) >= 6 and os.path.realpath(fields[5]) == os.path.realpath(path):
                            lo, hi = (int(x, 16) for x in fields[0].split("-"))
                            kib += pmd_mapped_kib(lo, hi)
            print(f"{path}: {kib / 1024:.0f} of {size / 2**20:.0f} MiB in 2 MiB pages")
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
