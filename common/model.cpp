#include "common/model.hpp"

#include "common/sparse_objective.hpp"

namespace shardmax {

Vector FlattenParameters(const Matrix& weights, const Vector& bias) {
  Vector theta(weights.size() + bias.size());
  theta.head(weights.size()) = Eigen::Map<const Vector>(weights.data(), weights.size());
  theta.tail(bias.size()) = bias;
  return theta;
}

SoftmaxModel UnflattenParameters(const Vector& theta, Eigen::Index classes, Eigen::Index features) {
  SoftmaxModel model;
  model.weights = Eigen::Map<const Matrix>(theta.data(), classes, features);
  model.bias = theta.tail(classes);
  return model;
}

Matrix ComputeLogits(const SoftmaxModel& model, const RowBlock& block) {
  if (block.sparse.is_sparse()) {
    Matrix logits(block.rows(), model.classes());
    for (Eigen::Index i = 0; i < block.rows(); ++i) {
      SparseRowLogits(model, block.sparse, i, logits.row(i));
    }
    return logits;
  }
  Matrix logits = DenseFeaturesAsDouble(block) * model.weights.transpose();
  logits.rowwise() += model.bias.transpose();
  return logits;
}


}  // namespace shardmax
