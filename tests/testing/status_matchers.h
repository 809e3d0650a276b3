// GoogleTest helpers for absl::Status and absl::StatusOr<T> (Abseil 20220623
// ships none):
//   EXPECT_OK(expr) / ASSERT_OK(expr)       expr is a Status or a StatusOr
//   ASSERT_OK_AND_ASSIGN(lhs, expr)         lhs = value of a StatusOr, or fail
//   EXPECT_THAT(expr, IsOk())
//   EXPECT_THAT(expr, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model.safetensors")))
// The message matcher is any Matcher<const std::string&> (HasSubstr, AllOf,
// a plain string for equality); it defaults to anything. Failures print the
// actual code and message.
#ifndef MATSPEC_TESTS_TESTING_STATUS_MATCHERS_H_
#define MATSPEC_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

class IsOkMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(value);
    if (!s.ok()) *listener << "status is " << s;
    return s.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(absl::StatusCode code, ::testing::Matcher<const std::string&> message)
      : code_(code), message_(std::move(message)) {}

  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& s = GetStatus(value);
    *listener << "status is " << s;
    if (s.code() != code_) return false;
    ::testing::StringMatchResultListener inner;
    const bool ok = message_.MatchAndExplain(std::string(s.message()), &inner);
    if (!ok && !inner.str().empty()) *listener << "; message " << inner.str();
    return ok;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has code " << absl::StatusCodeToString(code_) << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not have code " << absl::StatusCodeToString(code_) << " or has a message that ";
    message_.DescribeNegationTo(os);
  }

 private:
  absl::StatusCode code_;
  ::testing::Matcher<const std::string&> message_;
};

}  // namespace internal

inline ::testing::PolymorphicMatcher<internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(internal::IsOkMatcher());
}

inline ::testing::PolymorphicMatcher<internal::StatusIsMatcher> StatusIs(
    absl::StatusCode code, ::testing::Matcher<const std::string&> message = ::testing::_) {
  return ::testing::MakePolymorphicMatcher(internal::StatusIsMatcher(code, std::move(message)));
}

}  // namespace matspec::testing

// The status is extracted first so a failure prints "code: message" rather
// than the bytes of a StatusOr.
#define EXPECT_OK(expr) EXPECT_THAT(::matspec::testing::internal::GetStatus(expr), ::matspec::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT(::matspec::testing::internal::GetStatus(expr), ::matspec::testing::IsOk())

#define MATSPEC_TESTING_CONCAT_INNER_(a, b) a##b
#define MATSPEC_TESTING_CONCAT_(a, b) MATSPEC_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  MATSPEC_ASSERT_OK_AND_ASSIGN_IMPL_(MATSPEC_TESTING_CONCAT_(matspec_statusor_, __LINE__), lhs, expr)
#define MATSPEC_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  ASSERT_OK(tmp);                                          \
  lhs = std::move(tmp).value()

#endif  // MATSPEC_TESTS_TESTING_STATUS_MATCHERS_H_
