#include "trainer/sharded_objective.hpp"

#include <array>

#include "common/collective.hpp"

namespace shardmax {

Objective ReduceObjective(const Communicator& comm, GradientSums* sums, const SoftmaxModel& model,
                          double weight_decay) {
  AllreduceSum(comm, sums->buffer());
  return FinishObjective(*sums, model, weight_decay);
}

Objective ComputeShardedObjective(const Communicator& comm, const Loss& loss,
                                  const SoftmaxModel& model, const Shard& shard,
                                  double weight_decay) {
  GradientSums sums(model.classes(), model.features());
  shard.ForEachBlock([&](const RowBlock& block) { AccumulateBlock(loss, model, block, &sums); });
  return ReduceObjective(comm, &sums, model, weight_decay);
}

Metrics EvaluateSharded(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                        const Shard& shard, double weight_decay) {
  std::array<double, 3> sums{};  // loss sum, correct predictions, rows
  shard.ForEachBlock([&](const RowBlock& block) {
    Matrix logits = ComputeLogits(model, block);
    for (Eigen::Index i = 0; i < logits.rows(); ++i) {
      Eigen::Index predicted = 0;
      logits.row(i).maxCoeff(&predicted);
      if (predicted == block.labels[static_cast<std::size_t>(i)]) sums[1] += 1.0;
    }
    sums[0] += loss.SumAndLogitGradient(&logits, block.labels);
    sums[2] += static_cast<double>(block.rows());
  });
  AllreduceSum(comm, sums);
  Metrics metrics;
  metrics.rows = static_cast<std::int64_t>(sums[2]);
  metrics.loss = sums[0] / sums[2];
  metrics.objective = metrics.loss + WeightDecayPenalty(model, weight_decay);
  metrics.accuracy = sums[1] / sums[2];
  return metrics;
}

}  // namespace shardmax
