// Tests for engine/bounded_file.h and the readers built on it: special files
// are refused by name before a byte is read (a FIFO must not block), sizes are
// capped, and every file-reading entry point (slice table, token list, preset,
// prompt file, config.json) goes through it.
#include "engine/bounded_file.h"

#include <sys/stat.h>

#include "draft/slice_spec.h"
#include "draft/token_list.h"
#include "engine/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "matspec/input_files.h"
#include "matspec/run_config.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::StatusIs;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(ReadBoundedFileTest, ReadsARegularFileWholeAndAnEmptyOneAsEmpty) {
  testing::ScopedTempDir dir;
  ASSERT_TRUE(testing::WriteFileBytes(dir.Sub("a.txt"), std::string("ab\0c", 4)).ok());
  absl::StatusOr<std::string> text = ReadBoundedFile(dir.Sub("a.txt"), 4, "thing");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, std::string("ab\0c", 4));
  ASSERT_TRUE(testing::WriteFileBytes(dir.Sub("empty"), "").ok());
  text = ReadBoundedFile(dir.Sub("empty"), 4, "thing");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "");
}

TEST(ReadBoundedFileTest, RefusesMissingLargeAndSpecialFilesByName) {
  testing::ScopedTempDir dir;
  EXPECT_THAT(ReadBoundedFile(dir.Sub("none"), 10, "slice table"),
              StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("slice table"), HasSubstr("none"))));
  ASSERT_TRUE(testing::WriteFileBytes(dir.Sub("big"), "12345").ok());
  EXPECT_THAT(ReadBoundedFile(dir.Sub("big"), 4, "preset"),
              StatusIs(kInvalid, AllOf(HasSubstr("big"), HasSubstr("5 bytes"), HasSubstr("limit of 4"))));
  EXPECT_THAT(ReadBoundedFile(dir.path(), 100, "-f"), StatusIs(kInvalid, HasSubstr("is a directory")));
  EXPECT_THAT(ReadBoundedFile("/dev/zero", 100, "-f"), StatusIs(kInvalid, HasSubstr("is a character device")));
  ASSERT_EQ(mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  // No writer ever opens the FIFO: a blocking open or read would hang here.
  EXPECT_THAT(ReadBoundedFile(dir.Sub("fifo"), 100, "token list"),
              StatusIs(kInvalid, AllOf(HasSubstr("token list"), HasSubstr("FIFO"))));
}

TEST(ReadBoundedFileTest, EveryInputReaderRefusesSpecialFiles) {
  testing::ScopedTempDir dir;
  ASSERT_EQ(mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  const std::string fifo = dir.Sub("fifo");
  EXPECT_THAT(LoadSliceTable(fifo), StatusIs(kInvalid, HasSubstr("FIFO")));
  EXPECT_THAT(LoadTokenList(fifo, 10), StatusIs(kInvalid, HasSubstr("FIFO")));
  EXPECT_THAT(LoadModelConfig(fifo), StatusIs(kInvalid, HasSubstr("FIFO")));
  RunConfig config;
  EXPECT_THAT(ApplyPresetFile(fifo, &config), StatusIs(kInvalid, HasSubstr("FIFO")));
  EXPECT_THAT(ReadPromptFile(fifo), StatusIs(kInvalid, HasSubstr("FIFO")));
  EXPECT_THAT(ReadPromptFile("/dev/zero"), StatusIs(kInvalid, HasSubstr("character device")));
  EXPECT_THAT(LoadSliceTable("/dev/zero"), StatusIs(kInvalid, HasSubstr("character device")));
}

TEST(ReadPromptFileTest, DirectoryAndEmptyFileAreErrorsLikeAnEmptyPrompt) {
  testing::ScopedTempDir dir;
  EXPECT_THAT(ReadPromptFile(dir.path()), StatusIs(kInvalid, AllOf(HasSubstr("-f"), HasSubstr("directory"))));
  ASSERT_TRUE(testing::WriteFileBytes(dir.Sub("empty.txt"), "").ok());
  EXPECT_THAT(ReadPromptFile(dir.Sub("empty.txt")), StatusIs(kInvalid, HasSubstr("empty")));
  ASSERT_TRUE(testing::WriteFileBytes(dir.Sub("p.txt"), "hello").ok());
  absl::StatusOr<std::string> p = ReadPromptFile(dir.Sub("p.txt"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "hello");
}

}  // namespace
}  // namespace matspec
