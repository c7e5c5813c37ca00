// The softmax regression model: weights W (K x D) and bias b (K); p = softmax(W x + b).
#pragma once

#include <vector>

#include "common/types.hpp"

namespace shardmax {

struct SoftmaxModel {
  Matrix weights;  // K x D
  Vector bias;     // K

  static SoftmaxModel Zeros(Eigen::Index classes, Eigen::Index features) {
    return SoftmaxModel{Matrix::Zero(classes, features), Vector::Zero(classes)};
  }
  Eigen::Index classes() const { return weights.rows(); }
  Eigen::Index features() const { return weights.cols(); }
  bool IsFinite() const { return weights.allFinite() && bias.allFinite(); }
};

// theta = [W (row-major) | b], the parameter vector of full-batch solvers such as L-BFGS.
Vector FlattenParameters(const Matrix& weights, const Vector& bias);
SoftmaxModel UnflattenParameters(const Vector& theta, Eigen::Index classes, Eigen::Index features);

// Z = X W^T + 1 b^T for one block of rows (n x K).
Matrix ComputeLogits(const SoftmaxModel& model, const RowBlock& block);


}  // namespace shardmax
