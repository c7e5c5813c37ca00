// Matrix types shared by the model, the objective and the data layer.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>

namespace shardmax {

// Parameters and gradients are kept in double; features in float32 to halve memory.
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Label = std::int32_t;

// Consecutive rows of features (row-major, contiguous) with their labels: the unit the
// objective consumes, so a streaming reader or a fused kernel can slot in behind it.
struct RowBlock {
  Eigen::Map<const FeatureMatrix> features;
  std::span<const Label> labels;

  Eigen::Index rows() const { return features.rows(); }
};

inline RowBlock MakeRowBlock(const float* features, const Label* labels, Eigen::Index rows,
                             Eigen::Index cols) {
  return RowBlock{Eigen::Map<const FeatureMatrix>(features, rows, cols),
                  std::span<const Label>(labels, static_cast<std::size_t>(rows))};
}

}  // namespace shardmax
