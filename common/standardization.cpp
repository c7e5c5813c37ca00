#include "common/standardization.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace shardmax {
namespace {

// A spread below 1e-5 of the mean is not resolved by the one-pass variance (see the header).
constexpr double kConstantVarianceRatio = 1e-10;
// Rows summed per partial sum: partial sums keep the rounding of long columns small.
constexpr Eigen::Index kMomentBlockRows = 1024;

}  // namespace

std::vector<double> FeatureMomentSums(const FeatureMatrix& features) {
  const Eigen::Index dims = features.cols();
  std::vector<double> sums(static_cast<std::size_t>(2 * dims + 1), 0.0);
  Eigen::Map<Eigen::RowVectorXd> sum(sums.data(), dims);
  Eigen::Map<Eigen::RowVectorXd> squares(sums.data() + dims, dims);
  for (Eigen::Index first = 0; first < features.rows(); first += kMomentBlockRows) {
    const Eigen::Index count = std::min(kMomentBlockRows, features.rows() - first);
    const Matrix block = features.middleRows(first, count).cast<double>();
    sum += block.colwise().sum();
    squares += block.array().square().matrix().colwise().sum();
  }
  sums.back() = static_cast<double>(features.rows());
  return sums;
}

FeatureScaling ScalingFromMomentSums(std::span<const double> sums) {
  if (sums.size() % 2 != 1 || sums.back() <= 0.0) {
    throw std::logic_error("ScalingFromMomentSums: needs [sums | squares | rows] over some rows");
  }
  const auto dims = static_cast<Eigen::Index>(sums.size() / 2);
  const double rows = sums.back();
  FeatureScaling scaling{Vector(dims), Vector(dims)};
  for (Eigen::Index j = 0; j < dims; ++j) {
    const double mean = sums[static_cast<std::size_t>(j)] / rows;
    const double variance = sums[static_cast<std::size_t>(dims + j)] / rows - mean * mean;
    scaling.mean(j) = mean;
    scaling.scale(j) = variance > kConstantVarianceRatio * mean * mean ? std::sqrt(variance) : 1.0;
  }
  return scaling;
}

void StandardizeFeatures(const FeatureScaling& scaling, FeatureMatrix* features) {
  for (Eigen::Index i = 0; i < features->rows(); ++i) {
    for (Eigen::Index j = 0; j < features->cols(); ++j) {
      const double value = static_cast<double>((*features)(i, j));
      (*features)(i, j) = static_cast<float>((value - scaling.mean(j)) / scaling.scale(j));
    }
  }
}

SoftmaxModel ToOriginalScale(const SoftmaxModel& model, const FeatureScaling& scaling) {
  SoftmaxModel original = model;
  original.weights = model.weights * scaling.scale.cwiseInverse().asDiagonal();
  original.bias = model.bias - original.weights * scaling.mean;
  return original;
}

SoftmaxModel ToTrainingScale(const SoftmaxModel& model, const FeatureScaling& scaling) {
  SoftmaxModel training = model;
  training.weights = model.weights * scaling.scale.asDiagonal();
  training.bias = model.bias + model.weights * scaling.mean;
  return training;
}

}  // namespace shardmax
