// Run under mpiexec with 1, 2, 3 and 4 ranks: --reproducible gives, on the whole world, the
// same bits as one rank alone (MPI_COMM_SELF) does with all the rows: the full-batch
// objective, the evaluation and whole training runs, weighted and standardized.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/collective.hpp"
#include "common/random.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/reproducible_objective.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

bool SameBits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

bool SameBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

class ReproducibleTest : public ::testing::Test {
 protected:
  // Rank 0 writes the file; everyone waits for it.
  SyntheticConfig WriteSynthetic(const std::string& name, std::int64_t rows) {
    SyntheticConfig config =
        shardmax::testing::SmallSynthetic(directory_ + "/" + name, rows, 11, 4, 1.5);
    config.validation_output_path = directory_ + "/val-" + name;
    config.validation_rows = 300;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    return config;
  }

  static SoftmaxModel RandomModel(std::uint64_t seed) {
    SplitMix64 generator(seed);
    SoftmaxModel model = SoftmaxModel::Zeros(4, 11);
    for (Eigen::Index i = 0; i < model.weights.size(); ++i)
      model.weights.data()[i] = generator.Normal();
    for (Eigen::Index k = 0; k < 4; ++k) model.bias(k) = generator.Normal();
    return model;
  }

  Communicator world_{MPI_COMM_WORLD};
  Communicator alone_{MPI_COMM_SELF};
  std::string directory_ = shardmax::testing::MakeScratchDirectory(world_);
};

TEST_F(ReproducibleTest, FullObjectiveAndEvaluationMatchOneRankBitForBit) {
  const SyntheticConfig data = WriteSynthetic("objective.h5", 5003);
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = RandomModel(21);
  const Shard shard = ReadShard(world_, data.output_path, {}, ShardLabels::kRead, 12);
  const Shard everything = ReadShard(alone_, data.output_path, {}, ShardLabels::kRead, 12);

  // Float32 products (sgd's, adamw's) and float64 products (lbfgs's) alike.
  for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
    const Objective distributed =
        ReproducibleObjective(world_, loss, shard, kDefaultMaxRanks, precision)
            .FullObjective(model, 0.01);
    const Objective single =
        ReproducibleObjective(alone_, loss, everything, kDefaultMaxRanks, precision)
            .FullObjective(model, 0.01);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(distributed.value),
              std::bit_cast<std::uint64_t>(single.value));
    EXPECT_TRUE(SameBits(distributed.grad_weights, single.grad_weights));
    EXPECT_TRUE(SameBits(distributed.grad_bias, single.grad_bias));
    // And it is the objective: the default mode's, to rounding.
    const double tolerance = precision == Precision::kFloat64 ? 1e-12 : 1e-6;
    const Objective plain = ComputeShardedObjective(world_, loss, model, shard, 0.01, precision);
    EXPECT_NEAR(distributed.value, plain.value, tolerance * std::abs(plain.value));
    EXPECT_LT((distributed.grad_weights - plain.grad_weights).cwiseAbs().maxCoeff(), tolerance);
  }

  const Metrics metrics = EvaluateSharded(world_, loss, model, shard, 0.01);
  const Metrics single_metrics = EvaluateSharded(alone_, loss, model, everything, 0.01);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(metrics.loss),
            std::bit_cast<std::uint64_t>(single_metrics.loss));
  EXPECT_EQ(metrics.accuracy, single_metrics.accuracy);
}

// A diverged model (a NaN weight): the grid sums count meaningless steps, which must not be
// taken for a broken bound (a "bug" error); the objective and its gradient come out NaN on
// every rank, as the default mode's would, for the trainer to report as non-finite.
TEST_F(ReproducibleTest, NonFiniteLogitsGiveNanGradientsNotABoundError) {
  const SyntheticConfig data = WriteSynthetic("nan.h5", 1003);
  const SoftmaxCrossEntropy loss;
  SoftmaxModel model = RandomModel(5);
  model.weights(1, 3) = std::numeric_limits<double>::quiet_NaN();
  const Shard shard = ReadShard(world_, data.output_path, {}, ShardLabels::kRead, 12);
  ReproducibleObjective objective(world_, loss, shard, kDefaultMaxRanks, Precision::kFloat32);
  objective.StartEpoch(1, 0);
  GradientSums sums(4, 11);
  for (const Objective& result :
       {objective.FullObjective(model, 0.01), objective.BatchObjective(model, 0, 8, 0.01, &sums)}) {
    EXPECT_TRUE(std::isnan(result.value));
    EXPECT_TRUE(result.grad_weights.array().isNaN().all());
    EXPECT_TRUE(result.grad_bias.array().isNaN().all());
  }
}

TEST_F(ReproducibleTest, TrainingMatchesOneRankBitForBit) {
  const SyntheticConfig data = WriteSynthetic("train.h5", 3001);
  for (const Solver solver : {Solver::kSgd, Solver::kAdamW, Solver::kLbfgs}) {
    TrainConfig config;
    config.train_path = data.output_path;
    config.validation_path = data.validation_output_path;
    config.epochs = 2;
    config.batch_size = 77;
    config.optimizer.solver = solver;
    config.optimizer.learning_rate = solver == Solver::kAdamW ? 0.01 : 0.2;
    config.optimizer.momentum = solver == Solver::kSgd ? 0.9 : 0.0;
    config.optimizer.max_iterations = 8;
    config.preparation.standardize = true;
    config.preparation.class_weighting = ClassWeighting::kBalanced;
    config.progress_seconds = 0;
    config.reproducible = true;
    config.virtual_shards = 12;
    const std::string name = std::to_string(static_cast<int>(solver));
    config.checkpoint.directory = directory_ + "/world-" + name;
    const TrainResult distributed = Train(world_, config);
    // Every rank alone, in a directory of its own.
    config.checkpoint.directory =
        directory_ + "/alone-" + name + "-" + std::to_string(world_.rank());
    const TrainResult single = Train(alone_, config);
    EXPECT_TRUE(SameBits(distributed.model.weights, single.model.weights)) << "solver " << name;
    EXPECT_TRUE(SameBits(distributed.model.bias, single.model.bias)) << "solver " << name;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(distributed.validation->loss),
              std::bit_cast<std::uint64_t>(single.validation->loss));
  }
}

// Eigen's path (K > 32 classes, and float64 products): a step's logits in one product over all
// the rank's parts, whose row count differs with the rank count (common/gradient_kernel.hpp).
// At 40 x 23, dW is all-reduced with the small sums; at 40 x 820 (at least 2^15 values) in
// place, in an all-reduce of its own: SGD's steps and L-BFGS's full passes both ways.
TEST_F(ReproducibleTest, StepsOnEigensPathMatchOneRankBitForBit) {
  for (const Eigen::Index features : {23, 820}) {
    const std::string shape = std::to_string(features);
    SyntheticConfig data = shardmax::testing::SmallSynthetic(
        directory_ + "/classes-" + shape + ".h5", 2003, features, 40, 1.5);
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(data);
    });
    for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
      for (const Solver solver : {Solver::kSgd, Solver::kLbfgs}) {
        TrainConfig config;
        config.train_path = data.output_path;
        config.epochs = 2;
        config.batch_size = 64;
        config.optimizer.solver = solver;
        config.optimizer.learning_rate = 0.2;
        config.optimizer.momentum = solver == Solver::kSgd ? 0.9 : 0.0;
        config.optimizer.max_iterations = 3;
        config.optimizer.precision = precision;
        config.progress_seconds = 0;
        config.reproducible = true;
        config.virtual_shards = 12;
        const std::string name = shape + (precision == Precision::kFloat32 ? "-f32-" : "-f64-") +
                                 std::to_string(static_cast<int>(solver));
        config.checkpoint.directory = directory_ + "/classes-world-" + name;
        const TrainResult distributed = Train(world_, config);
        config.checkpoint.directory =
            directory_ + "/classes-alone-" + name + "-" + std::to_string(world_.rank());
        const TrainResult single = Train(alone_, config);
        EXPECT_TRUE(SameBits(distributed.model.weights, single.model.weights)) << name;
        EXPECT_TRUE(SameBits(distributed.model.bias, single.model.bias)) << name;
      }
    }
  }
}

}  // namespace
}  // namespace shardmax
