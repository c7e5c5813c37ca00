// The objective's data term on sparse rows (common/sparse_rows.hpp): the same sums as
// AccumulateBlock (common/objective.hpp) computed from the non-zeros only. For row i with
// non-zeros x_ij at columns j in nz(i):
//   z_i        = b + sum_{j in nz(i)} x_ij W[:, j]                 (sparse times dense)
//   l_i, g_i   = the loss and dl/dz at z_i                         (common/loss.hpp)
//   dW[:, j]  += w_i x_ij g_i   for j in nz(i) only                (the touched columns)
//   db        += w_i g_i
// A row costs K times its non-zeros, whatever D is; the sums stay dense (K x D), because
// that is what ranks all-reduce.
#pragma once

#include "common/loss.hpp"
#include "common/model.hpp"
#include "common/objective.hpp"

namespace shardmax {

// Adds one sparse block's loss and gradient sums (block.sparse must be set).
void AccumulateSparseBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                           GradientSums* sums);

// z = W x + b of row `row` of `rows` into logits (K entries), the non-zeros added in order.
void SparseRowLogits(const SoftmaxModel& model, const SparseRows& rows, std::int64_t row,
                     Eigen::Ref<Eigen::RowVectorXd> logits);

}  // namespace shardmax
