// Plain SGD steps on sparse rows that cost the batch's non-zeros, not K x D: the ranks agree on
// the union U of the columns their batch rows touch (one all-gather), all-reduce only the
// gradient of those columns with [db | loss | weight sum | rows] (K |U| + K + 3 values), and
// apply the eager update to the touched columns, the weight decay of all others being deferred
// (common/lazy_decay.hpp). The result equals the eager step (trainer/training.cpp) up to
// rounding. Used for --solver sgd with --momentum 0 on sparse data (README.md, "Sparse data").
#pragma once

#include <cstdint>
#include <vector>

#include "common/lazy_decay.hpp"
#include "common/loss.hpp"
#include "common/model.hpp"
#include "common/mpi_layer.hpp"
#include "common/optimizer.hpp"

namespace shardmax {

struct SparseStepSums {
  double loss_sum = 0.0;  // sum_i w_i l_i over every rank's batch
  double count = 0.0;     // sum_i w_i
  double rows = 0.0;
};

class SparseSgd {
 public:
  SparseSgd(Eigen::Index classes, Eigen::Index features);

  // One step on this rank's batch `block` (sparse) at rate lr with decay lambda.
  SparseStepSums Step(const Communicator& comm, const Loss& loss, const RowBlock& block,
                      double learning_rate, double weight_decay, SoftmaxModel* model);
  // Brings every column of model->weights up to date (the eager weights).
  void Flush(SoftmaxModel* model) { decay_.Flush(&model->weights); }
  SoftmaxModel Flushed(SoftmaxModel model) {
    LazyWeightDecay copy = decay_;
    copy.Flush(&model.weights);
    return model;
  }

  // Checkpoint arrays: the weights as held (not yet decayed) and the decay marks, so a resumed
  // run continues with the very same bits. KeepWeights copies them in before a checkpoint is
  // made; RestoreWeights puts them back after one was read.
  std::vector<OptimizerStateArray> State();
  void KeepWeights(const SoftmaxModel& model) { held_weights_ = model.weights; }
  void RestoreWeights(SoftmaxModel* model) const { model->weights = held_weights_; }

 private:
  LazyWeightDecay decay_;
  Matrix held_weights_;
  std::vector<std::int32_t> columns_;  // U, sorted
  std::vector<double> buffer_;         // [G (|U| x K) | db (K) | loss | count | rows]
};

}  // namespace shardmax
