#include "common/objective.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/gradient_kernel.hpp"
#include "common/sparse_objective.hpp"

namespace shardmax {

GradientSums::GradientSums(Eigen::Index classes, Eigen::Index features)
    : classes_(classes),
      features_(features),
      buffer_(static_cast<std::size_t>(classes * features + classes + 3), 0.0) {}

void GradientSums::Clear() { std::fill(buffer_.begin(), buffer_.end(), 0.0); }

void GradientSums::Add(const GradientSums& part) {
  if (part.buffer_.size() != buffer_.size()) {
    throw std::logic_error("GradientSums::Add: sums of another shape");
  }
  for (std::size_t i = 0; i < buffer_.size(); ++i) buffer_[i] += part.buffer_[i];
}

void AccumulateBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                     GradientSums* sums) {
  AccumulateBlock(loss, model, block, sums, Precision::kFloat32);
}

void AccumulateBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                     GradientSums* sums, Precision precision) {
  if (block.sparse.is_sparse()) {
    return AccumulateSparseBlock(loss, model, block, sums);
  }
  if (block.bytes.is_set()) {
    return AccumulateDenseRows(
        loss, model, DenseRows<std::uint8_t>{block.bytes.data, block.rows(), block.bytes.cols},
        block, sums, precision);
  }
  AccumulateDenseRows(loss, model,
                      DenseRows<float>{block.features.data(), block.rows(), block.features.cols()},
                      block, sums, precision);
}

void AccumulateBlockReference(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                              GradientSums* sums) {
  if (block.rows() == 0) return;
  if (block.sparse.is_sparse()) return AccumulateSparseBlock(loss, model, block, sums);
  const Matrix features = DenseFeaturesAsDouble(block);
  Matrix logit_gradient = features * model.weights.transpose();
  logit_gradient.rowwise() += model.bias.transpose();
  sums->loss_sum() += loss.SumAndLogitGradient(&logit_gradient, block);
  sums->weights().noalias() += logit_gradient.transpose() * features;
  sums->bias() += logit_gradient.colwise().sum().transpose();
  sums->count() += block.WeightSum();
  sums->rows() += static_cast<double>(block.rows());
}

double WeightDecayPenalty(const SoftmaxModel& model, double weight_decay) {
  return 0.5 * weight_decay * model.weights.squaredNorm();
}

Objective FinishObjective(const GradientSums& sums, const SoftmaxModel& model,
                          double weight_decay) {
  return FinishObjective(sums, model, weight_decay, [&](double inverse_count, Matrix* gradient) {
    *gradient = sums.weights() * inverse_count + weight_decay * model.weights;
  });
}

Objective FinishObjective(const GradientSums& sums, const SoftmaxModel& model, double weight_decay,
                          const std::function<void(double, Matrix*)>& weight_gradient) {
  const double inverse_count = sums.count() > 0.0 ? 1.0 / sums.count() : 0.0;
  Objective objective;
  objective.data_loss = sums.loss_sum() * inverse_count;
  objective.value = objective.data_loss + WeightDecayPenalty(model, weight_decay);
  weight_gradient(inverse_count, &objective.grad_weights);
  objective.grad_bias = sums.bias() * inverse_count;
  return objective;
}

}  // namespace shardmax
