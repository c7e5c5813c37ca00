#include "common/weighting.hpp"

#include <cmath>
#include <numeric>

namespace shardmax {
namespace {

double TotalRows(std::span<const std::int64_t> rows_per_class) {
  return static_cast<double>(
      std::accumulate(rows_per_class.begin(), rows_per_class.end(), std::int64_t{0}));
}

}  // namespace

Vector BalancedClassWeights(std::span<const std::int64_t> rows_per_class) {
  const double rows = TotalRows(rows_per_class);
  const auto classes = static_cast<double>(rows_per_class.size());
  Vector weights(static_cast<Eigen::Index>(rows_per_class.size()));
  for (std::size_t k = 0; k < rows_per_class.size(); ++k) {
    const auto count = static_cast<double>(rows_per_class[k]);
    weights(static_cast<Eigen::Index>(k)) = count > 0.0 ? rows / (classes * count) : 0.0;
  }
  return weights;
}

std::vector<double> RowWeights(std::span<const Label> labels, const Vector& class_weights,
                               std::span<const double> sample_weights) {
  if (class_weights.size() == 0) return {sample_weights.begin(), sample_weights.end()};
  std::vector<double> weights(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    weights[i] = class_weights(labels[i]) * (sample_weights.empty() ? 1.0 : sample_weights[i]);
  }
  return weights;
}

Vector LogClassPriors(std::span<const std::int64_t> rows_per_class) {
  const double rows = TotalRows(rows_per_class);
  Vector bias(static_cast<Eigen::Index>(rows_per_class.size()));
  for (std::size_t k = 0; k < rows_per_class.size(); ++k) {
    bias(static_cast<Eigen::Index>(k)) = std::log(static_cast<double>(rows_per_class[k]) / rows);
  }
  return bias;
}

}  // namespace shardmax
