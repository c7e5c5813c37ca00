// Feature standardization, fitted on the training data over all ranks in one pass:
//   m_j = (1/N) sum_i x_ij,   v_j = (1/N) sum_i x_ij^2 - m_j^2        (population variance)
//   s_j = sqrt(v_j), or 1 for a constant feature
//   x'_j = (x_j - m_j) / s_j
// A feature counts as constant when v_j <= 1e-10 m_j^2 (its spread is below 1e-5 of its mean):
// the one-pass formula cannot tell a smaller spread from its own rounding, and such a feature
// is centered and left unscaled rather than divided by noise.
//
// A model trained on x' is the same function of the original x:
//   W x' + b = W_o x + b_o,   W_o[:, j] = W[:, j] / s_j,   b_o = b - sum_j W[:, j] m_j / s_j
// and the other way:          W[:, j] = W_o[:, j] s_j,     b = b_o + sum_j W_o[:, j] m_j
#pragma once

#include <span>
#include <vector>

#include "common/model.hpp"

namespace shardmax {

struct FeatureScaling {
  Vector mean;   // m (D)
  Vector scale;  // s (D), 1 for constant features

  bool operator==(const FeatureScaling& other) const {
    return mean == other.mean && scale == other.scale;
  }
};

// This rank's [sum_i x_i (D) | sum_i x_i^2 (D) | rows] in double, to be summed over ranks.
std::vector<double> FeatureMomentSums(const FeatureMatrix& features);

// m and s from moment sums summed over every rank.
FeatureScaling ScalingFromMomentSums(std::span<const double> sums);

// x <- (x - m) / s for every row, rounded to float32 once.
void StandardizeFeatures(const FeatureScaling& scaling, FeatureMatrix* features);

// W_o, b_o from W, b (see above), and back.
SoftmaxModel ToOriginalScale(const SoftmaxModel& model, const FeatureScaling& scaling);
SoftmaxModel ToTrainingScale(const SoftmaxModel& model, const FeatureScaling& scaling);

}  // namespace shardmax
