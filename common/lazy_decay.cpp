#include "common/lazy_decay.hpp"

#include <cmath>

namespace shardmax {

LazyWeightDecay::LazyWeightDecay(Eigen::Index features) : state_(Matrix::Zero(1, features + 1)) {}

void LazyWeightDecay::BringUpToDate(std::span<const std::int32_t> columns, Matrix* weights) {
  const double now = log_scale();
  for (const std::int32_t column : columns) {
    if (mark(column) == now) continue;
    weights->col(column) *= std::exp(now - mark(column));
    mark(column) = now;
  }
}

void LazyWeightDecay::Advance(double learning_rate, double weight_decay,
                              std::span<const std::int32_t> touched) {
  log_scale() += std::log1p(-learning_rate * weight_decay);
  for (const std::int32_t column : touched) mark(column) = log_scale();
}

void LazyWeightDecay::Flush(Matrix* weights) {
  const double now = log_scale();
  for (Eigen::Index column = 0; column + 1 < state_.cols(); ++column) {
    if (mark(column) == now) continue;
    weights->col(column) *= std::exp(now - mark(column));
    mark(column) = now;
  }
}

}  // namespace shardmax
