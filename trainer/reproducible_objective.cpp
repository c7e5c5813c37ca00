#include "trainer/reproducible_objective.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <span>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/gradient_kernel.hpp"
#include "common/random.hpp"
#include "common/standardization.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {
namespace {

constexpr std::size_t kScalars = 3;  // GradientSums' loss, count and rows
// The all-reduced counters after the grid sums of W and b: how many values each entry of
// either took (each rank's count, summed), and how many values were beyond their bound.
constexpr std::size_t kWeightsAdded = 0;
constexpr std::size_t kBiasAdded = 1;
constexpr std::size_t kBeyond = 2;
constexpr std::size_t kCounters = 3;

// Local sparse rows [local_begin, local_begin + count) copied into storage, so their layout
// does not depend on where the rank's shard starts (dense rows need no copy: the dense
// kernel's bits do not depend on where its rows sit).
RowBlock CopyRows(const Shard& shard, std::int64_t local_begin, std::int64_t count,
                  std::vector<std::int64_t>* indices, GatheredRows* storage) {
  indices->resize(static_cast<std::size_t>(count));
  std::iota(indices->begin(), indices->end(), local_begin);
  return shard.Gather(*indices, storage);
}

}  // namespace

ExactSumBounds AgreeOnExactSumBounds(const Communicator& comm, const Shard& shard) {
  ExactSumBounds bounds;
  // ByteToUnit is increasing: the largest byte gives the largest value.
  double local_max =
      shard.holds_bytes()        ? static_cast<double>(ByteToUnit(shard.feature_bytes.maxCoeff()))
      : shard.features.size() > 0 ? static_cast<double>(shard.features.cwiseAbs().maxCoeff())
                                  : 0.0;
  for (const float value : shard.sparse.values) {
    local_max = std::max(local_max, static_cast<double>(std::abs(value)));
  }
  bounds.max_abs_feature = AllreduceMaxDouble(comm, local_max);  // a maximum is exact in any order
  ExactSumsOverRanks weight_sum(1);
  double local_max_weight = 1.0;
  if (shard.weights.empty()) {
    weight_sum.Add(0, static_cast<double>(shard.rows.size()));
  } else {
    local_max_weight = 0.0;
    for (const double weight : shard.weights) {
      weight_sum.Add(0, weight);
      local_max_weight = std::max(local_max_weight, weight);
    }
  }
  bounds.weight_sum = weight_sum.Reduce(comm)[0];
  bounds.max_weight = AllreduceMaxDouble(comm, local_max_weight);
  return bounds;
}

ReproducibleObjective::ReproducibleObjective(const Communicator& comm, const Loss& loss,
                                             const Shard& train, std::int64_t max_ranks,
                                             Precision precision)
    : comm_(comm),
      precision_(precision),
      loss_(loss),
      train_(train),
      bounds_(AgreeOnExactSumBounds(comm, train)),
      part_(0, 0) {
  if (train.virtual_shards <= 0) {
    throw std::logic_error("ReproducibleObjective needs a shard read with virtual shards");
  }
  CheckVirtualShards(train.virtual_shards, comm.size(), max_ranks);
  const VirtualShardRange held = RankVirtualShards(train.virtual_shards, comm.size(), comm.rank());
  for (std::int64_t v = held.first; v < held.end; ++v) {
    const RowRange rows = VirtualShardRows(train.total_rows, train.virtual_shards, v);
    held_.push_back(HeldShard{rows.begin - train.rows.begin, rows.size(), {},
                              StartsSegment(train.virtual_shards, max_ranks, v)});
  }
}

void ReproducibleObjective::StartEpoch(std::uint64_t seed, std::int64_t epoch) {
  const VirtualShardRange held =
      RankVirtualShards(train_.virtual_shards, comm_.size(), comm_.rank());
  for (std::size_t i = 0; i < held_.size(); ++i) {
    HeldShard& shard = held_[i];
    const auto virtual_shard = static_cast<std::uint64_t>(held.first) + i;
    shard.order = ShuffledOrder(
        shard.rows, SplitMix64::ForStream(seed, kShuffleStream, static_cast<std::uint64_t>(epoch),
                                          virtual_shard));
    for (std::int64_t& row : shard.order) row += shard.local_begin;
  }
}

void ReproducibleObjective::ClearExactSums(const SoftmaxModel& model, std::int64_t rows,
                                           GradientSums* sums) {
  weights_ = static_cast<std::size_t>(model.classes() * model.features());
  const auto classes = static_cast<std::size_t>(model.classes());
  if (part_.buffer().size() != weights_ + classes + kScalars) {
    part_ = GradientSums(model.classes(), model.features());
  }
  if (sums->buffer().size() != part_.buffer().size()) {
    throw std::logic_error("ReproducibleObjective: sums of another shape than the model");
  }
  // dW's grid sum is in exact_, read back into the objective: of *sums, only the small sums
  // are used, which the parts add to *sums on their way, and they start at zero.
  sums->bias().setZero();
  sums->loss_sum() = sums->count() = sums->rows() = 0.0;
  exact_.assign(weights_ + classes + kCounters + kScalars * kExactScalarLimbs, 0);

  const double x_max = bounds_.max_abs_feature;
  double gradient_bound = loss_.MaxAbsLogitGradient(std::numeric_limits<double>::infinity());
  if (!std::isfinite(gradient_bound)) {  // a bound that depends on the logits: bound them
    const double z_max =
        model.classes() > 0
            ? (model.weights.cwiseAbs().rowwise().sum() * x_max + model.bias.cwiseAbs()).maxCoeff()
            : 0.0;
    gradient_bound = loss_.MaxAbsLogitGradient(z_max);
  }
  // The rows' weight sum: at most S_w, and at most `rows` times the largest weight.
  const double weight_bound =
      std::min(bounds_.weight_sum, static_cast<double>(rows) * bounds_.max_weight);
  bias_grid_ = GridScale::ForBound(weight_bound * gradient_bound);
  weight_grid_ = GridScale::ForBound(weight_bound * gradient_bound * x_max);
}

std::span<std::int64_t> ReproducibleObjective::WeightGridSums() {
  return std::span(exact_).subspan(0, weights_);
}

std::span<std::int64_t> ReproducibleObjective::BiasGridSums() {
  return std::span(exact_).subspan(weights_, part_.bias().size());
}

std::int64_t& ReproducibleObjective::Counter(std::size_t which) {
  return exact_[weights_ + static_cast<std::size_t>(part_.bias().size()) + which];
}

std::span<std::int64_t> ReproducibleObjective::ScalarLimbs(std::size_t scalar) {
  return std::span(exact_).subspan(
      weights_ + static_cast<std::size_t>(part_.bias().size()) + kCounters +
          scalar * kExactScalarLimbs,
      kExactScalarLimbs);
}

void ReproducibleObjective::AddWeightsOnGrid(const GradientSums& part) {
  const std::span<const double> values =
      part.buffer().subspan(0, static_cast<std::size_t>(part.weights().size()));
  Counter(kBeyond) += AddOnGrid(values, weight_grid_, WeightGridSums());
  ++Counter(kWeightsAdded);
}

void ReproducibleObjective::MoveSmallSumsExactly(GradientSums* part) {
  const std::span<double> values = part->buffer();
  const std::size_t weights = static_cast<std::size_t>(part->weights().size());
  const std::size_t classes = static_cast<std::size_t>(part->bias().size());
  Counter(kBeyond) += AddOnGrid(values.subspan(weights, classes), bias_grid_, BiasGridSums());
  ++Counter(kBiasAdded);
  for (std::size_t scalar = 0; scalar < kScalars; ++scalar) {
    AddToExactScalar(values[weights + classes + scalar], ScalarLimbs(scalar));
  }
  std::fill(values.begin() + static_cast<std::ptrdiff_t>(weights), values.end(), 0.0);
}

Objective ReproducibleObjective::ReduceAndFinish(GradientSums* sums, const SoftmaxModel& model,
                                                 double weight_decay) {
  AllreduceSum(comm_, std::span<std::int64_t>(exact_));
  const std::span<double> values = sums->buffer();
  const std::size_t classes = static_cast<std::size_t>(sums->bias().size());
  for (std::size_t scalar = 0; scalar < kScalars; ++scalar) {
    values[weights_ + classes + scalar] = ExactScalarValue(ScalarLimbs(scalar));
  }
  if (!std::isfinite(sums->loss_sum())) {
    // Non-finite logits: the grid sums counted meaningless steps. NaN gradients, as the plain
    // sums would give, for the caller to report.
    std::fill(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(weights_ + classes),
              std::numeric_limits<double>::quiet_NaN());
    return FinishObjective(*sums, model, weight_decay);
  }
  std::int64_t beyond = Counter(kBeyond) + GridStepsToValues(BiasGridSums(), Counter(kBiasAdded),
                                                             bias_grid_,
                                                             values.subspan(weights_, classes));
  // dW read back from its grid sum straight into the gradient: writing it into *sums and
  // reading it back took two passes over K x D more (32 MB a step at K = 1000, D = 2048).
  Objective objective =
      FinishObjective(*sums, model, weight_decay, [&](double inverse_count, Matrix* gradient) {
        gradient->resize(model.classes(), model.features());
        beyond += GridStepsToScaledValues(
            WeightGridSums(), Counter(kWeightsAdded), weight_grid_, inverse_count, weight_decay,
            std::span<const double>(model.weights.data(), weights_),
            std::span<double>(gradient->data(), weights_));
      });
  if (beyond > 0) {
    // The same sums on every rank: every rank throws here together.
    throw AgreedError(
        "--reproducible: a partial gradient sum exceeds the bound its exact sum was scaled "
        "for; this is a bug in shardmax, please report it");
  }
  return objective;
}

std::int64_t ReproducibleObjective::RowsInStep(std::int64_t step, std::int64_t steps) const {
  std::int64_t rows = 0;
  for (std::int64_t v = 0; v < train_.virtual_shards; ++v) {
    const std::int64_t n = VirtualShardRows(train_.total_rows, train_.virtual_shards, v).size();
    rows += (step + 1) * n / steps - step * n / steps;
  }
  return rows;
}

Objective ReproducibleObjective::BatchObjective(const SoftmaxModel& model, std::int64_t step,
                                                std::int64_t steps, double weight_decay,
                                                GradientSums* sums) {
  ClearExactSums(model, RowsInStep(step, steps), sums);
  // Every held virtual shard's rows of the step, one shard after another, a part per segment.
  step_rows_.clear();
  part_rows_.clear();
  for (const HeldShard& shard : held_) {
    const auto begin = static_cast<std::ptrdiff_t>(step * shard.rows / steps);
    const auto end = static_cast<std::ptrdiff_t>((step + 1) * shard.rows / steps);
    step_rows_.insert(step_rows_.end(), shard.order.begin() + begin, shard.order.begin() + end);
    if (shard.starts_segment) part_rows_.push_back(0);  // the rank's first shard starts one
    part_rows_.back() += end - begin;
  }
  if (train_.is_sparse) {
    part_.Clear();
    // No grid in the sparse kernel: each part's sums on their own, rounded as a whole.
    std::size_t first = 0;
    for (const std::int64_t count : part_rows_) {
      const auto rows = std::span(step_rows_).subspan(first, static_cast<std::size_t>(count));
      first += rows.size();
      if (rows.empty()) continue;  // adds nothing on any rank count
      AccumulateBlock(loss_, model, train_.Gather(rows, &rows_), &part_, precision_);
      AddWeightsOnGrid(part_);
      MoveSmallSumsExactly(&part_);
      part_.weights().setZero();
    }
  } else {
    // The features read where they lie (the kernel's bits do not depend on where rows sit),
    // labels and weights gathered once for the step; the kernel rounds each part's dW onto the
    // grid as it adds it into dW's grid sum, and each part's small sums are moved out of *sums
    // as they come.
    const HeldKernelWeights cast_once(model, precision_);
    const RowBlock scoring = train_.GatherAllButDenseFeatures(step_rows_, &rows_);
    WeightGridSum weight_grid{weight_grid_, WeightGridSums()};
    AccumulatePickedDenseParts(loss_, model, train_, step_rows_, scoring, part_rows_,
                               &weight_grid,
                               [this](GradientSums* part) { MoveSmallSumsExactly(part); },
                               sums, precision_);
    Counter(kWeightsAdded) += weight_grid.added;
  }
  return ReduceAndFinish(sums, model, weight_decay);
}

Objective ReproducibleObjective::FullObjective(const SoftmaxModel& model, double weight_decay) {
  GradientSums sums(model.classes(), model.features());
  ClearExactSums(model, train_.total_rows, &sums);
  std::optional<HeldKernelWeights> cast_once;  // the sparse kernel reads W as it is
  if (!train_.is_sparse) cast_once.emplace(model, precision_);
  std::vector<std::int64_t> indices;
  for (std::size_t i = 0; i < held_.size(); ++i) {
    const HeldShard& shard = held_[i];
    if (shard.starts_segment) part_.Clear();
    const std::int64_t global_begin = train_.rows.begin + shard.local_begin;
    for (std::int64_t global = global_begin; global < global_begin + shard.rows;) {
      const std::int64_t block_end =
          std::min(global_begin + shard.rows, (global / kBlockRows + 1) * kBlockRows);
      const std::int64_t local = global - train_.rows.begin;
      AccumulateBlock(loss_, model,
                      train_.is_sparse
                          ? CopyRows(train_, local, block_end - global, &indices, &rows_)
                          : train_.Block(local, block_end - global),
                      &part_, precision_);
      global = block_end;
    }
    if (i + 1 == held_.size() || held_[i + 1].starts_segment) {  // the segment's last shard
      AddWeightsOnGrid(part_);
      MoveSmallSumsExactly(&part_);
    }
  }
  return ReduceAndFinish(&sums, model, weight_decay);
}

ExactSumsOverRanks::ExactSumsOverRanks(std::size_t count)
    : count_(count), limbs_(count * kExactScalarLimbs, 0) {}

void ExactSumsOverRanks::Add(std::size_t index, double value) {
  AddToExactScalar(value, std::span(limbs_).subspan(index * kExactScalarLimbs, kExactScalarLimbs));
}

std::vector<double> ExactSumsOverRanks::Reduce(const Communicator& comm) {
  AllreduceSum(comm, std::span<std::int64_t>(limbs_));
  std::vector<double> totals(count_);
  for (std::size_t i = 0; i < count_; ++i) {
    totals[i] = ExactScalarValue(
        std::span<const std::int64_t>(limbs_).subspan(i * kExactScalarLimbs, kExactScalarLimbs));
  }
  return totals;
}

std::vector<double> ExactFeatureMomentSums(const Communicator& comm, const Shard& shard) {
  const auto count = static_cast<std::size_t>(2 * shard.feature_count + 1);
  ExactSumsOverRanks exact(count);
  FeatureMatrix rows;
  shard.ForEachBlock([&](const RowBlock& block) {
    rows = DenseFeaturesAsFloat(block);  // a copy: aligned the same on any rank
    const std::vector<double> sums = FeatureMomentSums(rows);
    for (std::size_t i = 0; i < count; ++i) exact.Add(i, sums[i]);
  });
  return exact.Reduce(comm);
}

}  // namespace shardmax
