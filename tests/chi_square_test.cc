// The chi-square helper every frequency test relies on (tests/testing/
// frequency.h) must be able to fail: no degree of freedom, a drawn cell of
// probability 0, probabilities or counts that do not add up are failures;
// small cells are pooled; a clear misfit gives a large z, a fit a small one.
#include <cmath>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/testing/frequency.h"

namespace matspec {
namespace {

using testing::ChiSquareZ;

TEST(ChiSquareTest, ZeroDegreesOfFreedomIsAFailure) {
  EXPECT_NONFATAL_FAILURE(ChiSquareZ({100, 0, 0}, {1.0, 0.0, 0.0}, 100), "degrees of freedom");
  // Two cells, one of them too small to stand alone: pooled into the other, 0 dof.
  EXPECT_NONFATAL_FAILURE(ChiSquareZ({99, 1}, {0.99, 0.01}, 100), "degrees of freedom");
}

TEST(ChiSquareTest, InconsistentInputsAreFailures) {
  EXPECT_NONFATAL_FAILURE(ChiSquareZ({50, 49, 1}, {0.5, 0.5, 0.0}, 100), "probability 0");
  EXPECT_NONFATAL_FAILURE(ChiSquareZ({50, 50}, {0.5, 0.4}, 100), "sum");
  EXPECT_NONFATAL_FAILURE(ChiSquareZ({50, 40}, {0.5, 0.5}, 100), "sum");
}

TEST(ChiSquareTest, FitIsSmallMisfitIsLarge) {
  EXPECT_LT(ChiSquareZ({2500, 2500, 5000}, {0.25, 0.25, 0.5}, 10000), 2.0);  // a perfect fit: z < 0
  EXPECT_GT(ChiSquareZ({2800, 2200, 5000}, {0.25, 0.25, 0.5}, 10000), 4.0);
}

TEST(ChiSquareTest, SmallCellsArePooledNotInflating) {
  // Ten cells expected 0.1 draw each: alone, three hits would add (3 - 0.1)^2 / 0.1 = 84
  // per cell; pooled (expected 1, folded into the smallest big cell) they do not.
  std::vector<double> probs(12, 0.0001);
  probs[10] = 0.5;
  probs[11] = 0.5 - 10 * 0.0001;
  std::vector<int64_t> counts(12, 0);
  counts[0] = counts[1] = counts[2] = 3;
  counts[10] = 500;
  counts[11] = 491;
  // Unpooled: chi-square about 250 on 11 dof (z about 13); pooled: 0 on 1.
  EXPECT_LT(ChiSquareZ(counts, probs, 1000), 4.0);
  EXPECT_LT(ChiSquareZ({300, 300, 397, 3}, {0.3, 0.3, 0.399, 0.001}, 1000), 4.0);
}

}  // namespace
}  // namespace matspec
