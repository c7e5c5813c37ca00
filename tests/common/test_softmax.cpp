#include <gtest/gtest.h>

#include <cmath>

#include "common/softmax.hpp"

namespace shardmax {
namespace {

TEST(LogSumExp, MatchesDirectFormulaOnModerateLogits) {
  Eigen::RowVectorXd logits(3);
  logits << 0.5, -1.0, 2.0;
  const double direct = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  EXPECT_NEAR(LogSumExp(logits), direct, 1e-15);
}

TEST(LogSumExp, StaysFiniteAtHugeLogits) {
  Eigen::RowVectorXd logits(3);
  logits << 1000.0, 1000.0, -1000.0;
  // exp(1000) overflows; shifting by the maximum gives 1000 + log 2 exactly enough.
  EXPECT_NEAR(LogSumExp(logits), 1000.0 + std::log(2.0), 1e-12);
  logits << -1000.0, -1000.0, -1000.0;
  EXPECT_NEAR(LogSumExp(logits), -1000.0 + std::log(3.0), 1e-12);
}

TEST(SoftmaxRows, HugeLogitsGiveFiniteCorrectProbabilities) {
  Matrix logits(3, 3);
  logits << 1000.0, 0.0, -1000.0,   //
      -1000.0, -1000.0, -1000.0,    //
      1000.0, 1000.0 - std::log(3.0), 0.0;
  const Vector lse = SoftmaxRowsInPlace(&logits);
  ASSERT_TRUE(logits.allFinite());
  ASSERT_TRUE(lse.allFinite());
  EXPECT_NEAR(logits(0, 0), 1.0, 1e-15);
  EXPECT_EQ(logits(0, 2), 0.0);  // exp(-2000) underflows to zero, not NaN
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(logits(1, k), 1.0 / 3.0, 1e-15);
  EXPECT_NEAR(logits(2, 0), 0.75, 1e-12);
  EXPECT_NEAR(logits(2, 1), 0.25, 1e-12);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(logits.row(i).sum(), 1.0, 1e-15);
}

TEST(SoftmaxRows, IsInvariantToAShiftOfTheLogits) {
  Matrix logits(1, 4);
  logits << 0.1, 0.2, -0.3, 0.4;
  Matrix shifted = logits.array() + 500.0;
  SoftmaxRowsInPlace(&logits);
  SoftmaxRowsInPlace(&shifted);
  EXPECT_LT((logits - shifted).cwiseAbs().maxCoeff(), 1e-14);
}

}  // namespace
}  // namespace shardmax
