// The training objective, a weighted mean summed block by block and divided once by the
// global weight sum S = sum_i w_i (w_i = 1 for every row unless rows are weighted):
//   J(W, b) = (1/S) sum_i w_i l(W x_i + b, y_i) + (lambda/2) ||W||_F^2     (bias not decayed)
//   dJ/dW   = (1/S) sum_i w_i g_i x_i^T + lambda W,   dJ/db = (1/S) sum_i w_i g_i,   g_i = dl/dz_i
// The objective knows nothing of MPI: ranks sum GradientSums::buffer() and then finish.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "common/loss.hpp"
#include "common/model.hpp"
#include "common/precision.hpp"

namespace shardmax {

// Sums of the data term in one contiguous buffer
// [dW (K*D, row-major) | db (K) | loss | count | rows], so a single all-reduce combines a step.
// `count` is the weight sum S that the objective divides by (the row count when unweighted);
// `rows` counts the rows themselves, for progress and throughput.
class GradientSums {
 public:
  GradientSums(Eigen::Index classes, Eigen::Index features);

  Eigen::Map<Matrix> weights() { return {buffer_.data(), classes_, features_}; }
  Eigen::Map<const Matrix> weights() const { return {buffer_.data(), classes_, features_}; }
  Eigen::Map<Vector> bias() { return {buffer_.data() + classes_ * features_, classes_}; }
  Eigen::Map<const Vector> bias() const { return {buffer_.data() + classes_ * features_, classes_}; }
  double& loss_sum() { return buffer_[buffer_.size() - 3]; }
  double loss_sum() const { return buffer_[buffer_.size() - 3]; }
  double& count() { return buffer_[buffer_.size() - 2]; }
  double count() const { return buffer_[buffer_.size() - 2]; }
  double& rows() { return buffer_[buffer_.size() - 1]; }
  double rows() const { return buffer_[buffer_.size() - 1]; }

  std::span<double> buffer() { return buffer_; }
  std::span<const double> buffer() const { return buffer_; }
  void Clear();
  // Adds another part's sums (of the same shape), element by element.
  void Add(const GradientSums& part);

 private:
  Eigen::Index classes_;
  Eigen::Index features_;
  std::vector<double> buffer_;
};

// Adds one block's loss and gradient sums, with the fast kernel of common/gradient_kernel.hpp;
// its products in float32 unless `precision` says kFloat64.
void AccumulateBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                     GradientSums* sums);
void AccumulateBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                     GradientSums* sums, Precision precision);
// The same sums computed straightforwardly in double (two GEMMs): the reference the fast
// kernel is tested against.
void AccumulateBlockReference(const Loss& loss, const SoftmaxModel& model, const RowBlock& block,
                              GradientSums* sums);

// (lambda/2) ||W||_F^2
double WeightDecayPenalty(const SoftmaxModel& model, double weight_decay);

struct Objective {
  double data_loss = 0.0;  // (1/S) sum_i w_i l_i
  double value = 0.0;      // data_loss + (lambda/2) ||W||^2
  Matrix grad_weights;
  Vector grad_bias;
};

// Divides the (globally summed) sums by their weight sum and adds the weight decay. Sums of
// weight 0 (a batch whose rows all weigh 0) contribute nothing: only the decay remains.
Objective FinishObjective(const GradientSums& sums, const SoftmaxModel& model, double weight_decay);
// The same with the gradient of W written by `weight_gradient(1 / weight sum, &grad_weights)`
// (the sums' W / weight sum + lambda W, K x D) instead of from sums.weights(): for dW summed
// elsewhere (--reproducible's grid sum, read back as it goes into the gradient).
Objective FinishObjective(const GradientSums& sums, const SoftmaxModel& model, double weight_decay,
                          const std::function<void(double, Matrix*)>& weight_gradient);

}  // namespace shardmax
