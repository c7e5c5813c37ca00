// Run under mpiexec with 1 and 2 ranks: --threads gives the same bits as one thread, for the
// full-batch objective (both precisions, weighted rows, multi-label) and the evaluation sums,
// in memory and streamed; and the threaded objective is the straightforward one.
#include <gtest/gtest.h>

#include <cstring>

#include "common/collective.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {
namespace {

// 10500 rows: 11 blocks of at most 1024 rows, the last one short (260 rows), so 3 threads get
// several blocks each; on 2 ranks a shard boundary also splits a block.
constexpr std::int64_t kRows = 10500;
constexpr std::int64_t kFeatures = 12;
constexpr std::int64_t kClasses = 5;

bool SameBits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}
bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void ExpectSameObjective(const Objective& threaded, const Objective& one, int threads) {
  EXPECT_TRUE(SameBits(threaded.value, one.value)) << threads << " threads";
  EXPECT_TRUE(SameBits(threaded.data_loss, one.data_loss)) << threads << " threads";
  EXPECT_TRUE(SameBits(threaded.grad_weights, one.grad_weights)) << threads << " threads";
  EXPECT_TRUE(SameBits(threaded.grad_bias, one.grad_bias)) << threads << " threads";
}

class ThreadsTest : public ::testing::Test {
 protected:
  SyntheticConfig WriteSynthetic(const std::string& name, bool multi_label) {
    SyntheticConfig config = testing::SmallSynthetic(directory_ + "/" + name, kRows, kFeatures,
                                                     kClasses, 1.0);
    config.multi_label = multi_label;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    return config;
  }

  // The same model on every rank, far enough from zero that every sum matters.
  static SoftmaxModel RandomModel() {
    SplitMix64 generator(2026);
    SoftmaxModel model = SoftmaxModel::Zeros(kClasses, kFeatures);
    for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
      model.weights.data()[i] = 0.3 * generator.Normal();
    }
    for (Eigen::Index k = 0; k < kClasses; ++k) model.bias(k) = 0.3 * generator.Normal();
    return model;
  }

  // Row weights from the global row index: the same on any rank count, not all 1.
  static void WeighRows(Shard* shard) {
    shard->weights.resize(static_cast<std::size_t>(shard->rows.size()));
    for (std::int64_t i = 0; i < shard->rows.size(); ++i) {
      shard->weights[static_cast<std::size_t>(i)] =
          0.25 + 0.5 * static_cast<double>((shard->rows.begin + i) % 7);
    }
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_ = testing::MakeScratchDirectory(world_);
};

TEST_F(ThreadsTest, ObjectiveHasTheSameBitsOnAnyThreadCount) {
  const SyntheticConfig data = WriteSynthetic("dense.h5", false);
  Shard shard = ReadShard(world_, data.output_path, {});
  const SoftmaxModel model = RandomModel();
  const SoftmaxCrossEntropy loss;
  for (const bool weighted : {false, true}) {
    if (weighted) WeighRows(&shard);
    for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
      const Objective one =
          ComputeShardedObjective(world_, loss, model, shard, 0.01, precision, 1);
      for (const int threads : {2, 3}) {
        SCOPED_TRACE(StrCat(weighted ? "weighted, " : "", "precision ",
                            precision == Precision::kFloat32 ? "float32" : "float64"));
        ExpectSameObjective(
            ComputeShardedObjective(world_, loss, model, shard, 0.01, precision, threads), one,
            threads);
      }
    }
  }
}

// The threaded pass sums every row once: against the straightforward double computation of
// the rank's rows as one block, all-reduced.
TEST_F(ThreadsTest, ThreadedObjectiveIsTheStraightforwardOne) {
  const SyntheticConfig data = WriteSynthetic("reference.h5", false);
  const Shard shard = ReadShard(world_, data.output_path, {});
  const SoftmaxModel model = RandomModel();
  const SoftmaxCrossEntropy loss;
  const Objective threaded =
      ComputeShardedObjective(world_, loss, model, shard, 0.01, Precision::kFloat64, 3);
  GradientSums sums(kClasses, kFeatures);
  AccumulateBlockReference(loss, model, shard.Block(0, shard.rows.size()), &sums);
  const Objective reference = ReduceObjective(world_, &sums, model, 0.01);
  EXPECT_NEAR(threaded.value, reference.value, 1e-12 * std::abs(reference.value));
  const double scale = reference.grad_weights.cwiseAbs().maxCoeff();
  EXPECT_LT((threaded.grad_weights - reference.grad_weights).cwiseAbs().maxCoeff(), 1e-12 * scale);
  EXPECT_LT((threaded.grad_bias - reference.grad_bias).cwiseAbs().maxCoeff(), 1e-12 * scale);
}

TEST_F(ThreadsTest, StreamedShardGivesTheInMemoryBits) {
  const SyntheticConfig data = WriteSynthetic("streamed.h5", false);
  const Shard in_memory = ReadShard(world_, data.output_path, {});
  StreamConfig streaming;
  streaming.force = true;
  streaming.chunk_rows = 2048;
  const Shard streamed = ReadShard(world_, data.output_path, {}, ShardLabels::kRead, 0, streaming);
  ASSERT_TRUE(streamed.is_streamed());
  const SoftmaxModel model = RandomModel();
  const SoftmaxCrossEntropy loss;
  ExpectSameObjective(
      ComputeShardedObjective(world_, loss, model, streamed, 0.01, Precision::kFloat64, 3),
      ComputeShardedObjective(world_, loss, model, in_memory, 0.01, Precision::kFloat64, 3), 3);
  const Evaluation streamed_evaluation =
      EvaluateShardedInDetail(world_, loss, model, streamed, 0.01, 2, 3);
  const Evaluation evaluation = EvaluateShardedInDetail(world_, loss, model, in_memory, 0.01, 2, 3);
  EXPECT_TRUE(SameBits(streamed_evaluation.loss_sum, evaluation.loss_sum));
  EXPECT_EQ(streamed_evaluation.top_k_hits, evaluation.top_k_hits);
}

TEST_F(ThreadsTest, EvaluationHasTheSameBitsOnAnyThreadCount) {
  const SyntheticConfig data = WriteSynthetic("evaluate.h5", false);
  const Shard shard = ReadShard(world_, data.output_path, {});
  const SoftmaxModel model = RandomModel();
  const SoftmaxCrossEntropy loss;
  const Evaluation one = EvaluateShardedInDetail(world_, loss, model, shard, 0.01, 2, 1);
  EXPECT_EQ(one.metrics.rows, kRows);
  EXPECT_GT(one.top_k_hits, 0);
  for (const int threads : {2, 3}) {
    const Evaluation threaded =
        EvaluateShardedInDetail(world_, loss, model, shard, 0.01, 2, threads);
    EXPECT_TRUE(SameBits(threaded.loss_sum, one.loss_sum)) << threads << " threads";
    EXPECT_TRUE(SameBits(threaded.metrics.loss, one.metrics.loss)) << threads << " threads";
    EXPECT_TRUE(SameBits(threaded.metrics.objective, one.metrics.objective));
    EXPECT_TRUE(SameBits(threaded.metrics.accuracy, one.metrics.accuracy));
    EXPECT_EQ(threaded.metrics.rows, one.metrics.rows);
    EXPECT_EQ(threaded.top_k_hits, one.top_k_hits);
    for (std::int64_t t = 0; t < kClasses; ++t) {
      for (std::int64_t p = 0; p < kClasses; ++p) {
        EXPECT_EQ(threaded.confusion.at(t, p), one.confusion.at(t, p));
      }
    }
    const Metrics metrics = EvaluateSharded(world_, loss, model, shard, 0.01, threads);
    EXPECT_TRUE(SameBits(metrics.loss, one.metrics.loss));
  }
}

TEST_F(ThreadsTest, MultiLabelObjectiveAndEvaluationHaveTheSameBitsOnAnyThreadCount) {
  const SyntheticConfig data = WriteSynthetic("multi.h5", true);
  const Shard shard = ReadShard(world_, data.output_path, {});
  ASSERT_TRUE(shard.is_multi_label());
  const SoftmaxModel model = RandomModel();
  const std::unique_ptr<Loss> loss = MakeLoss("sigmoid");
  const Objective one =
      ComputeShardedObjective(world_, *loss, model, shard, 0.01, Precision::kFloat32, 1);
  const MultiLabelEvaluation evaluation_one =
      EvaluateMultiLabelSharded(world_, *loss, model, shard, 0.01, 0.4, 1);
  for (const int threads : {2, 3}) {
    ExpectSameObjective(
        ComputeShardedObjective(world_, *loss, model, shard, 0.01, Precision::kFloat32, threads),
        one, threads);
    const MultiLabelEvaluation threaded =
        EvaluateMultiLabelSharded(world_, *loss, model, shard, 0.01, 0.4, threads);
    EXPECT_TRUE(SameBits(threaded.loss_sum, evaluation_one.loss_sum)) << threads << " threads";
    EXPECT_EQ(threaded.counts.exact_rows, evaluation_one.counts.exact_rows);
    EXPECT_EQ(threaded.counts.rows, evaluation_one.counts.rows);
    for (std::size_t k = 0; k < threaded.counts.per_label.size(); ++k) {
      EXPECT_EQ(threaded.counts.per_label[k].false_positives,
                evaluation_one.counts.per_label[k].false_positives);
      EXPECT_EQ(threaded.counts.per_label[k].false_negatives,
                evaluation_one.counts.per_label[k].false_negatives);
    }
  }
}

}  // namespace
}  // namespace shardmax
