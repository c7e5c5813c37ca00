// The objective over data sharded across ranks: each rank sums its blocks, one all-reduce
// combines the sums, and every rank divides by the same global count.
#pragma once

#include "common/classification_metrics.hpp"
#include "common/loss.hpp"
#include "common/mpi_layer.hpp"
#include "common/objective.hpp"
#include "common/scoring.hpp"
#include "io/dataset_reader.hpp"

namespace shardmax {

// Sums `sums` over all ranks (one all-reduce), then divides by the global count and adds
// the weight decay: the step every rank takes after accumulating its own rows.
Objective ReduceObjective(const Communicator& comm, GradientSums* sums, const SoftmaxModel& model,
                          double weight_decay);

// Adds the loss and gradient sums of the shard's local rows `picked` (a mini-batch, in that
// order; not streamed): dense rows are read by the kernel where they lie (DenseRows::picked),
// only their labels, targets and weights gathered into *storage; sparse rows are gathered.
void AccumulatePickedRows(const Loss& loss, const SoftmaxModel& model, const Shard& shard,
                          std::span<const std::int64_t> picked, GatheredRows* storage,
                          GradientSums* sums, Precision precision);

// Loss and gradient over every row of every rank's shard (full batch), its products in
// `precision` (float64 unless asked: full-batch solvers compare objective values closely).
Objective ComputeShardedObjective(const Communicator& comm, const Loss& loss,
                                  const SoftmaxModel& model, const Shard& shard,
                                  double weight_decay, Precision precision = Precision::kFloat64);

// Evaluation is unweighted: every row counts once, whatever the training weights were.
struct Metrics {
  double loss = 0.0;       // mean per-row loss
  double objective = 0.0;  // loss + (lambda/2)||W||^2
  double accuracy = 0.0;   // rows whose argmax is the label (multi-label: subset accuracy)
  std::int64_t rows = 0;
};

// A full pass over every rank's shard (which must have labels below K), scored by ScoreBlock
// (common/scoring.hpp). Each rank sums [confusion matrix | top-k hits | loss sum] over its rows,
// one all-reduce combines them, and every rank derives the same result.
struct Evaluation {
  Metrics metrics;
  ConfusionMatrix confusion;  // exact: the same counts whatever the rank count
  std::int64_t top_k = 0;     // 0: top-k hits not counted
  std::int64_t top_k_hits = 0;
  double loss_sum = 0.0;      // sum of the per-row losses over all rows
};
Evaluation EvaluateShardedInDetail(const Communicator& comm, const Loss& loss,
                                   const SoftmaxModel& model, const Shard& shard,
                                   double weight_decay, std::int64_t top_k);

// The multi-label counterpart (sigmoid models, shards with K 0/1 targets per row): each rank
// sums [per-label TP | FP | FN | exact rows | rows | loss sum] at `threshold`, one all-reduce
// combines them. metrics.accuracy is the subset accuracy.
struct MultiLabelEvaluation {
  Metrics metrics;
  MultiLabelCounts counts;  // exact: the same counts whatever the rank count
  double threshold = kDefaultThreshold;
  double loss_sum = 0.0;
};
MultiLabelEvaluation EvaluateMultiLabelSharded(const Communicator& comm, const Loss& loss,
                                               const SoftmaxModel& model, const Shard& shard,
                                               double weight_decay, double threshold);

// The loss, objective and accuracy of EvaluateShardedInDetail, or for a multi-label loss of
// EvaluateMultiLabelSharded at the default threshold.
Metrics EvaluateSharded(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                        const Shard& shard, double weight_decay);

}  // namespace shardmax
