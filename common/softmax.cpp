#include "common/softmax.hpp"

#include <cmath>

namespace shardmax {

double LogSumExp(const Eigen::Ref<const Eigen::RowVectorXd>& logits) {
  const double row_max = logits.maxCoeff();
  if (!std::isfinite(row_max)) return row_max;
  return row_max + std::log((logits.array() - row_max).exp().sum());
}

Vector SoftmaxRowsInPlace(Matrix* logits) {
  Vector log_sum_exp(logits->rows());
  for (Eigen::Index i = 0; i < logits->rows(); ++i) {
    auto row = logits->row(i);
    const double lse = LogSumExp(row);
    log_sum_exp(i) = lse;
    row = (row.array() - lse).exp();
  }
  return log_sum_exp;
}

}  // namespace shardmax
