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

// Each input reached an assertion or undefined behaviour inside toml++ 3.3
// under tests/fuzz/preset_fuzz (the corpus keeps them as regression_* files).
TEST(CheckPresetTextTest, RefusesWhatTheFuzzerFoundBeforeTomlPlusPlus) {
  const struct {
    std::string text, want;
  } cases[] = {
      {"[(", "p.toml:1:1: '['"},                                          // table header without a key
      {"a =[[}m=9", "p.toml:1:4: '['"},                                   // brace inside an array
      {"x = \xD1\x90", "p.toml:1:5: '\xD1\x90' is a non-ASCII character"},  // U+0450 between tokens
      {"t=0000^X'00\xD0\xA2'", "non-ASCII character outside a string"},   // a quote inside a bare value
      {"v = 0o1\x15" "0='\xF3\x87\x9D\x9F'", "non-ASCII character outside a string"},  // '=' inside a bare value
      {"\"\"\"a\\\n\\\xEF\xBB\xB7\"\"\"=1", "right after a backslash"},     // multi-line quoted key
      {"p = \"\"\"a \\\n   \xC3\xA9\"\"\"", "right after a backslash"},     // after a line-ending backslash
      {"f1 =10op-_^p-\x1e" "E 2\n", "p.toml:1:5: '10op-_^p-\\x1e\\x45' is not a number or boolean"},  // a date-time cut short
      {"d = 1979-05-27 0\n", "p.toml:1:5: '1979-05-27' is not a number or boolean"},
      {"88888.888889.3= 1281-11-04temp\\\\", "p.toml:1:17: '1281-11-04temp\\\\\\\\' is not a number"},  // date, 't', no time
      {"a = \"x\" \"y\"", "p.toml:1:9: '\"' follows the value"},
      {"a = 1 2", "p.toml:1:7: '2' follows the value"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(CheckPresetText(c.text, "p.toml"), StatusIs(kInvalid, HasSubstr(c.want))) << c.text;
  }
  // Numbers and booleans in every TOML form pass; anything else bare does not.
  for (const char* ok : {"1", "-3", "+2", "1_000", "0.5", "-1.5e-3", "1E+2", "3e1_0", "inf", "-nan", "0x1F",
                         "0o17", "0b1_0", "true", "false"}) {
    EXPECT_TRUE(CheckPresetText(std::string("k = ") + ok + " # c\n", "p.toml").ok()) << ok;
  }
  for (const char* bad : {"abc", "1979-05-27", "07:32:00", "1979-05-27T07:32:00", "1.", ".5", "1e", "1__0",
                          "_1", "0x", "0xG", "1-2", "True", "1.2.3"}) {
    EXPECT_THAT(CheckPresetText(std::string("k = ") + bad + "\n", "p.toml"),
                StatusIs(kInvalid, HasSubstr("p.toml:1:5: '"))) << bad;
  }
  // Strings and comments may hold any UTF-8; escapes stay escapes.
  EXPECT_TRUE(CheckPresetText("prompt = \"caf\xC3\xA9 \\\" \xE4\xB8\x96\" # \xE4\xB8\x96\n", "p.toml").ok());
  EXPECT_TRUE(CheckPresetText("prompt = '''\n\xC3\xA9\n'''\n\"k\xC3\xA9y\" = 1\n", "p.toml").ok());
}

TEST(ApplyPresetTextTest, ParsesKeysAndReportsSyntaxErrorsWithLine) {
  RunConfig config;
  ASSERT_TRUE(ApplyPresetText("draft-max = 5\ntemp = 0.5\n", "p.toml", &config).ok());
  EXPECT_EQ(config.generation.draft.draft_max, 5);
  EXPECT_THAT(ApplyPresetText("draft-max = \n", "p.toml", &config), StatusIs(kInvalid, HasSubstr("p.toml:1")));
  EXPECT_THAT(ApplyPresetText("[model]\nx = 1\n", "p.toml", &config),
              StatusIs(kInvalid, AllOf(HasSubstr("p.toml:1:1"), HasSubstr("array or table"))));
  EXPECT_TRUE(ApplyPresetText("draft-max = 2 # \xC3\xA9t\xC3\xA9\n", "p.toml", &config).ok());
  EXPECT_THAT(ApplyPresetText(std::string("a\0 = 1", 6), "p.toml", &config), StatusIs(kInvalid, HasSubstr("NUL")));
}

}  // namespace
}  // namespace matspec
