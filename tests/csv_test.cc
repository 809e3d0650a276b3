// Tests for draft/csv.h: the RFC 4180 reader used for slice tables.
#include "draft/csv.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<CsvRecord> MustParse(std::string_view text) {
  absl::StatusOr<std::vector<CsvRecord>> records = ParseCsv(text, "t.csv");
  EXPECT_TRUE(records.ok()) << records.status();
  return records.ok() ? *records : std::vector<CsvRecord>{};
}

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<std::vector<CsvRecord>> records = ParseCsv(text, "t.csv");
  EXPECT_FALSE(records.ok()) << "parsed: " << text;
  if (records.ok()) return "";
  EXPECT_EQ(records.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(records.status().message());
}

TEST(CsvTest, PlainRecordsWithLf) {
  std::vector<CsvRecord> r = MustParse("a,b,c\n1,2,3\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_THAT(r[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_THAT(r[1].fields, ElementsAre("1", "2", "3"));
  EXPECT_EQ(r[0].line, 1);
  EXPECT_EQ(r[1].line, 2);
}

TEST(CsvTest, CrLfAndNoFinalLineBreak) {
  std::vector<CsvRecord> r = MustParse("a,b\r\n1,2\r\nx,y");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_THAT(r[1].fields, ElementsAre("1", "2"));
  EXPECT_THAT(r[2].fields, ElementsAre("x", "y"));
  EXPECT_EQ(r[2].line, 3);
}

TEST(CsvTest, LoneCrEndsARecord) {
  std::vector<CsvRecord> r = MustParse("a\rb\r");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_THAT(r[1].fields, ElementsAre("b"));
  EXPECT_EQ(r[1].line, 2);
}

TEST(CsvTest, QuotedCommasAndDoubledQuotes) {
  std::vector<CsvRecord> r = MustParse("\"a,b\",\"say \"\"hi\"\"\",\"\"\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].fields, ElementsAre("a,b", "say \"hi\"", ""));
}

TEST(CsvTest, EmbeddedNewlinesKeepVerbatimAndCountLines) {
  std::vector<CsvRecord> r = MustParse("h1,h2\n\"two\nlines\",x\n\"crlf\r\nkept\",y\nlast,z\n");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_THAT(r[1].fields, ElementsAre("two\nlines", "x"));
  EXPECT_EQ(r[1].line, 2);
  EXPECT_THAT(r[2].fields, ElementsAre("crlf\r\nkept", "y"));
  EXPECT_EQ(r[2].line, 4);
  EXPECT_EQ(r[3].line, 6);  // records start after both embedded line breaks
}

TEST(CsvTest, EmptyFieldsAndTrailingComma) {
  std::vector<CsvRecord> r = MustParse("a,,c,\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].fields, ElementsAre("a", "", "c", ""));
}

TEST(CsvTest, FieldsAreNotTrimmed) {
  std::vector<CsvRecord> r = MustParse(" a , b \n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].fields, ElementsAre(" a ", " b "));
}

TEST(CsvTest, BlankLinesAreSkippedButLineNumbersKept) {
  std::vector<CsvRecord> r = MustParse("a\n\nb\r\n\r\n\n\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_THAT(r[1].fields, ElementsAre("b"));
  EXPECT_EQ(r[1].line, 3);
}

TEST(CsvTest, QuotedEmptyLineIsARecord) {
  std::vector<CsvRecord> r = MustParse("\"\"\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].fields, ElementsAre(""));
}

TEST(CsvTest, EmptyInput) {
  EXPECT_TRUE(MustParse("").empty());
  EXPECT_TRUE(MustParse("\n\r\n").empty());
  EXPECT_TRUE(MustParse("\xEF\xBB\xBF").empty());
}

TEST(CsvTest, BomIsSkipped) {
  std::vector<CsvRecord> r = MustParse("\xEF\xBB\xBFname,x\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].fields, ElementsAre("name", "x"));
}

TEST(CsvTest, QuoteInsideUnquotedField) {
  const std::string message = ErrorOf("a,b\nxy,ab\"c\n");
  EXPECT_THAT(message, HasSubstr("t.csv"));
  EXPECT_THAT(message, HasSubstr("broken CSV quoting"));
  EXPECT_THAT(message, HasSubstr("line 2, column 6"));
  EXPECT_THAT(message, HasSubstr("quote inside an unquoted field"));
}

TEST(CsvTest, SpaceBeforeOpeningQuoteIsAnUnquotedField) {
  EXPECT_THAT(ErrorOf("a, \"b\"\n"), HasSubstr("line 1, column 4"));
}

TEST(CsvTest, UnterminatedQuotedFieldNamesWhereItOpened) {
  const std::string message = ErrorOf("a,b\nx,\"never\nclosed,\n\n");
  EXPECT_THAT(message, HasSubstr("broken CSV quoting"));
  EXPECT_THAT(message, HasSubstr("line 2, column 3"));
  EXPECT_THAT(message, HasSubstr("never closed"));
}

TEST(CsvTest, GarbageAfterClosingQuote) {
  const std::string message = ErrorOf("\"abc\"x,y\n");
  EXPECT_THAT(message, HasSubstr("broken CSV quoting"));
  EXPECT_THAT(message, HasSubstr("line 1, column 6"));
  EXPECT_THAT(message, HasSubstr("unexpected 'x' after the closing quote"));
  EXPECT_THAT(ErrorOf("\"abc\" ,y\n"), HasSubstr("line 1, column 6"));
}

TEST(CsvTest, ColumnsCountFromLineStartAfterBom) {
  EXPECT_THAT(ErrorOf("\xEF\xBB\xBF"
                      "a\"b\n"),
              HasSubstr("line 1, column 2"));
}

}  // namespace
}  // namespace matspec
