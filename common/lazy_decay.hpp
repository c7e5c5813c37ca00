// Lazy (just-in-time) weight decay for plain SGD on sparse rows. The eager step
//   W <- W - lr_t (G_t / S_t + lambda W)
// multiplies every column j the batch does not touch (G_t[:, j] = 0) by (1 - lr_t lambda). Kept
// as one running sum L_t = sum_{s < t} log(1 - lr_s lambda), a column untouched since the value
// m_j that L had when it was last brought up to date is the eager column times a pending factor:
//   W_eager[:, j] = exp(L_t - m_j) W[:, j]
// so a step brings up to date only the columns it touches, applies the eager formula to them,
// and advances L: it costs the batch's non-zeros, not D. The results equal the eager update up
// to rounding (one exp instead of a product of factors); Flush brings every column up to date.
#pragma once

#include <cstdint>
#include <span>

#include "common/types.hpp"

namespace shardmax {

class LazyWeightDecay {
 public:
  explicit LazyWeightDecay(Eigen::Index features);

  // Applies the pending factor to each column in `columns` of the K x D `weights`.
  void BringUpToDate(std::span<const std::int32_t> columns, Matrix* weights);
  // After a step of rate lr whose touched columns were brought up to date and updated eagerly:
  // those columns are current at the new L; every other one owes the factor (1 - lr lambda).
  void Advance(double learning_rate, double weight_decay, std::span<const std::int32_t> touched);
  // Brings every column up to date.
  void Flush(Matrix* weights);

  // [m_0 .. m_{D-1} | L] as one 1 x (D + 1) array, for checkpoints.
  Matrix& state() { return state_; }

 private:
  double& mark(Eigen::Index column) { return state_(0, column); }
  double& log_scale() { return state_(0, state_.cols() - 1); }

  Matrix state_;
};

}  // namespace shardmax
