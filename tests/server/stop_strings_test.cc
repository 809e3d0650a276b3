// StopStringFilter: stop strings spanning streamed pieces are cut out, and
// nothing that could begin one is shown early.
#include "server/stop_strings.h"

#include <gtest/gtest.h>

namespace matspec::server {
namespace {

TEST(StopStringFilterTest, NoStopsPassesEverything) {
  StopStringFilter f({});
  EXPECT_EQ(f.Push("abc"), "abc");
  EXPECT_EQ(f.Flush(), "");
  EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilterTest, StopAcrossPiecesIsCutAndHeldBack) {
  StopStringFilter f({"END"});
  EXPECT_EQ(f.Push("hello E"), "hello ");  // "E" may begin "END"
  EXPECT_EQ(f.Push("N"), "");
  EXPECT_EQ(f.Push("D and more"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.Push("later"), "");
  EXPECT_EQ(f.Flush(), "");
}

TEST(StopStringFilterTest, FalseStartIsReleased) {
  StopStringFilter f({"END"});
  EXPECT_EQ(f.Push("xEN"), "x");
  EXPECT_EQ(f.Push("Ty"), "ENTy");
  EXPECT_EQ(f.Push("E"), "");
  EXPECT_EQ(f.Flush(), "E");  // the end of generation releases what was held
  EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilterTest, EarliestOfSeveralStopsWins) {
  StopStringFilter f({"zz", "b"});
  EXPECT_EQ(f.Push("aabzz"), "aa");
  EXPECT_TRUE(f.stopped());
}

}  // namespace
}  // namespace matspec::server
