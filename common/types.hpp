// Matrix types shared by the model, the objective and the data layer.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>

#include "common/sparse_rows.hpp"

namespace shardmax {

// Parameters and gradients are kept in double; features in float32 to halve memory.
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Label = std::int32_t;
// Multi-label targets: rows x K, each entry 0 or 1 (the reader checks).
using TargetMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// uint8 features kept as stored (a quarter of float32's memory and traffic): value v means
// ByteToUnit(v), the same float a float32 shard read from the file would hold.
using FeatureBytes = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline float ByteToUnit(std::uint8_t value) { return static_cast<float>(value) * (1.0f / 255.0f); }

// out[i] = ByteToUnit(bytes[i]) for count values, vectorized (the same product, so the same bits).
inline void ScaleBytesToUnit(const std::uint8_t* bytes, std::int64_t count, float* out) {
  Eigen::Map<Eigen::ArrayXf>(out, count) =
      Eigen::Map<const Eigen::Array<std::uint8_t, Eigen::Dynamic, 1>>(bytes, count)
          .cast<float>() *
      (1.0f / 255.0f);
}

// Dense rows held as uint8 (row-major, `cols` per row).
struct ByteRows {
  const std::uint8_t* data = nullptr;
  Eigen::Index cols = 0;
  bool is_set() const { return data != nullptr; }
};

// Consecutive rows of features (row-major, contiguous) with what they are scored against: the
// unit the objective consumes, so a streaming reader or a fused kernel can slot in behind it.
// A row has a class label (single-label losses) or a row of 0/1 targets (multi-label), and
// optionally a weight w_i >= 0 in the weighted mean sum_i w_i l_i / sum_i w_i.
struct RowBlock {
  Eigen::Map<const FeatureMatrix> features;
  std::span<const Label> labels;  // one per row, or empty (multi-label data, or unlabelled)
  std::span<const double> weights = {};  // one per row, or empty: every row weighs 1
  Eigen::Map<const TargetMatrix> targets{nullptr, 0, 0};  // rows x K for multi-label data
  // Sparse rows (common/sparse_rows.hpp): when set, `features` is rows() x 0 and the feature
  // values are here instead (common/sparse_objective.hpp computes on them).
  SparseRows sparse = {};
  // The global index (in the data file) of row 0 when the rows are consecutive rows of the
  // file, for state kept per row (the Newton solver's curvature, common/hessian.hpp); -1 when
  // not known, e.g. for a gathered mini-batch.
  std::int64_t first_row = -1;
  // Dense uint8 rows (FeatureBytes): when set, `features` is rows() x 0 and the rows are here;
  // the kernel converts them block by block (DenseFeaturesAsFloat does for the slow paths).
  ByteRows bytes = {};

  Eigen::Index rows() const { return features.rows(); }
  double weight(Eigen::Index row) const {
    return weights.empty() ? 1.0 : weights[static_cast<std::size_t>(row)];
  }
  // sum_i w_i, added in row order (so n exactly when every weight is 1).
  double WeightSum() const {
    if (weights.empty()) return static_cast<double>(rows());
    double sum = 0.0;
    for (const double weight : weights) sum += weight;
    return sum;
  }
};

// The block's dense features as float: `features` itself, or its bytes converted. For the slow
// paths (the reference objective, logits for prediction, feature moments); the kernel converts
// bytes itself, block by block.
inline FeatureMatrix DenseFeaturesAsFloat(const RowBlock& block) {
  if (!block.bytes.is_set()) return block.features;
  FeatureMatrix features(block.rows(), block.bytes.cols);
  ScaleBytesToUnit(block.bytes.data, features.size(), features.data());
  return features;
}

// The same as double, for the double products of the slow paths (without a float copy of
// float rows).
inline Matrix DenseFeaturesAsDouble(const RowBlock& block) {
  if (!block.bytes.is_set()) return block.features.cast<double>();
  return DenseFeaturesAsFloat(block).cast<double>();
}

inline RowBlock MakeRowBlock(const float* features, const Label* labels, Eigen::Index rows,
                             Eigen::Index cols) {
  return RowBlock{Eigen::Map<const FeatureMatrix>(features, rows, cols),
                  std::span<const Label>(labels, static_cast<std::size_t>(rows))};
}

}  // namespace shardmax
