// engine/huge_pages.h: file mappings through 2 MiB pages. Whether the kernel
// gives them depends on the kernel, the file system and the page cache, so the
// tests check what must hold everywhere: the bytes read are the file's, the
// counts are consistent, a second call finds nothing to re-read, a file that is
// no longer the mapped one is never dropped, and an engine decodes the same
// tokens with and without it.
#include "engine/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "engine/weight_store.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"

namespace matspec {
namespace {

// A file of `bytes` bytes with a position-dependent pattern, mapped read-only.
class MappedFile {
 public:
  // bytes > 0 writes the file first; 0 maps the file as it is.
  MappedFile(const std::string& path, int64_t bytes) : path_(path), size_(bytes) {
    if (bytes > 0) {
      std::vector<uint32_t> words(static_cast<size_t>(bytes / 4));
      for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<uint32_t>(i * 2654435761u);
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(words.data()), bytes);
    }
    const int fd = ::open(path.c_str(), O_RDONLY);
    struct stat st;
    ::fstat(fd, &st);
    size_ = static_cast<int64_t>(st.st_size);
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    map_ = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
  }
  ~MappedFile() {
    if (map_ != MAP_FAILED) ::munmap(map_, static_cast<size_t>(size_));
  }
  bool ok() const { return map_ != MAP_FAILED; }
  // True when every word still holds the pattern.
  bool Intact() const {
    const auto* w = static_cast<const uint32_t*>(map_);
    for (int64_t i = 0; i < size_ / 4; ++i) {
      if (w[i] != static_cast<uint32_t>(static_cast<uint64_t>(i) * 2654435761u)) return false;
    }
    return true;
  }
  HugePageReport Prefer(ino_t ino) const { return PreferFileHugePages(path_, dev_, ino, map_, size_, {{0, size_}}); }
  HugePageReport PreferRange(FileRange range) const {
    return PreferFileHugePages(path_, dev_, ino_, map_, size_, {range});
  }
  // Resident pages of [offset, offset + length) (mincore).
  int64_t ResidentPages(int64_t offset, int64_t length) const {
    std::vector<unsigned char> v(static_cast<size_t>((length + 4095) / 4096));
    if (::mincore(static_cast<char*>(map_) + offset, static_cast<size_t>(length), v.data()) != 0) return -1;
    int64_t n = 0;
    for (unsigned char c : v) n += c & 1;
    return n;
  }
  ino_t ino() const { return ino_; }
  dev_t dev() const { return dev_; }
  const void* map() const { return map_; }
  int64_t size() const { return size_; }

 private:
  std::string path_;
  int64_t size_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  void* map_ = MAP_FAILED;
};

// Whole 2 MiB chunks inside [p, p + n), counted independently of the library.
int64_t WholeHugeChunks(const void* p, int64_t n) {
  const uintptr_t b = reinterpret_cast<uintptr_t>(p), e = b + static_cast<uintptr_t>(n);
  const uintptr_t h = static_cast<uintptr_t>(kHugePageBytes);
  const uintptr_t first = (b + h - 1) / h * h, last = e / h * h;
  return last > first ? static_cast<int64_t>(last - first) : 0;
}

TEST(HugePagesTest, BytesStayTheFilesAndCountsAreConsistent) {
  testing::ScopedTempDir dir;
  const int64_t bytes = 9 * (int64_t{1} << 20) + 12;  // not a multiple of 2 MiB or of a page
  MappedFile f(dir.path() + "/w.bin", bytes);
  ASSERT_TRUE(f.ok());
  const HugePageReport first = f.Prefer(f.ino());
  EXPECT_EQ(first.eligible_bytes, WholeHugeChunks(f.map(), f.size()));
  if (first.measured) {
    EXPECT_GE(first.huge_bytes, 0);
    EXPECT_LE(first.huge_bytes, first.eligible_bytes);
    EXPECT_EQ(first.huge_bytes % kHugePageBytes, 0);
    EXPECT_EQ(FilePmdMappedBytes(f.map(), f.size()), first.huge_bytes);
  }
  EXPECT_TRUE(f.Intact());
  // Whatever the first call did, a second finds the cache as it left it: no
  // second read from disk.
  const HugePageReport second = f.Prefer(f.ino());
  EXPECT_FALSE(second.reread);
  EXPECT_EQ(second.huge_bytes, first.huge_bytes);
  EXPECT_TRUE(f.Intact());
  std::printf("huge pages here: %s\n", DescribeHugePages(first).c_str());
}

// Puts the file into the page cache in 4 KiB pages, as a program that read it
// before through small pages would have left it.
// bytes = 0 only evicts it.
void CacheInSmallPages(const std::string& path, int64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);  // dirty pages are not dropped
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (bytes == 0) {
    ::close(fd);
    return;
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(bytes), PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  ::madvise(m, static_cast<size_t>(bytes), MADV_NOHUGEPAGE);
  ::madvise(m, static_cast<size_t>(bytes), MADV_RANDOM);  // no readahead: one page per fault
  const volatile char* p = static_cast<const volatile char*>(m);
  char sink = 0;
  for (int64_t i = 0; i < bytes; i += 4096) sink = static_cast<char>(sink ^ p[i]);
  (void)sink;
  ::munmap(m, static_cast<size_t>(bytes));
  ::close(fd);
}

// The case the module exists for: a file cached in 4 KiB pages. Where the
// kernel can give 2 MiB pages, it is read again once and mapped through them.
TEST(HugePagesTest, FileCachedInSmallPagesIsReadAgainOnce) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/w.bin";
  const int64_t bytes = 8 * (int64_t{1} << 20);
  { MappedFile writer(path, bytes); }
  CacheInSmallPages(path, bytes);
  MappedFile f(path, 0);  // maps the cached file without rewriting it
  ASSERT_TRUE(f.ok());
  const HugePageReport r = f.Prefer(f.ino());
  if (r.reread) {
    EXPECT_GT(r.huge_bytes, 0);  // the probe saw a 2 MiB page come back
  }
  EXPECT_TRUE(f.Intact());
  EXPECT_FALSE(f.Prefer(f.ino()).reread);
  std::printf("a file cached in 4 KiB pages: %s\n", DescribeHugePages(r).c_str());
}

// Reads [offset, offset + length) of `path` into the page cache through a
// mapping with (huge) or without 2 MiB pages.
void CacheRange(const std::string& path, int64_t offset, int64_t length, bool huge) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* m = ::mmap(nullptr, static_cast<size_t>(offset + length), PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  ::madvise(m, static_cast<size_t>(offset + length), huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  if (!huge) ::madvise(m, static_cast<size_t>(offset + length), MADV_RANDOM);
  const volatile char* p = static_cast<const volatile char*>(m);
  char sink = 0;
  for (int64_t i = offset; i < offset + length; i += 4096) sink = static_cast<char>(sink ^ p[i]);
  (void)sink;
  ::munmap(m, static_cast<size_t>(offset + length));
  ::close(fd);
}

// A file mostly in 2 MiB pages and partly in 4 KiB ones, where the probe's
// first tries land on 2 MiB pages: where the kernel can, it ends up wholly in
// 2 MiB pages (the probe once gave up after four tries from the middle).
TEST(HugePagesTest, PartlyHugeFileIsCompleted) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/w.bin";
  const int64_t mib = int64_t{1} << 20, bytes = 40 * mib;
  { MappedFile writer(path, bytes); }
  CacheInSmallPages(path, 0);                  // evict
  CacheRange(path, 2 * mib, 6 * mib, false);   // 2-8 MiB through 4 KiB pages (first: readahead
  CacheRange(path, 0, 2 * mib, true);          // of the 2 MiB-page parts must not reach them)
  CacheRange(path, 8 * mib, 32 * mib, true);
  MappedFile f(path, 0);
  ASSERT_TRUE(f.ok());
  const HugePageReport r = f.Prefer(f.ino());
  if (r.measured && r.huge_bytes > 0) {  // a kernel and file system that give 2 MiB pages
    EXPECT_TRUE(r.reread) << DescribeHugePages(r);
    EXPECT_EQ(r.huge_bytes, r.eligible_bytes) << DescribeHugePages(r);
  }
  EXPECT_TRUE(f.Intact());
  std::printf("a file 17/20 in 2 MiB pages: %s\n", DescribeHugePages(r).c_str());
}

// Only the chunks that overlap the ranges read every step are faulted in (and
// counted): an embedding table read a few rows per token stays unread.
TEST(HugePagesTest, OnlyTheRangesReadEveryStepAreFaultedIn) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/w.bin";
  const int64_t mib = int64_t{1} << 20, bytes = 16 * mib;
  { MappedFile writer(path, bytes); }
  CacheInSmallPages(path, 0);  // evicts it (where the file system can)
  MappedFile f(path, 0);
  ASSERT_TRUE(f.ok());
  const bool evicted = f.ResidentPages(12 * mib, 4 * mib) == 0;
  // 3 MiB from 1 MiB on: overlaps at most the first three 2 MiB chunks.
  const HugePageReport r = f.PreferRange({.offset = mib, .length = 3 * mib});
  EXPECT_GT(r.eligible_bytes, 0);
  EXPECT_LE(r.eligible_bytes, 3 * kHugePageBytes);
  EXPECT_LE(r.huge_bytes, r.eligible_bytes);
  EXPECT_GT(f.ResidentPages(mib, 3 * mib), 0);
  if (evicted) {
    EXPECT_EQ(f.ResidentPages(12 * mib, 4 * mib), 0);  // far from the range: never read
  }
  EXPECT_TRUE(f.Intact());
}

// Ranges in any order (tensors come in name order, not file order) count every chunk once.
TEST(HugePagesTest, RangesInAnyOrderCountEachChunkOnce) {
  testing::ScopedTempDir dir;
  const int64_t mib = int64_t{1} << 20;
  MappedFile f(dir.path() + "/w.bin", 12 * mib);
  ASSERT_TRUE(f.ok());
  const HugePageReport whole = f.Prefer(f.ino());
  const HugePageReport shuffled = PreferFileHugePages(
      dir.path() + "/w.bin", f.dev(), f.ino(), f.map(), f.size(),
      {{8 * mib, 4 * mib}, {0, 4 * mib}, {4 * mib, 4 * mib}, {mib, mib}});
  EXPECT_EQ(shuffled.eligible_bytes, whole.eligible_bytes);
  EXPECT_EQ(whole.eligible_bytes, WholeHugeChunks(f.map(), f.size()));
}

TEST(HugePagesTest, ChoosesTheTensorsADecodeStepReads) {
  EXPECT_TRUE(ReadEveryDecodeStep("model.layers.3.mlp.down_proj.weight", true));
  EXPECT_TRUE(ReadEveryDecodeStep("lm_head.weight", true));
  EXPECT_FALSE(ReadEveryDecodeStep("model.embed_tokens.weight", true));  // a lookup table
  EXPECT_TRUE(ReadEveryDecodeStep("model.embed_tokens.weight", false));  // tied: also the head
  EXPECT_TRUE(ReadEveryDecodeStep("model.language_model.embed_tokens.weight", false));
  EXPECT_FALSE(ReadEveryDecodeStep("model.language_model.embed_tokens_per_layer.weight", false));
  EXPECT_FALSE(ReadEveryDecodeStep("model.vision_tower.timm_model.blocks.0.weight", false));
  EXPECT_FALSE(ReadEveryDecodeStep("model.audio_tower.conformer.0.weight", false));
}

TEST(HugePagesTest, AnotherFileAtThePathIsNeverDropped) {
  testing::ScopedTempDir dir;
  MappedFile f(dir.path() + "/w.bin", 6 * (int64_t{1} << 20));
  ASSERT_TRUE(f.ok());
  // An inode that is not the mapped file's: no page-cache drop, no re-read.
  const HugePageReport r = f.Prefer(f.ino() + 1);
  EXPECT_FALSE(r.reread);
  EXPECT_TRUE(f.Intact());
}

TEST(HugePagesTest, SmallMappingHasNothingEligible) {
  testing::ScopedTempDir dir;
  MappedFile f(dir.path() + "/w.bin", 64 << 10);
  ASSERT_TRUE(f.ok());
  const HugePageReport r = f.Prefer(f.ino());
  EXPECT_EQ(r.eligible_bytes, 0);
  EXPECT_EQ(r.huge_bytes, 0);
  EXPECT_FALSE(r.reread);
  EXPECT_EQ(DescribeHugePages(r), "none (no weight read every step spans a whole 2 MiB page)");
  EXPECT_TRUE(f.Intact());
}

TEST(HugePagesTest, UnmappedRangeCountsNothing) {
  EXPECT_LE(FilePmdMappedBytes(nullptr, 4096), 0);
}

// The bundled model decodes the same tokens with and without huge pages, and
// Describe() says what was asked.
TEST(HugePagesTest, EngineTokensDoNotDependOnIt) {
  std::vector<std::vector<int32_t>> outputs;
  for (const bool huge : {true, false}) {
    LoadOptions load;
    load.model_dir = "models/matlm-tiny";  // tests run from the source root
    load.num_threads = 1;
    load.huge_pages = huge;
    auto engine = Engine::Load(load);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const std::string pages = (*engine)->Describe().weight_pages;
    if (huge) {
      EXPECT_NE(pages, "not asked");
      EXPECT_NE(pages.find("in 2 MiB pages"), std::string::npos) << pages;
    } else {
      EXPECT_EQ(pages, "not asked");
    }
    GenerationOptions gen;
    gen.max_new_tokens = 24;
    gen.stop_at_eos = false;
    auto r = (*engine)->Generate("And God said", gen);
    ASSERT_TRUE(r.ok()) << r.status();
    outputs.push_back(r->tokens);
  }
  EXPECT_EQ(outputs[0], outputs[1]);
}

}  // namespace
}  // namespace matspec
