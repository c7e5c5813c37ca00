#include "trainer/sharded_objective.hpp"

#include "common/collective.hpp"
#include "common/gradient_kernel.hpp"
#include "common/scoring.hpp"
#include "common/sparse_objective.hpp"
#include "trainer/reproducible_objective.hpp"

namespace shardmax {
namespace {

// The loss sum over every rank: as summed with the rest of the buffer, or, for a shard with
// virtual shards, exactly from its blocks' sums (the same blocks on any rank count).
class LossSumOverRanks {
 public:
  explicit LossSumOverRanks(const Shard& shard) : is_exact_(shard.virtual_shards > 0) {}
  void Add(double block_loss_sum) {
    if (is_exact_) exact_.Add(0, block_loss_sum);
  }
  // Collective when exact; `summed` is the loss sum all-reduced with the other sums.
  double Total(const Communicator& comm, double summed) {
    return is_exact_ ? exact_.Reduce(comm)[0] : summed;
  }

 private:
  bool is_exact_;
  ExactSumsOverRanks exact_{1};
};

// Scores every block of every rank's shard into *sums (one all-reduce); returns the loss sum
// over all rows.
template <typename Sums>
double ScoreShard(const Communicator& comm, const SoftmaxModel& model, const Shard& shard,
                  const ScoringRequest& request, Sums* sums) {
  BlockScores scores;
  LossSumOverRanks loss_sum(shard);
  VisitBlocksAgreed(comm, shard, [&](const RowBlock& block) {
    ScoreBlock(model, block, request, &scores);
    sums->Add(block, scores);
    loss_sum.Add(scores.loss_sum);
  });
  AllreduceSum(comm, sums->buffer());
  return loss_sum.Total(comm, sums->loss_sum());
}

// Mean loss, objective and accuracy from the sums over all rows.
Metrics MakeMetrics(const SoftmaxModel& model, double weight_decay, std::int64_t rows,
                    double loss_sum, std::int64_t correct) {
  Metrics metrics;
  metrics.rows = rows;
  metrics.loss = loss_sum / static_cast<double>(rows);
  metrics.objective = metrics.loss + WeightDecayPenalty(model, weight_decay);
  metrics.accuracy = static_cast<double>(correct) / static_cast<double>(rows);
  return metrics;
}

}  // namespace

Objective ReduceObjective(const Communicator& comm, GradientSums* sums, const SoftmaxModel& model,
                          double weight_decay) {
  AllreduceSum(comm, sums->buffer());
  return FinishObjective(*sums, model, weight_decay);
}

void AccumulatePickedRows(const Loss& loss, const SoftmaxModel& model, const Shard& shard,
                          std::span<const std::int64_t> picked, GatheredRows* storage,
                          GradientSums* sums, Precision precision) {
  if (shard.is_sparse) {
    return AccumulateBlock(loss, model, shard.Gather(picked, storage), sums, precision);
  }
  const RowBlock scoring = shard.GatherAllButDenseFeatures(picked, storage);
  AccumulateDenseRows(loss, model,
                      DenseRows<float>{shard.features.data(), scoring.rows(),
                                       shard.features.cols(), picked.data()},
                      scoring, sums, precision);
}

Objective ComputeShardedObjective(const Communicator& comm, const Loss& loss,
                                  const SoftmaxModel& model, const Shard& shard,
                                  double weight_decay, Precision precision) {
  GradientSums sums(model.classes(), model.features());
  if (shard.is_sparse) {
    // One transposition per pass (common/sparse_objective.hpp); the same sums as block by block.
    SparsePass pass(model);
    shard.ForEachBlock([&](const RowBlock& block) { pass.Accumulate(loss, block, &sums); });
    pass.Finish(&sums);
    return ReduceObjective(comm, &sums, model, weight_decay);
  }
  VisitBlocksAgreed(comm, shard, [&](const RowBlock& block) {
    AccumulateBlock(loss, model, block, &sums, precision);
  });
  return ReduceObjective(comm, &sums, model, weight_decay);
}

Evaluation EvaluateShardedInDetail(const Communicator& comm, const Loss& loss,
                                   const SoftmaxModel& model, const Shard& shard,
                                   double weight_decay, std::int64_t top_k) {
  const ScoringRequest request{&loss, top_k, false};
  EvaluationSums sums(model.classes());
  Evaluation evaluation;
  evaluation.loss_sum = ScoreShard(comm, model, shard, request, &sums);
  evaluation.confusion = sums.confusion();
  evaluation.top_k = top_k;
  evaluation.top_k_hits = sums.top_k_hits();
  std::int64_t correct = 0;
  for (std::int64_t k = 0; k < model.classes(); ++k) correct += evaluation.confusion.at(k, k);
  evaluation.metrics = MakeMetrics(model, weight_decay, evaluation.confusion.total(),
                                   evaluation.loss_sum, correct);
  return evaluation;
}

MultiLabelEvaluation EvaluateMultiLabelSharded(const Communicator& comm, const Loss& loss,
                                               const SoftmaxModel& model, const Shard& shard,
                                               double weight_decay, double threshold) {
  ScoringRequest request;
  request.loss = &loss;
  request.multi_label = true;
  request.threshold = threshold;
  MultiLabelEvaluationSums sums(model.classes());
  MultiLabelEvaluation evaluation;
  evaluation.loss_sum = ScoreShard(comm, model, shard, request, &sums);
  evaluation.counts = sums.counts();
  evaluation.threshold = threshold;
  evaluation.metrics = MakeMetrics(model, weight_decay, evaluation.counts.rows,
                                   evaluation.loss_sum, evaluation.counts.exact_rows);
  return evaluation;
}

Metrics EvaluateSharded(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                        const Shard& shard, double weight_decay) {
  if (loss.is_multi_label()) {
    return EvaluateMultiLabelSharded(comm, loss, model, shard, weight_decay, kDefaultThreshold)
        .metrics;
  }
  return EvaluateShardedInDetail(comm, loss, model, shard, weight_decay, 0).metrics;
}

}  // namespace shardmax
