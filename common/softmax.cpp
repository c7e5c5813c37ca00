#include "common/softmax.hpp"

#include <cmath>

namespace shardmax {

double LogSumExp(const Eigen::Ref<const Eigen::RowVectorXd>& logits) {
  const double row_max = logits.maxCoeff();
  if (!std::isfinite(row_max)) return row_max;
  return row_max + std::log((logits.array() - row_max).exp().sum());
}

double SoftmaxRowInPlace(Eigen::Ref<Eigen::RowVectorXd> row) {
  const double row_max = row.maxCoeff();
  row = (row.array() - row_max).exp();
  const double sum = row.sum();
  row /= sum;
  return row_max + std::log(sum);
}

Vector SoftmaxRowsInPlace(Matrix* logits) {
  Vector log_sum_exp(logits->rows());
  for (Eigen::Index i = 0; i < logits->rows(); ++i) log_sum_exp(i) = SoftmaxRowInPlace(logits->row(i));
  return log_sum_exp;
}

}  // namespace shardmax
