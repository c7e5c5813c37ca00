#include "trainer/sharded_objective.hpp"

#include <functional>

#include "common/collective.hpp"
#include "common/gradient_kernel.hpp"
#include "common/logging.hpp"
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

// Runs `pass` (a local pass over the shard's blocks); streamed, every rank then agrees on any
// read error (RunAndAgree), as VisitBlocksAgreed does.
void AgreeIfStreamed(const Communicator& comm, const Shard& shard,
                     const std::function<void()>& pass) {
  if (shard.is_streamed()) {
    RunAndAgree(comm, pass);
  } else {
    pass();
  }
}

// Scores every block of every rank's shard into *sums (one all-reduce), on `threads` threads
// per rank, the blocks' scores added in block order; returns the loss sum over all rows.
template <typename Sums>
double ScoreShard(const Communicator& comm, const SoftmaxModel& model, const Shard& shard,
                  const ScoringRequest& request, int threads, Sums* sums) {
  LossSumOverRanks loss_sum(shard);
  AgreeIfStreamed(comm, shard, [&] {
    ForEachBlockInOrder<BlockScores>(
        shard, threads, [] { return BlockScores(); },
        [&](const RowBlock& block, BlockScores* scores) {
          ScoreBlock(model, block, request, scores);
        },
        [&](const RowBlock& block, const BlockScores& scores) {
          sums->Add(block, scores);
          loss_sum.Add(scores.loss_sum);
        });
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

void WarnIfThreadsShareCpus(const Communicator& comm, int threads) {
  if (threads <= 1) return;
  const std::int64_t cpus = AllreduceMin(comm, CpusOfThisProcess());
  if (cpus >= threads) return;
  LogWarning(StrCat("--threads ", threads, ", but a rank may run on only ", cpus,
                    cpus == 1 ? " CPU" : " CPUs",
                    " (its affinity: mpirun binds each rank to one core unless told otherwise), "
                    "so its threads share them; give each rank ",
                    threads, " cores: mpirun --map-by slot:PE=", threads,
                    " (or --bind-to none), or srun/sbatch --cpus-per-task=", threads));
}

Objective ReduceObjective(const Communicator& comm, GradientSums* sums, const SoftmaxModel& model,
                          double weight_decay) {
  AllreduceSum(comm, sums->buffer());
  return FinishObjective(*sums, model, weight_decay);
}

namespace {

// f(DenseRows<T>) on the dense shard's rows `picked`, where they lie: T is float, or uint8
// for a shard held as stored.
template <typename F>
void WithPickedDenseRows(const Shard& shard, std::span<const std::int64_t> picked, F&& f) {
  const auto rows = static_cast<Eigen::Index>(picked.size());
  if (shard.holds_bytes()) {
    f(DenseRows<std::uint8_t>{shard.feature_bytes.data(), rows, shard.feature_count,
                              picked.data()});
  } else {
    f(DenseRows<float>{shard.features.data(), rows, shard.features.cols(), picked.data()});
  }
}

}  // namespace

void AccumulatePickedRows(const Loss& loss, const SoftmaxModel& model, const Shard& shard,
                          std::span<const std::int64_t> picked, GatheredRows* storage,
                          GradientSums* sums, Precision precision) {
  if (shard.is_sparse) {
    return AccumulateBlock(loss, model, shard.Gather(picked, storage), sums, precision);
  }
  const RowBlock scoring = shard.GatherAllButDenseFeatures(picked, storage);
  WithPickedDenseRows(shard, picked, [&](auto rows) {
    AccumulateDenseRows(loss, model, rows, scoring, sums, precision);
  });
}

void AccumulatePickedDenseParts(const Loss& loss, const SoftmaxModel& model, const Shard& shard,
                                std::span<const std::int64_t> picked, const RowBlock& scoring,
                                std::span<const std::int64_t> part_rows,
                                WeightGridSum* weight_grid,
                                const std::function<void(GradientSums*)>& take_small_sums,
                                GradientSums* sums, Precision precision) {
  WithPickedDenseRows(shard, picked, [&](auto rows) {
    AccumulateDenseParts(loss, model, rows, scoring, part_rows, weight_grid, take_small_sums,
                         sums, precision);
  });
}

Objective ComputeShardedObjective(const Communicator& comm, const Loss& loss,
                                  const SoftmaxModel& model, const Shard& shard,
                                  double weight_decay, Precision precision, int threads) {
  GradientSums sums(model.classes(), model.features());
  if (shard.is_sparse) {
    // One transposition per pass (common/sparse_objective.hpp); the same sums as block by block.
    SparsePass pass(model);
    shard.ForEachBlock([&](const RowBlock& block) { pass.Accumulate(loss, block, &sums); });
    pass.Finish(&sums);
    return ReduceObjective(comm, &sums, model, weight_decay);
  }
  // Each block summed from zero, the blocks' sums added in block order: the same bits on any
  // thread count (and streamed or not).
  AgreeIfStreamed(comm, shard, [&] {
    ForEachBlockInOrder<GradientSums>(
        shard, threads, [&] { return GradientSums(model.classes(), model.features()); },
        [&](const RowBlock& block, GradientSums* part) {
          part->Clear();
          AccumulateBlock(loss, model, block, part, precision);
        },
        [&](const RowBlock&, const GradientSums& part) { sums.Add(part); });
  });
  return ReduceObjective(comm, &sums, model, weight_decay);
}

Matrix FeatureMoments(const Communicator& comm, const Shard& shard, int threads) {
  if (shard.is_sparse) throw std::logic_error("FeatureMoments: a sparse shard");
  const Eigen::Index features = shard.feature_count;
  struct BlockMoments {
    Eigen::MatrixXf gram;  // x^T x, its lower triangle
    Eigen::RowVectorXd sums;
  };
  Matrix moments = Matrix::Zero(features + 1, features + 1);  // sums, then means
  AgreeIfStreamed(comm, shard, [&] {
    ForEachBlockInOrder<BlockMoments>(
        shard, threads, [] { return BlockMoments(); },
        [&](const RowBlock& block, BlockMoments* part) {
          // A block's features as float (a copy only for uint8 rows).
          const FeatureMatrix converted =
              block.bytes.is_set() ? DenseFeaturesAsFloat(block) : FeatureMatrix();
          const Eigen::Map<const FeatureMatrix> x =
              block.bytes.is_set() ? Eigen::Map<const FeatureMatrix>(
                                         converted.data(), converted.rows(), converted.cols())
                                   : block.features;
          part->gram.setZero(features, features);
          part->gram.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
          part->sums = x.cast<double>().colwise().sum();
        },
        [&](const RowBlock& block, const BlockMoments& part) {
          moments.topLeftCorner(features, features).triangularView<Eigen::Lower>() +=
              part.gram.cast<double>();
          moments.block(features, 0, 1, features) += part.sums;
          moments(features, features) += static_cast<double>(block.rows());
        });
  });
  AllreduceSum(comm, std::span<double>(moments.data(), static_cast<std::size_t>(moments.size())));
  if (moments(features, features) > 0.0) moments /= moments(features, features);
  return moments.selfadjointView<Eigen::Lower>();  // the lower triangle mirrored
}

Evaluation EvaluateShardedInDetail(const Communicator& comm, const Loss& loss,
                                   const SoftmaxModel& model, const Shard& shard,
                                   double weight_decay, std::int64_t top_k, int threads) {
  const ScoringRequest request{&loss, top_k, false};
  EvaluationSums sums(model.classes());
  Evaluation evaluation;
  evaluation.loss_sum = ScoreShard(comm, model, shard, request, threads, &sums);
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
                                               double weight_decay, double threshold,
                                               int threads) {
  ScoringRequest request;
  request.loss = &loss;
  request.multi_label = true;
  request.threshold = threshold;
  MultiLabelEvaluationSums sums(model.classes());
  MultiLabelEvaluation evaluation;
  evaluation.loss_sum = ScoreShard(comm, model, shard, request, threads, &sums);
  evaluation.counts = sums.counts();
  evaluation.threshold = threshold;
  evaluation.metrics = MakeMetrics(model, weight_decay, evaluation.counts.rows,
                                   evaluation.loss_sum, evaluation.counts.exact_rows);
  return evaluation;
}

Metrics EvaluateSharded(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                        const Shard& shard, double weight_decay, int threads) {
  if (loss.is_multi_label()) {
    return EvaluateMultiLabelSharded(comm, loss, model, shard, weight_decay, kDefaultThreshold,
                                     threads)
        .metrics;
  }
  return EvaluateShardedInDetail(comm, loss, model, shard, weight_decay, 0, threads).metrics;
}

}  // namespace shardmax
