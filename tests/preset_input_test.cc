// Tests for decoding/preset_input.h: the guard in front of toml++ (UTF-8, NUL,
// size) and the parse of a preset from text.
#include "decoding/preset_input.h"

#include "engine/bounded_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::StatusIs;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(CheckPresetTextTest, AcceptsUtf8AndRefusesWhatTomlPlusPlusMishandles) {
  EXPECT_TRUE(CheckPresetText("prompt = \"Привет 😀\"\n", "p.toml").ok());
  // toml++ 3.3 reaches an "unreachable" point on malformed UTF-8 (upstream issue 295).
  EXPECT_THAT(CheckPresetText("a = 1\nb = \"\xC3\x28\"\n", "p.toml"),
              StatusIs(kInvalid, AllOf(HasSubstr("p.toml:2:6"), HasSubstr("invalid UTF-8"))));
  EXPECT_THAT(CheckPresetText(std::string("dr\0aft = 1", 10), "p.toml"),
              StatusIs(kInvalid, AllOf(HasSubstr("p.toml:1:3"), HasSubstr("NUL"))));
  for (const char* bad : {"\xC0\x80", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xE2\x82"}) {
    EXPECT_FALSE(CheckPresetText(std::string("k = \"") + bad + "\"", "p.toml").ok()) << bad;
  }
  EXPECT_THAT(CheckPresetText(std::string(kMaxPresetFileBytes + 1, ' '), "p.toml"),
              StatusIs(kInvalid, HasSubstr("limit")));
}

TEST(ApplyPresetTextTest, ParsesKeysAndReportsSyntaxErrorsWithLine) {
  RunConfig config;
  ASSERT_TRUE(ApplyPresetText("draft-max = 5\ntemp = 0.5\n", "p.toml", &config).ok());
  EXPECT_EQ(config.generation.draft.draft_max, 5);
  EXPECT_THAT(ApplyPresetText("draft-max = \n", "p.toml", &config), StatusIs(kInvalid, HasSubstr("p.toml:1")));
  EXPECT_THAT(ApplyPresetText("[model]\nx = 1\n", "p.toml", &config),
              StatusIs(kInvalid, HasSubstr("expected a string, number or boolean")));
  EXPECT_THAT(ApplyPresetText(std::string("a\0 = 1", 6), "p.toml", &config), StatusIs(kInvalid, HasSubstr("NUL")));
}

}  // namespace
}  // namespace matspec
