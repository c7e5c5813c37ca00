// Numerically stable softmax and log-sum-exp, shifted by the row maximum:
//   lse(z) = m + log s,   s = sum_k exp(z_k - m),   m = max_k z_k
//   softmax(z)_k = exp(z_k - m) / s
// so logits of +-1000 give finite, correct values.
#pragma once

#include "common/types.hpp"

namespace shardmax {

// log sum_k exp(z_k) of one row.
double LogSumExp(const Eigen::Ref<const Eigen::RowVectorXd>& logits);

// Replaces one row of logits with its softmax; returns the row's log-sum-exp.
double SoftmaxRowInPlace(Eigen::Ref<Eigen::RowVectorXd> row);

// Replaces each row of `logits` with its softmax; returns each row's log-sum-exp.
Vector SoftmaxRowsInPlace(Matrix* logits);

}  // namespace shardmax
