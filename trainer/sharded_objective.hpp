// The objective over data sharded across ranks: each rank sums its blocks, one all-reduce
// combines the sums, and every rank divides by the same global count. A rank's blocks may run
// on several threads (`threads`, --threads): each block is summed on its own and the blocks'
// sums added in block order, so the result has the same bits on any thread count.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "common/block_parallel.hpp"
#include "common/classification_metrics.hpp"
#include "common/gradient_kernel.hpp"
#include "common/loss.hpp"
#include "common/mpi_layer.hpp"
#include "common/objective.hpp"
#include "common/scoring.hpp"
#include "io/dataset_reader.hpp"

namespace shardmax {

// A pass over the shard's blocks (Shard::ForEachBlock): compute(block, &partial) for each
// block, combine(block, partial) on the calling thread in block order. In memory, blocks are
// computed on `threads` threads (RunBlocksInOrder); streamed, one after the other as the
// stream reads them: the same partials added in the same order, so the same bits. Local: it
// makes no MPI call, and a streamed shard may throw UserError as ForEachBlock does (wrap it in
// RunAndAgree where the pass is collective). compute must not call MPI or HDF5.
template <typename Partial, typename MakePartial, typename Compute, typename Combine>
void ForEachBlockInOrder(const Shard& shard, int threads, const MakePartial& make_partial,
                         const Compute& compute, const Combine& combine) {
  if (shard.is_streamed()) {
    Partial partial = make_partial();
    shard.ForEachBlock([&](const RowBlock& block) {
      compute(block, &partial);
      combine(block, std::as_const(partial));
    });
    return;
  }
  std::vector<RowBlock> blocks;
  shard.ForEachBlock([&](const RowBlock& block) { blocks.push_back(block); });
  RunBlocksInOrder<Partial>(
      threads, static_cast<std::int64_t>(blocks.size()), make_partial,
      [&](std::int64_t b, Partial* partial) {
        compute(blocks[static_cast<std::size_t>(b)], partial);
      },
      [&](std::int64_t b, const Partial& partial) {
        combine(blocks[static_cast<std::size_t>(b)], partial);
      });
}

// Collective: with threads > 1, a warning (from rank 0) when some rank may run on fewer CPUs
// than that, so its threads would share them: how to launch the ranks with more.
void WarnIfThreadsShareCpus(const Communicator& comm, int threads);

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

// The same for a dense shard's rows `picked`, scored against `scoring` (their labels, targets
// and weights, in that order), cut into parts of `part_rows[p]` rows each, every part's sums as
// if computed alone, dW into the grid sum `weight_grid` (AccumulateDenseParts: --reproducible's
// virtual shards).
void AccumulatePickedDenseParts(const Loss& loss, const SoftmaxModel& model, const Shard& shard,
                                std::span<const std::int64_t> picked, const RowBlock& scoring,
                                std::span<const std::int64_t> part_rows,
                                WeightGridSum* weight_grid,
                                const std::function<void(GradientSums*)>& take_small_sums,
                                GradientSums* sums, Precision precision);

// Loss and gradient over every row of every rank's shard (full batch), its products in
// `precision` (float64 unless asked: full-batch solvers compare objective values closely).
// Dense in-memory shards use `threads` threads; sparse and streamed shards one.
Objective ComputeShardedObjective(const Communicator& comm, const Loss& loss,
                                  const SoftmaxModel& model, const Shard& shard,
                                  double weight_decay, Precision precision = Precision::kFloat64,
                                  int threads = 1);

// C = (1/N) sum_i x~_i x~_i^T, x~ = [x; 1], over every row of every rank's dense shard
// ((D+1) x (D+1)): the data's factor of Newton-CG's preconditioner
// (common/kronecker_preconditioner.hpp). Each block's x^T x in float32, added in double in
// block order (the same bits on any thread count, streamed or not), one all-reduce.
Matrix FeatureMoments(const Communicator& comm, const Shard& shard, int threads = 1);

// Evaluation is unweighted: every row counts once, whatever the training weights were.
struct Metrics {
  double loss = 0.0;       // mean per-row loss
  double objective = 0.0;  // loss + (lambda/2)||W||^2
  double accuracy = 0.0;   // rows whose argmax is the label (multi-label: subset accuracy)
  std::int64_t rows = 0;
};

// A full pass over every rank's shard (which must have labels below K), scored by ScoreBlock
// (common/scoring.hpp). Each rank sums [confusion matrix | top-k hits | loss sum] over its rows,
// one all-reduce combines them, and every rank derives the same result. In-memory shards (dense
// or sparse) are scored on `threads` threads, streamed ones on one.
struct Evaluation {
  Metrics metrics;
  ConfusionMatrix confusion;  // exact: the same counts whatever the rank count
  std::int64_t top_k = 0;     // 0: top-k hits not counted
  std::int64_t top_k_hits = 0;
  double loss_sum = 0.0;      // sum of the per-row losses over all rows
};
Evaluation EvaluateShardedInDetail(const Communicator& comm, const Loss& loss,
                                   const SoftmaxModel& model, const Shard& shard,
                                   double weight_decay, std::int64_t top_k, int threads = 1);

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
                                               double weight_decay, double threshold,
                                               int threads = 1);

// The loss, objective and accuracy of EvaluateShardedInDetail, or for a multi-label loss of
// EvaluateMultiLabelSharded at the default threshold.
Metrics EvaluateSharded(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                        const Shard& shard, double weight_decay, int threads = 1);

}  // namespace shardmax
