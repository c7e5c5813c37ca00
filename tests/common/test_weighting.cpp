// Class weights, row weights and log priors against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/softmax.hpp"
#include "common/weighting.hpp"

namespace shardmax {
namespace {

TEST(Weighting, BalancedWeightsAreNOverKTimesTheClassCount) {
  // N = 10 rows in K = 4 classes, one of them empty.
  const std::vector<std::int64_t> counts{6, 3, 1, 0};
  const Vector weights = BalancedClassWeights(counts);
  EXPECT_DOUBLE_EQ(weights(0), 10.0 / 24.0);
  EXPECT_DOUBLE_EQ(weights(1), 10.0 / 12.0);
  EXPECT_DOUBLE_EQ(weights(2), 10.0 / 4.0);
  EXPECT_EQ(weights(3), 0.0);  // no row uses it
  // Every class with rows then weighs N / K in all.
  for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(weights(k) * static_cast<double>(counts[k]), 2.5);
}

TEST(Weighting, RowWeightsMultiplyClassAndSampleWeights) {
  const std::vector<Label> labels{0, 2, 1, 2};
  Vector class_weights(3);
  class_weights << 0.5, 2.0, 4.0;
  const std::vector<double> samples{1.0, 0.25, 3.0, 0.0};
  EXPECT_EQ(RowWeights(labels, class_weights, samples), (std::vector<double>{0.5, 1.0, 6.0, 0.0}));
  EXPECT_EQ(RowWeights(labels, class_weights, {}), (std::vector<double>{0.5, 4.0, 2.0, 4.0}));
  EXPECT_EQ(RowWeights(labels, Vector(), samples), samples);
  EXPECT_TRUE(RowWeights(labels, Vector(), {}).empty());  // unweighted
}

TEST(Weighting, LogPriorsGiveTheClassFrequenciesAsSoftmaxProbabilities) {
  const std::vector<std::int64_t> counts{5, 3, 2};
  Vector priors = LogClassPriors(counts);
  EXPECT_DOUBLE_EQ(priors(0), std::log(0.5));
  EXPECT_DOUBLE_EQ(priors(2), std::log(0.2));
  Eigen::RowVectorXd probabilities = priors.transpose();
  SoftmaxRowInPlace(probabilities);
  EXPECT_NEAR(probabilities(0), 0.5, 1e-15);
  EXPECT_NEAR(probabilities(1), 0.3, 1e-15);
  EXPECT_NEAR(probabilities(2), 0.2, 1e-15);
}

}  // namespace
}  // namespace shardmax
