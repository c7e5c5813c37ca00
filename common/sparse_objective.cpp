#include "common/sparse_objective.hpp"

namespace shardmax {

void SparseRowLogits(const SoftmaxModel& model, const SparseRows& rows, std::int64_t row,
                     Eigen::Ref<Eigen::RowVectorXd> logits) {
  const Eigen::Index classes = model.classes();
  const Eigen::Index features = model.features();
  const double* weights = model.weights.data();  // row-major: W(k, j) at k * D + j
  logits = model.bias.transpose();
  for (std::int64_t e = rows.RowBegin(row); e < rows.RowEnd(row); ++e) {
    const auto at = static_cast<std::size_t>(e);
    const Eigen::Index column = rows.columns[at];
    const double value = rows.values[at];
    for (Eigen::Index k = 0; k < classes; ++k) logits(k) += value * weights[k * features + column];
  }
}

void AccumulateSparseBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                           GradientSums* sums) {
  const Eigen::Index rows = block.rows();
  if (rows == 0) return;
  const Eigen::Index classes = model.classes();
  const Eigen::Index features = model.features();
  const SparseRows& sparse = block.sparse;
  Matrix logit_gradient(rows, classes);
  for (Eigen::Index i = 0; i < rows; ++i) SparseRowLogits(model, sparse, i, logit_gradient.row(i));
  sums->loss_sum() += loss.SumAndLogitGradient(&logit_gradient, block);

  double* gradient = sums->weights().data();
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (std::int64_t e = sparse.RowBegin(i); e < sparse.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      const Eigen::Index column = sparse.columns[at];
      const double value = sparse.values[at];
      for (Eigen::Index k = 0; k < classes; ++k) {
        gradient[k * features + column] += value * logit_gradient(i, k);
      }
    }
  }
  sums->bias() += logit_gradient.colwise().sum().transpose();
  sums->count() += block.WeightSum();
  sums->rows() += static_cast<double>(rows);
}

SparsePass::SparsePass(const SoftmaxModel& model)
    : model_(model),
      transposed_weights_(model.weights.transpose()),
      transposed_gradient_(Matrix::Zero(model.features(), model.classes())) {}

void SparsePass::Accumulate(const Loss& loss, const RowBlock& block, GradientSums* sums) {
  const Eigen::Index rows = block.rows();
  if (rows == 0) return;
  const Eigen::Index classes = model_.classes();
  const SparseRows& sparse = block.sparse;
  // The additions of SparseRowLogits and AccumulateSparseBlock, in their order.
  Matrix logit_gradient(rows, classes);
  for (Eigen::Index i = 0; i < rows; ++i) {
    auto logits = logit_gradient.row(i);
    logits = model_.bias.transpose();
    for (std::int64_t e = sparse.RowBegin(i); e < sparse.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      const double value = sparse.values[at];
      const double* weights = transposed_weights_.data() + sparse.columns[at] * classes;
      for (Eigen::Index k = 0; k < classes; ++k) logits(k) += value * weights[k];
    }
  }
  sums->loss_sum() += loss.SumAndLogitGradient(&logit_gradient, block);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (std::int64_t e = sparse.RowBegin(i); e < sparse.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      const double value = sparse.values[at];
      double* gradient = transposed_gradient_.data() + sparse.columns[at] * classes;
      for (Eigen::Index k = 0; k < classes; ++k) gradient[k] += value * logit_gradient(i, k);
    }
  }
  sums->bias() += logit_gradient.colwise().sum().transpose();
  sums->count() += block.WeightSum();
  sums->rows() += static_cast<double>(rows);
}

void SparsePass::Finish(GradientSums* sums) const {
  sums->weights() += transposed_gradient_.transpose();
}

}  // namespace shardmax
