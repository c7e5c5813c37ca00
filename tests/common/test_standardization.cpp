// Standardization: moments against hand-computed values, constant features, and the model
// mapped to the original scale computing the same logits on raw features.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/random.hpp"
#include "common/standardization.hpp"

namespace shardmax {
namespace {

TEST(Standardization, MomentsGiveMeanAndPopulationStandardDeviation) {
  FeatureMatrix features(4, 3);
  features << 1, 0.1f, 0,  // one row per line: a spread, a constant and a zero feature
      2, 0.1f, 0,
      3, 0.1f, 0,
      4, 0.1f, 0;
  const FeatureScaling scaling = ScalingFromMomentSums(FeatureMomentSums(features));
  EXPECT_DOUBLE_EQ(scaling.mean(0), 2.5);
  EXPECT_DOUBLE_EQ(scaling.scale(0), std::sqrt(1.25));  // (1 + 4 + 9 + 16) / 4 - 2.5^2
  // Constant features are centered and left unscaled.
  EXPECT_DOUBLE_EQ(scaling.mean(1), static_cast<double>(0.1f));
  EXPECT_EQ(scaling.scale(1), 1.0);
  EXPECT_EQ(scaling.mean(2), 0.0);
  EXPECT_EQ(scaling.scale(2), 1.0);
}

// Sums of several ranks' rows add up to the moments of all rows (what the all-reduce does).
TEST(Standardization, MomentSumsOfPartsAddUpToTheWhole) {
  SplitMix64 generator(3);
  FeatureMatrix features(3000, 4);
  for (Eigen::Index i = 0; i < features.size(); ++i) {
    features.data()[i] = static_cast<float>(10.0 + 2.0 * generator.Normal());
  }
  features.col(3).setConstant(7.25f);
  std::vector<double> whole = FeatureMomentSums(features);
  std::vector<double> parts(whole.size(), 0.0);
  for (const auto& [begin, count] : {std::pair{0, 1100}, std::pair{1100, 1900}}) {
    const FeatureMatrix part = features.middleRows(begin, count);
    const std::vector<double> sums = FeatureMomentSums(part);
    for (std::size_t i = 0; i < sums.size(); ++i) parts[i] += sums[i];
  }
  const FeatureScaling from_whole = ScalingFromMomentSums(whole);
  const FeatureScaling from_parts = ScalingFromMomentSums(parts);
  EXPECT_LT((from_whole.mean - from_parts.mean).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((from_whole.scale - from_parts.scale).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_NEAR(from_whole.scale(0), 2.0, 0.1);
  EXPECT_EQ(from_whole.scale(3), 1.0);

  FeatureMatrix standardized = features;
  StandardizeFeatures(from_whole, &standardized);
  const FeatureScaling after = ScalingFromMomentSums(FeatureMomentSums(standardized));
  for (int j = 0; j < 3; ++j) {
    EXPECT_NEAR(after.mean(j), 0.0, 1e-6);
    EXPECT_NEAR(after.scale(j), 1.0, 1e-6);
  }
  EXPECT_EQ(standardized.col(3).cwiseAbs().maxCoeff(), 0.0f);  // centered exactly
}

// W x' + b on standardized x' = (x - m) / s equals W_o x + b_o on the raw x.
TEST(Standardization, ModelOnTheOriginalScaleGivesTheSameLogitsOnRawFeatures) {
  SplitMix64 generator(5);
  const Eigen::Index classes = 4;
  const Eigen::Index dims = 6;
  FeatureScaling scaling{Vector(dims), Vector(dims)};
  for (Eigen::Index j = 0; j < dims; ++j) {
    scaling.mean(j) = 50.0 * generator.Normal();
    scaling.scale(j) = j == 2 ? 1.0 : std::exp(3.0 * generator.Normal());  // 2: constant
  }
  SoftmaxModel model = SoftmaxModel::Zeros(classes, dims);
  for (Eigen::Index i = 0; i < model.weights.size(); ++i)
    model.weights.data()[i] = generator.Normal();
  for (Eigen::Index k = 0; k < classes; ++k) model.bias(k) = generator.Normal();
  const SoftmaxModel original = ToOriginalScale(model, scaling);

  for (int row = 0; row < 100; ++row) {
    Vector raw(dims);
    for (Eigen::Index j = 0; j < dims; ++j) {
      raw(j) = scaling.mean(j) + scaling.scale(j) * generator.Normal();
    }
    const Vector standardized = (raw - scaling.mean).cwiseQuotient(scaling.scale);
    const Vector trained_logits = model.weights * standardized + model.bias;
    const Vector raw_logits = original.weights * raw + original.bias;
    const double size = trained_logits.cwiseAbs().maxCoeff();
    EXPECT_LT((raw_logits - trained_logits).cwiseAbs().maxCoeff(), 1e-12 * size) << "row " << row;
  }
  const SoftmaxModel back = ToTrainingScale(original, scaling);
  EXPECT_LT((back.weights - model.weights).cwiseAbs().maxCoeff(), 1e-14);
  EXPECT_LT((back.bias - model.bias).cwiseAbs().maxCoeff(), 1e-12);
}

}  // namespace
}  // namespace shardmax
