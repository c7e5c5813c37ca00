// Bitwise-reproducible training sums (--reproducible; README, "Reproducibility"): the same
// bits on any rank count that divides the V virtual shards (up to a largest one), because
//   - work is cut by virtual shard (io/virtual_shards.hpp), never by rank: virtual shard v
//     shuffles its n_v rows each epoch from (seed, epoch, v), and step t of the S steps of an
//     epoch takes its rows [t n_v / S, (t + 1) n_v / S) of that order;
//   - the virtual shards of a segment (io/virtual_shards.hpp: on one rank for every rank
//     count the run may use) are summed as one part, a step's rows (or a block's, full batch)
//     by AccumulateBlock, the same code wherever it runs, whose bits depend on the rows'
//     values and count only, not on where they sit (common/gradient_kernel.hpp);
//   - those per-segment sums are added exactly (common/exact_sum.hpp): the gradient
//     rounded onto a grid and counted in grid steps, the loss and weight sums as exact
//     scalars, all in integers; one integer MPI_SUM combines them, so neither the rank count
//     nor the reduction order can change a bit.
// The gradient's grid needs no message per step: over the n rows of a step,
//   |sum_i w_i g_ik x_ij| <= S G X,   |sum_i w_i g_ik| <= S G,   S = min(S_w, n w_max)
// with S_w the sum of every training row's weight, w_max the largest and X = max |x_ij| over
// all ranks (agreed once, exactly), and G = Loss::MaxAbsLogitGradient(Z), where
//   Z = max_k (||W_k||_1 X + |b_k|)  >=  every |z_k|
// comes from the model, which every rank holds bit for bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/exact_sum.hpp"
#include "common/loss.hpp"
#include "common/mpi_layer.hpp"
#include "common/objective.hpp"
#include "io/dataset_reader.hpp"
#include "io/virtual_shards.hpp"

namespace shardmax {

// The SplitMix64 stream of the epochs' shuffles: the trainer's (trainer/training.cpp), by
// epoch and part, and --reproducible's, by epoch and virtual shard.
inline constexpr std::uint64_t kShuffleStream = 7;

struct ExactSumBounds {
  double max_abs_feature = 0.0;  // X
  double weight_sum = 0.0;       // S_w
  double max_weight = 0.0;       // max_i w_i (1 when rows are unweighted)
};

// Collective: X and S_w over every rank's rows, the same bits on any rank count.
ExactSumBounds AgreeOnExactSumBounds(const Communicator& comm, const Shard& shard);

class ReproducibleObjective {
 public:
  // Collective (agrees on the bounds). `train` must have virtual shards; `loss` and `train`
  // must outlive this. The bits are the same on every rank count dividing them up to
  // `max_ranks`, which the rank count must be among. Every block's products are computed in
  // `precision`.
  ReproducibleObjective(const Communicator& comm, const Loss& loss, const Shard& train,
                        std::int64_t max_ranks, Precision precision);

  // Shuffles the rows of every virtual shard this rank holds for `epoch`.
  void StartEpoch(std::uint64_t seed, std::int64_t epoch);

  // Step `step` of `steps` of the epoch started last: every virtual shard's rows of the step,
  // summed exactly over all ranks (one all-reduce), then finished. *sums receives the loss,
  // weight and row sums and db; dW goes straight into the objective's gradient.
  Objective BatchObjective(const SoftmaxModel& model, std::int64_t step, std::int64_t steps,
                           double weight_decay, GradientSums* sums);

  // Every row (full batch: gradient descent and L-BFGS), each virtual shard in blocks cut at
  // global multiples of kBlockRows.
  Objective FullObjective(const SoftmaxModel& model, double weight_decay);

 private:
  struct HeldShard {
    std::int64_t local_begin = 0;     // its first row in the rank's shard
    std::int64_t rows = 0;            // n_v
    std::vector<std::int64_t> order;  // its rows this epoch, as local rows of the shard
    bool starts_segment = false;      // summed with the shards before it unless it starts one
  };

  // Rows of step `step` over every virtual shard: the same number on every rank.
  std::int64_t RowsInStep(std::int64_t step, std::int64_t steps) const;
  // Zeroes the exact sums and the small sums of *sums (of the model's shape, which receives
  // them) and sets their grids for a sum over `rows` rows of every rank.
  void ClearExactSums(const SoftmaxModel& model, std::int64_t rows, GradientSums* sums);
  // The parts of exact_: the grid sums of W and b, a counter (kWeightsAdded...), the limbs
  // of a scalar (loss, count, rows).
  std::span<std::int64_t> WeightGridSums();
  std::span<std::int64_t> BiasGridSums();
  std::int64_t& Counter(std::size_t which);
  std::span<std::int64_t> ScalarLimbs(std::size_t scalar);
  // Adds the dW of one segment (the unit whose bits do not depend on the rank count) onto
  // dW's grid sum, and counts values beyond the bound.
  void AddWeightsOnGrid(const GradientSums& part);
  // Adds one segment's db (onto its grid), loss, weight sum and rows (exactly), and zeroes
  // them in *part.
  void MoveSmallSumsExactly(GradientSums* part);
  // All-reduces the exact sums, writes the small ones (db, loss, count, rows) into *sums and
  // finishes the objective, dW read back from its grid sum as it goes into the gradient.
  Objective ReduceAndFinish(GradientSums* sums, const SoftmaxModel& model, double weight_decay);

  const Communicator& comm_;
  Precision precision_;
  const Loss& loss_;
  const Shard& train_;
  ExactSumBounds bounds_;
  std::vector<HeldShard> held_;
  GatheredRows rows_;                // the rows being summed, copied
  std::vector<std::int64_t> step_rows_;  // a step's rows, held virtual shard after shard
  std::vector<std::int64_t> part_rows_;  // how many of them each held segment gives
  GradientSums part_;                // one segment's sums, in double
  // The exact sums, all-reduced at once: [W's grid sum | b's | the counters | the limbs of
  // loss, count and rows]. The kernel adds W's grid sum here, not into the caller's
  // GradientSums.
  std::vector<std::int64_t> exact_;
  std::size_t weights_ = 0;  // K x D
  GridScale weight_grid_;
  GridScale bias_grid_;
};

// Sums of doubles over every rank, exact: add P-independent parts (a block's sum, a row's
// value) on each rank, then all-reduce once.
class ExactSumsOverRanks {
 public:
  explicit ExactSumsOverRanks(std::size_t count);
  void Add(std::size_t index, double value);
  // Collective: the totals, each rounded once.
  std::vector<double> Reduce(const Communicator& comm);

 private:
  std::size_t count_;
  std::vector<std::int64_t> limbs_;
};

// Collective: FeatureMomentSums ([sum x | sum x^2 | rows]) over every rank's rows, exactly,
// block by block (Shard::ForEachBlock cuts the same blocks on any rank count).
std::vector<double> ExactFeatureMomentSums(const Communicator& comm, const Shard& shard);

}  // namespace shardmax
