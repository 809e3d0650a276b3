// Tests for draft/int_expr.h: width expressions and bracketed lists.
#include "draft/int_expr.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

int64_t MustEval(std::string_view text) {
  absl::StatusOr<int64_t> v = EvalIntExpr(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *v : -1;
}

std::string EvalError(std::string_view text) {
  absl::StatusOr<int64_t> v = EvalIntExpr(text);
  EXPECT_FALSE(v.ok()) << text << " = " << (v.ok() ? *v : 0);
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

std::string ListError(std::string_view text, bool allow_empty) {
  absl::StatusOr<std::vector<int64_t>> v = ParseIntList(text, allow_empty);
  EXPECT_FALSE(v.ok()) << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

TEST(IntExprTest, LiteralsAndSeparators) {
  EXPECT_EQ(MustEval("0"), 0);
  EXPECT_EQ(MustEval("16384"), 16384);
  EXPECT_EQ(MustEval("16_384"), 16384);
  EXPECT_EQ(MustEval("1_000_000"), 1000000);
  EXPECT_EQ(MustEval("9_223_372_036_854_775_807"), INT64_MAX);
}

TEST(IntExprTest, OperatorsPrecedenceAndParentheses) {
  EXPECT_EQ(MustEval("2_048 * 4"), 8192);
  EXPECT_EQ(MustEval("2 + 3 * 4"), 14);
  EXPECT_EQ(MustEval("(2 + 3) * 4"), 20);
  EXPECT_EQ(MustEval("10 - 3 - 2"), 5);  // left-associative
  EXPECT_EQ(MustEval("-3 + 5"), 2);
  EXPECT_EQ(MustEval("-(2 * 3)"), -6);
  EXPECT_EQ(MustEval("+7"), 7);
  EXPECT_EQ(MustEval(" \t( ( 1 ) )\n"), 1);
  EXPECT_EQ(MustEval("-9_223_372_036_854_775_807 - 1"), INT64_MIN);
}

TEST(IntExprTest, SyntaxErrorsNameTheText) {
  EXPECT_THAT(EvalError(""), HasSubstr("empty expression"));
  EXPECT_THAT(EvalError("   "), HasSubstr("empty expression"));
  const std::string trailing = EvalError("2_048 * 4 x");
  EXPECT_THAT(trailing, HasSubstr("\"2_048 * 4 x\""));
  EXPECT_THAT(trailing, HasSubstr("trailing text \"x\" at offset 10"));
  EXPECT_THAT(EvalError("12abc"), HasSubstr("trailing text \"abc\""));
  EXPECT_THAT(EvalError("4 4"), HasSubstr("trailing text"));
  EXPECT_THAT(EvalError("2 * x"), HasSubstr("unexpected 'x' at offset 4"));
  EXPECT_THAT(EvalError("1 +"), HasSubstr("where a number was expected"));
  EXPECT_THAT(EvalError("(1 + 2"), HasSubstr("'(' at offset 0 is never closed"));
  EXPECT_THAT(EvalError("1 + 2)"), HasSubstr("trailing text \")\""));
  EXPECT_THAT(EvalError("1 / 2"), HasSubstr("trailing text \"/ 2\""));
  EXPECT_THAT(EvalError("0x10"), HasSubstr("trailing text"));
  EXPECT_THAT(EvalError("1.5"), HasSubstr("trailing text"));
}

TEST(IntExprTest, MisplacedUnderscores) {
  EXPECT_THAT(EvalError("2__048"), HasSubstr("'_' at offset 1 must sit between two digits"));
  EXPECT_THAT(EvalError("2048_"), HasSubstr("'_' at offset 4"));
  EXPECT_THAT(EvalError("_2048"), HasSubstr("unexpected '_'"));
}

TEST(IntExprTest, OverflowIsAnError) {
  EXPECT_THAT(EvalError("9223372036854775808"), HasSubstr("integer overflow"));
  EXPECT_THAT(EvalError("4_611_686_018_427_387_904 * 2"), HasSubstr("integer overflow"));
  EXPECT_THAT(EvalError("9223372036854775807 + 1"), HasSubstr("integer overflow"));
  EXPECT_THAT(EvalError("-9223372036854775807 - 2"), HasSubstr("integer overflow"));
  EXPECT_THAT(EvalError("-(-9223372036854775807 - 1)"), HasSubstr("integer overflow"));
  EXPECT_THAT(EvalError("9223372036854775808"), HasSubstr("\"9223372036854775808\""));
}

TEST(IntExprTest, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(10000, '(') + "1" + std::string(10000, ')');
  EXPECT_THAT(EvalError(deep), HasSubstr("nested too deeply"));
  EXPECT_THAT(EvalError(std::string(10000, '-') + "1"), HasSubstr("nested too deeply"));
  EXPECT_EQ(MustEval(std::string(20, '(') + "1" + std::string(20, ')')), 1);
}

TEST(IntListTest, ParsesItems) {
  absl::StatusOr<std::vector<int64_t>> v = ParseIntList("[2_048 * 4, 16384 ,3]", false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(*v, ElementsAre(8192, 16384, 3));
  v = ParseIntList("  [ 20,21 ,  22 ]  ", false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(*v, ElementsAre(20, 21, 22));
  v = ParseIntList("[7]", false);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(*v, ElementsAre(7));
}

TEST(IntListTest, EmptyListOnlyWhenAllowed) {
  absl::StatusOr<std::vector<int64_t>> v = ParseIntList("[ ]", /*allow_empty=*/true);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(*v, IsEmpty());
  EXPECT_THAT(ListError("[]", /*allow_empty=*/false), HasSubstr("the list is empty"));
}

TEST(IntListTest, ErrorsNameTheListAndItem) {
  EXPECT_THAT(ListError("1, 2", false), HasSubstr("bad list \"1, 2\": expected a bracketed list"));
  EXPECT_THAT(ListError("[1, 2", false), HasSubstr("expected a bracketed list"));
  EXPECT_THAT(ListError("", true), HasSubstr("expected a bracketed list"));
  EXPECT_THAT(ListError("[1,,2]", false), HasSubstr("item 2 is empty"));
  EXPECT_THAT(ListError("[1, 2,]", false), HasSubstr("item 3 is empty"));
  EXPECT_THAT(ListError("[,]", true), HasSubstr("item 1 is empty"));
  const std::string bad = ListError("[1, 2 x]", false);
  EXPECT_THAT(bad, HasSubstr("bad list \"[1, 2 x]\": item 2: bad integer expression \"2 x\""));
  EXPECT_THAT(ListError("[[1]]", false), HasSubstr("item 1"));
}

}  // namespace
}  // namespace matspec
