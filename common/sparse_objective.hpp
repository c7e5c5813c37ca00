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

// A full pass over sparse blocks (the objective L-BFGS evaluates): the same sums, to the bit, as
// AccumulateSparseBlock block by block, but with W^T and the gradient held D x K, so the K
// weights of a column are contiguous. Row-major K x D puts them D apart, one cache and TLB miss
// each: transposing once per pass (2 K D copies, and 2 K D doubles of memory) is much cheaper.
class SparsePass {
 public:
  explicit SparsePass(const SoftmaxModel& model);
  // Adds one sparse block's loss, bias and count sums; its weight gradient goes to G^T.
  void Accumulate(const Loss& loss, const RowBlock& block, GradientSums* sums);
  // Adds G^T, transposed, to sums->weights().
  void Finish(GradientSums* sums) const;

 private:
  const SoftmaxModel& model_;
  Matrix transposed_weights_;   // D x K
  Matrix transposed_gradient_;  // D x K
};

// z = W x + b of row `row` of `rows` into logits (K entries), the non-zeros added in order.
void SparseRowLogits(const SoftmaxModel& model, const SparseRows& rows, std::int64_t row,
                     Eigen::Ref<Eigen::RowVectorXd> logits);

}  // namespace shardmax
