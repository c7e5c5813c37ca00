// Run under mpiexec with 1, 2 and 4 ranks: sharded reads, the all-reduced gradient,
// training, exact resume and collective errors.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/newton_cg.hpp"
#include "common/random.hpp"
#include "common/stop_signal.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/newton_problem.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

class DistributedTest : public ::testing::Test {
 protected:
  // Rank 0 writes the file; everyone waits for it.
  SyntheticConfig WriteSynthetic(const std::string& name, std::int64_t rows, std::int64_t features,
                                 std::int64_t classes, double separation = 3.0) {
    SyntheticConfig config =
        shardmax::testing::SmallSynthetic(directory_ + "/" + name, rows, features, classes, separation);
    config.validation_output_path = directory_ + "/val-" + name;
    config.validation_rows = rows / 4;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    return config;
  }

  void WriteOnRoot(const std::string& path, const Matrix& features,
                   const std::vector<long long>& labels) {
    RunAndAgree(world_, [&] {
      if (world_.is_root()) shardmax::testing::WriteDataFile(path, features, labels, H5T_IEEE_F32LE);
    });
  }

  TrainConfig BaseTrainConfig(const SyntheticConfig& data, const std::string& checkpoints) const {
    TrainConfig config =
        testing::SmallTrainConfig(data.output_path, directory_ + "/" + checkpoints);
    config.validation_path = data.validation_output_path;
    return config;
  }

  // Every rank compares its bytes with rank 0's; true only if all ranks match.
  bool SameOnAllRanks(const Matrix& values) const {
    Matrix root = values;
    CheckMpi(MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_DOUBLE, 0, world_.get()),
             "MPI_Bcast");
    const bool same =
        std::memcmp(root.data(), values.data(), sizeof(double) * static_cast<std::size_t>(values.size())) == 0;
    return AllreduceMin(world_, static_cast<std::int64_t>(same)) == 1;
  }

  template <typename Work>
  void ExpectAgreedError(Work work, const std::string& part) {
    testing::ExpectAgreedError(world_, work, part);
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_ = shardmax::testing::MakeScratchDirectory(world_);
};

TEST_F(DistributedTest, EachRankReadsExactlyItsOwnRows) {
  const SyntheticConfig data = WriteSynthetic("rows.h5", 1003, 6, 3);
  const Shard shard = ReadShard(world_, data.output_path, {});
  const RowRange expected_range = ShardRows(1003, world_.size(), world_.rank());
  EXPECT_EQ(shard.rows.begin, expected_range.begin);
  EXPECT_EQ(shard.rows.end, expected_range.end);
  Matrix expected(expected_range.size(), 6);
  std::vector<Label> expected_labels(static_cast<std::size_t>(expected_range.size()));
  GenerateSyntheticRows(data, 0, expected_range.begin, expected, expected_labels);
  EXPECT_EQ(shard.features, expected.cast<float>());
  EXPECT_EQ(shard.labels, expected_labels);
  EXPECT_EQ(AllreduceSum(world_, static_cast<std::int64_t>(shard.labels.size())), 1003);
}

TEST_F(DistributedTest, AllReducedGradientEqualsSingleProcessGradient) {
  const SyntheticConfig data = WriteSynthetic("grad.h5", 2500, 9, 5);
  SplitMix64 generator(77);  // the same model on every rank
  SoftmaxModel model = SoftmaxModel::Zeros(5, 9);
  for (Eigen::Index i = 0; i < model.weights.size(); ++i) model.weights.data()[i] = generator.Normal();
  for (Eigen::Index k = 0; k < 5; ++k) model.bias(k) = generator.Normal();
  const SoftmaxCrossEntropy loss;

  const Shard shard = ReadShard(world_, data.output_path, {});
  const Objective distributed = ComputeShardedObjective(world_, loss, model, shard, 0.01);

  const Communicator alone(MPI_COMM_SELF);
  const Shard everything = ReadShard(alone, data.output_path, {});
  ASSERT_EQ(everything.rows.size(), 2500);
  const Objective single = ComputeShardedObjective(alone, loss, model, everything, 0.01);

  EXPECT_NEAR(distributed.value, single.value, 1e-6 * std::abs(single.value));
  const double scale = single.grad_weights.cwiseAbs().maxCoeff();
  EXPECT_LT((distributed.grad_weights - single.grad_weights).cwiseAbs().maxCoeff(), 1e-6 * scale);
  EXPECT_LT((distributed.grad_bias - single.grad_bias).cwiseAbs().maxCoeff(),
            1e-6 * single.grad_bias.cwiseAbs().maxCoeff());
}

// The float32 kernel computes a block to the same bits whatever the rank holding it. With
// 4096 rows the shards of 1, 2 and 4 ranks hold whole 1024-row blocks, so they differ from one
// process only in the order of the double sums over blocks. (A block that a shard boundary
// splits is summed as two pieces, whose float32 partial sums round differently: about 1e-8
// relative.) And float32 products stay within 1e-6 of float64 ones.
TEST_F(DistributedTest, Float32PassIsTheSameOnAnyRankCount) {
  const SyntheticConfig data = WriteSynthetic("fast.h5", 4096, 37, 10);
  SplitMix64 generator(78);
  SoftmaxModel model = SoftmaxModel::Zeros(10, 37);
  for (Eigen::Index i = 0; i < model.weights.size(); ++i) model.weights.data()[i] = 0.3 * generator.Normal();
  const SoftmaxCrossEntropy loss;

  const Shard shard = ReadShard(world_, data.output_path, {});
  const Objective distributed =
      ComputeShardedObjective(world_, loss, model, shard, 0.01, Precision::kFloat32);
  const Communicator alone(MPI_COMM_SELF);
  const Shard everything = ReadShard(alone, data.output_path, {});
  const Objective single =
      ComputeShardedObjective(alone, loss, model, everything, 0.01, Precision::kFloat32);
  const Objective in_double =
      ComputeShardedObjective(alone, loss, model, everything, 0.01, Precision::kFloat64);

  EXPECT_NEAR(distributed.value, single.value, 1e-13 * std::abs(single.value));
  const double scale = single.grad_weights.norm();
  EXPECT_LT((distributed.grad_weights - single.grad_weights).norm(), 1e-13 * scale);
  EXPECT_LT((distributed.grad_bias - single.grad_bias).norm(), 1e-13 * single.grad_bias.norm());
  EXPECT_NEAR(single.value, in_double.value, 1e-6 * std::abs(in_double.value));
  EXPECT_LT((single.grad_weights - in_double.grad_weights).norm(), 1e-6 * scale);
}

// A uint8 file is held as stored (a quarter of float32's memory) and converted block by block
// inside the kernel: every pass, mini-batch, evaluation and whole training run gives the bits
// of a float32 file holding the same values.
TEST_F(DistributedTest, Uint8ShardHeldAsBytesGivesTheBitsOfTheSameValuesAsFloat32) {
  SyntheticConfig data = shardmax::testing::SmallSynthetic(directory_ + "/bytes.h5", 2100, 19, 4);
  data.type = FeatureType::kUint8;
  const std::string floats_path = directory_ + "/floats.h5";
  RunAndAgree(world_, [&] {
    if (!world_.is_root()) return;
    WriteSyntheticDataset(data);
    const Shard all = ReadShard(Communicator(MPI_COMM_SELF), data.output_path, {});
    shardmax::testing::WriteDataFile(
        floats_path, DenseFeaturesAsFloat(all.Block(0, all.rows.size())).cast<double>(),
        std::vector<long long>(all.labels.begin(), all.labels.end()), H5T_IEEE_F32LE);
  });
  const Shard bytes = ReadShard(world_, data.output_path, {});
  const Shard floats = ReadShard(world_, floats_path, {});
  ASSERT_TRUE(bytes.holds_bytes());
  ASSERT_FALSE(floats.holds_bytes());
  EXPECT_EQ(bytes.features.cols(), 0);
  Shard converted = bytes;
  converted.HoldFeaturesAsFloat();
  EXPECT_FALSE(converted.holds_bytes());
  EXPECT_EQ(converted.features, floats.features);

  SplitMix64 generator(79);
  SoftmaxModel model = SoftmaxModel::Zeros(4, 19);
  for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
    model.weights.data()[i] = generator.Normal();
  }
  const SoftmaxCrossEntropy loss;
  const auto same_bits = [](const Matrix& a, const Matrix& b) {
    const auto size = sizeof(double) * static_cast<std::size_t>(a.size());
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), size) == 0;
  };
  for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
    for (const int threads : {1, 2}) {
      const Objective from_bytes =
          ComputeShardedObjective(world_, loss, model, bytes, 0.01, precision, threads);
      const Objective from_floats =
          ComputeShardedObjective(world_, loss, model, floats, 0.01, precision, threads);
      EXPECT_EQ(from_bytes.value, from_floats.value);
      EXPECT_TRUE(same_bits(from_bytes.grad_weights, from_floats.grad_weights));
    }
  }
  // A mini-batch read where it lies, and one gathered.
  const std::vector<std::int64_t> picked{7, 0, 300, 301, 5, 499, 12};
  GatheredRows storage;
  GradientSums picked_bytes(4, 19), picked_floats(4, 19), gathered_bytes(4, 19);
  AccumulatePickedRows(loss, model, bytes, picked, &storage, &picked_bytes, Precision::kFloat32);
  AccumulatePickedRows(loss, model, floats, picked, &storage, &picked_floats, Precision::kFloat32);
  AccumulateBlock(loss, model, bytes.Gather(picked, &storage), &gathered_bytes,
                  Precision::kFloat32);
  EXPECT_TRUE(std::equal(picked_bytes.buffer().begin(), picked_bytes.buffer().end(),
                         picked_floats.buffer().begin()));
  EXPECT_TRUE(std::equal(gathered_bytes.buffer().begin(), gathered_bytes.buffer().end(),
                         picked_floats.buffer().begin()));
  EXPECT_TRUE(same_bits(ComputeLogits(model, bytes.Block(3, 50)),
                        ComputeLogits(model, floats.Block(3, 50))));
  const Metrics scored_bytes = EvaluateSharded(world_, loss, model, bytes, 0.01);
  const Metrics scored_floats = EvaluateSharded(world_, loss, model, floats, 0.01);
  EXPECT_EQ(scored_bytes.loss, scored_floats.loss);
  EXPECT_EQ(scored_bytes.accuracy, scored_floats.accuracy);

  // Whole runs: mini-batch SGD with momentum, with --standardize (which holds floats), and
  // with --reproducible (its grid sums over the bytes, 4 virtual shards).
  for (const std::string run : {"", "-standardized", "-reproducible"}) {
    TrainConfig config = testing::SmallTrainConfig(data.output_path, directory_ + "/bytes" + run);
    config.optimizer.momentum = 0.9;
    config.preparation.standardize = run == "-standardized";
    config.reproducible = run == "-reproducible";
    config.virtual_shards = 4;
    const TrainResult on_bytes = Train(world_, config);
    config.train_path = floats_path;
    config.checkpoint.directory = directory_ + "/floats" + run;
    const TrainResult on_floats = Train(world_, config);
    EXPECT_TRUE(same_bits(on_bytes.model.weights, on_floats.model.weights)) << run;
    EXPECT_EQ(on_bytes.train.loss, on_floats.train.loss) << run;
  }
}

TEST_F(DistributedTest, TrainingReachesHighAccuracyWithBitwiseIdenticalRanks) {
  const SyntheticConfig data = WriteSynthetic("sep.h5", 4000, 10, 4, 4.0);
  const TrainResult result = Train(world_, BaseTrainConfig(data, "sep"));
  ASSERT_TRUE(result.validation.has_value());
  EXPECT_GE(result.train.accuracy, 0.95);
  EXPECT_GE(result.validation->accuracy, 0.95);
  EXPECT_EQ(result.position.epoch, 3);
  EXPECT_TRUE(SameOnAllRanks(result.model.weights));
  EXPECT_TRUE(SameOnAllRanks(result.model.bias));
  EXPECT_TRUE(std::filesystem::exists(result.last_checkpoint));
  // The final model file holds the same bits.
  ModelFile saved;
  RunAndAgree(world_, [&] { saved = ReadModelFile(result.model_path); });
  EXPECT_EQ(saved.model.weights, result.model.weights);
  EXPECT_EQ(saved.model.bias, result.model.bias);
  EXPECT_EQ(saved.weight_decay, 1e-3);
  EXPECT_EQ(saved.feature_type, "float32");
}

TEST_F(DistributedTest, SameSeedGivesBitwiseSameWeightsAndAnotherSeedDoesNot) {
  const SyntheticConfig data = WriteSynthetic("seed.h5", 1200, 5, 3);
  TrainConfig config = BaseTrainConfig(data, "seed-a");
  config.epochs = 2;
  const TrainResult first = Train(world_, config);
  config.checkpoint.directory = directory_ + "/seed-b";
  const TrainResult second = Train(world_, config);
  EXPECT_EQ(std::memcmp(first.model.weights.data(), second.model.weights.data(),
                        sizeof(double) * static_cast<std::size_t>(first.model.weights.size())),
            0);
  config.seed = 6;
  config.checkpoint.directory = directory_ + "/seed-c";
  const TrainResult third = Train(world_, config);
  EXPECT_NE(first.model.weights, third.model.weights);
}

TEST_F(DistributedTest, StopAndResumeEqualsUninterruptedBitwise) {
  const SyntheticConfig data = WriteSynthetic("resume.h5", 1500, 7, 3);
  TrainConfig uninterrupted = BaseTrainConfig(data, "straight");
  uninterrupted.optimizer.schedule = LearningRateSchedule::kCosine;  // depends on the step
  uninterrupted.checkpoint.unit = CheckpointUnit::kStep;
  uninterrupted.checkpoint.every = 10;
  const TrainResult reference = Train(world_, uninterrupted);

  // Stop mid-epoch (step 11 of 24 per epoch), again exactly at an epoch's end, then finish.
  TrainConfig interrupted = uninterrupted;
  interrupted.checkpoint.directory = directory_ + "/stopped";
  interrupted.checkpoint.resume = "auto";
  std::vector<std::int64_t> stops{11, 2 * StepsPerEpoch(1500, 64), 0};
  TrainResult last;
  for (std::int64_t stop : stops) {
    interrupted.max_steps = stop;
    last = Train(world_, interrupted);
    EXPECT_EQ(last.stopped_at_max_steps, stop != 0);
    if (stop != 0) {
      EXPECT_EQ(last.position.global_step, stop);
    }
  }
  EXPECT_EQ(last.position.global_step, reference.position.global_step);
  EXPECT_EQ(std::memcmp(last.model.weights.data(), reference.model.weights.data(),
                        sizeof(double) * static_cast<std::size_t>(reference.model.weights.size())),
            0);
  EXPECT_EQ(std::memcmp(last.model.bias.data(), reference.model.bias.data(),
                        sizeof(double) * static_cast<std::size_t>(reference.model.bias.size())),
            0);
  // The final checkpoints hold the same bits too.
  const Checkpoint a = ReadCheckpoint(reference.last_checkpoint);
  const Checkpoint b = ReadCheckpoint(last.last_checkpoint);
  EXPECT_EQ(a.model.weights, b.model.weights);
  EXPECT_EQ(a.optimizer_state[0].values, b.optimizer_state[0].values);
  // The metrics logs agree on every column but the timings.
  const std::string expected_log = testing::DeterministicMetricsColumns(reference.metrics_log);
  EXPECT_EQ(std::count(expected_log.begin(), expected_log.end(), '\n'), 4);  // header + 3 epochs
  EXPECT_EQ(testing::DeterministicMetricsColumns(last.metrics_log), expected_log);
}

// A stop signal on one rank stops every rank at the same step boundary, after a checkpoint,
// without a final model; resuming from there ends bitwise where an uninterrupted run ends.
TEST_F(DistributedTest, StopSignalOnOneRankStopsAllRanksAndResumesBitwise) {
  InstallStopSignalHandlers();
  ClearStopSignal();
  const SyntheticConfig data = WriteSynthetic("signal.h5", 1500, 7, 3);
  TrainConfig config = BaseTrainConfig(data, "signal-straight");
  config.optimizer.schedule = LearningRateSchedule::kCosine;
  const TrainResult reference = Train(world_, config);
  EXPECT_EQ(reference.stop_signal, 0);

  const auto raise_on = [&](int rank, int signal_number) {
    if (world_.rank() == rank) std::raise(signal_number);
  };
  config.checkpoint.directory = directory_ + "/signal-stopped";
  // Received while loading, on the last rank only: every rank stops before the first step.
  raise_on(world_.size() - 1, SIGUSR1);
  const TrainResult at_start = Train(world_, config);
  EXPECT_EQ(at_start.stop_signal, SIGUSR1);
  EXPECT_FALSE(at_start.stopped_at_max_steps);
  EXPECT_EQ(at_start.position.global_step, 0);
  EXPECT_TRUE(at_start.model_path.empty());
  EXPECT_EQ(std::filesystem::path(at_start.last_checkpoint).filename(), "ckpt-000000000.h5");

  // Mid-epoch: --max-steps leaves the run at step 13, then SIGUSR2 on rank 0 stops the
  // resumed run at its first boundary, keeping that checkpoint.
  ClearStopSignal();
  config.checkpoint.resume = "auto";
  config.max_steps = 13;
  EXPECT_TRUE(Train(world_, config).stopped_at_max_steps);
  config.max_steps = 0;
  raise_on(0, SIGUSR2);
  const TrainResult mid_epoch = Train(world_, config);
  EXPECT_EQ(mid_epoch.stop_signal, SIGUSR2);
  EXPECT_EQ(mid_epoch.position.global_step, 13);
  EXPECT_EQ(std::filesystem::path(mid_epoch.last_checkpoint).filename(), "ckpt-000000013.h5");

  ClearStopSignal();
  const TrainResult resumed = Train(world_, config);
  EXPECT_EQ(resumed.stop_signal, 0);
  EXPECT_EQ(resumed.position.global_step, reference.position.global_step);
  EXPECT_EQ(std::memcmp(resumed.model.weights.data(), reference.model.weights.data(),
                        sizeof(double) * static_cast<std::size_t>(reference.model.weights.size())),
            0);
  EXPECT_EQ(resumed.model.bias, reference.model.bias);
}

TEST_F(DistributedTest, BadLabelInTheLastRanksShardStopsAllRanks) {
  const std::int64_t rows = 40;
  Matrix features = Matrix::Ones(rows, 3);
  std::vector<long long> labels(rows, 1);
  labels[rows - 1] = 7;  // only the last rank holds this row
  const std::string path = directory_ + "/badlabel.h5";
  WriteOnRoot(path, features, labels);
  TrainConfig config;
  config.train_path = path;
  config.classes = 3;
  config.batch_size = 8;
  config.checkpoint.directory = directory_ + "/badlabel";
  ExpectAgreedError([&] { Train(world_, config); }, "row 39 has label 7");
  // Nothing was checkpointed from the bad run.
  EXPECT_FALSE(FindNewestCheckpoint(config.checkpoint.directory).has_value());
}

TEST_F(DistributedTest, NanInTheLastRanksShardStopsAllRanks) {
  Matrix features = Matrix::Ones(30, 2);
  features(29, 1) = std::numeric_limits<double>::quiet_NaN();
  const std::string path = directory_ + "/nan.h5";
  WriteOnRoot(path, features, std::vector<long long>(30, 0));
  ExpectAgreedError([&] { ReadShard(world_, path, {}); }, "row 29, column 1 is NaN");
}

TEST_F(DistributedTest, MoreRanksThanRowsIsRefused) {
  if (world_.size() < 2) GTEST_SKIP() << "needs at least 2 ranks";
  const std::string path = directory_ + "/tiny.h5";
  WriteOnRoot(path, Matrix::Ones(world_.size() - 1, 2),
              std::vector<long long>(static_cast<std::size_t>(world_.size() - 1), 0));
  ExpectAgreedError([&] { ReadShard(world_, path, {}); }, "fewer than the");
}

TEST_F(DistributedTest, CheckpointWithOtherShapesIsRefused) {
  const SyntheticConfig first = WriteSynthetic("shape-a.h5", 800, 5, 3);
  TrainConfig config = BaseTrainConfig(first, "shapes");
  config.epochs = 1;
  const TrainResult trained = Train(world_, config);
  const std::string newest = trained.last_checkpoint;

  const SyntheticConfig second = WriteSynthetic("shape-b.h5", 800, 6, 3);
  config.train_path = second.output_path;
  config.validation_path.clear();
  config.checkpoint.resume = "auto";
  ExpectAgreedError([&] { Train(world_, config); }, "was made for 800 rows x 5 features");
  EXPECT_EQ(FindNewestCheckpoint(config.checkpoint.directory).value(), newest);
}

TEST_F(DistributedTest, DivergenceStopsBeforeAnyNonFiniteCheckpoint) {
  const SyntheticConfig data = WriteSynthetic("diverge.h5", 600, 4, 3, 50.0);
  TrainConfig config = BaseTrainConfig(data, "diverge");
  config.optimizer.learning_rate = 1e200;
  config.checkpoint.unit = CheckpointUnit::kStep;
  ExpectAgreedError([&] { Train(world_, config); }, "training diverged at epoch 1, step");
  const auto newest = FindNewestCheckpoint(config.checkpoint.directory);
  if (newest) {
    int finite = 0;
    RunAndAgree(world_, [&] { finite = ReadCheckpoint(*newest).model.IsFinite(); });
    EXPECT_TRUE(finite);
  }
}

// --- Full-batch solvers: L-BFGS and Newton-CG ------------------------------------------

// The scikit-learn reference problem: `shardmax gen --rows 300 --features 4 --classes 3
// --separation 1 --seed 7`, lambda = 0.01. Reference values from scikit-learn 1.2.1,
// LogisticRegression(multi_class="multinomial", solver="lbfgs", C=1/(N lambda) = 1/3,
// tol=1e-12, max_iter=100000) on the same float32 features read as float64 (13 iterations);
// objective = mean cross-entropy + (lambda/2)||W||^2 computed from its coef_ and intercept_.
constexpr double kSklearnObjective = 0.71990471194898664;
constexpr double kSklearnWeights[3][4] = {
    {-0.5598743136001876, -0.3675145272720306, -0.3564410362482153, -0.2606792791884667},
    {0.3873396753578599, -0.4128621756045564, -0.5081730367393831, -0.2901866103215931},
    {0.17253463824232754, 0.7803767028765863, 0.8646140729875984, 0.5508658895100595}};
constexpr double kSklearnBias[3] = {0.19352544832089502, -0.11088254894870744,
                                    -0.08264289937218776};

class FullBatchTest : public DistributedTest, public ::testing::WithParamInterface<Solver> {
 protected:
  SyntheticConfig WriteSklearnProblem() {
    SyntheticConfig config =
        shardmax::testing::SmallSynthetic(directory_ + "/sklearn.h5", 300, 4, 3, 1.0);
    config.seed = 7;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    return config;
  }

  TrainConfig SolverConfig(const std::string& train_path, const std::string& checkpoints) const {
    TrainConfig config;
    config.train_path = train_path;
    config.optimizer.solver = GetParam();
    config.optimizer.weight_decay = 0.01;
    config.optimizer.gradient_tolerance = 1e-8;  // f ~ 0.5 resolves gradients to about 1e-8
    config.optimizer.objective_tolerance = 0.0;
    config.checkpoint.directory = directory_ + "/" + checkpoints;
    return config;
  }
};

TEST_P(FullBatchTest, ReachesScikitLearnsOptimum) {
  const SyntheticConfig data = WriteSklearnProblem();
  const TrainResult result = Train(world_, SolverConfig(data.output_path, "sklearn"));
  EXPECT_NEAR(result.train.objective, kSklearnObjective, 1e-6 * kSklearnObjective);
  double worst = 0.0;
  for (int k = 0; k < 3; ++k) {
    for (int j = 0; j < 4; ++j) {
      worst = std::max(worst, std::abs(result.model.weights(k, j) - kSklearnWeights[k][j]));
    }
    worst = std::max(worst, std::abs(result.model.bias(k) - kSklearnBias[k]));
  }
  EXPECT_LT(worst, 1e-4);
}

TEST_P(FullBatchTest, SameOptimumOnAnyRankCountAndBitwiseRepeatable) {
  const SyntheticConfig data = WriteSynthetic("lbfgs.h5", 1000, 6, 4, 1.5);
  const TrainResult distributed = Train(world_, SolverConfig(data.output_path, "p"));
  EXPECT_TRUE(std::isfinite(distributed.train.objective));
  // The same problem on this rank alone.
  const Communicator alone(MPI_COMM_SELF);
  TrainConfig single = SolverConfig(data.output_path, StrCat("single-", world_.rank()));
  const TrainResult reference = Train(alone, single);
  EXPECT_NEAR(distributed.train.objective, reference.train.objective,
              1e-10 * reference.train.objective);
  const Objective at_optimum = ComputeShardedObjective(
      world_, SoftmaxCrossEntropy(), distributed.model, ReadShard(world_, data.output_path, {}),
      0.01);
  EXPECT_LE(at_optimum.grad_weights.cwiseAbs().maxCoeff(), 1e-8);
  EXPECT_TRUE(SameOnAllRanks(distributed.model.weights));
  const TrainResult again = Train(world_, SolverConfig(data.output_path, "p-again"));
  EXPECT_EQ(std::memcmp(again.model.weights.data(), distributed.model.weights.data(),
                        sizeof(double) * static_cast<std::size_t>(again.model.weights.size())),
            0);
}

TEST_P(FullBatchTest, StopAndResumeContinuesExactly) {
  const SyntheticConfig data = WriteSynthetic("lbfgs-resume.h5", 800, 5, 3, 1.5);
  TrainConfig straight = SolverConfig(data.output_path, "straight");
  straight.optimizer.history = 3;  // L-BFGS: so the saved history has wrapped
  straight.optimizer.max_iterations = 15;
  const TrainResult reference = Train(world_, straight);
  // Newton-CG converges in fewer iterations: stop it at half of them.
  const std::int64_t stop_at = GetParam() == Solver::kNewton ? 3 : 6;
  ASSERT_GT(reference.position.global_step, stop_at);
  TrainConfig stopped = straight;
  stopped.checkpoint.directory = directory_ + "/stopped";
  stopped.checkpoint.resume = "auto";
  stopped.max_steps = stop_at;
  EXPECT_TRUE(Train(world_, stopped).stopped_at_max_steps);
  stopped.max_steps = 0;
  const TrainResult resumed = Train(world_, stopped);
  EXPECT_EQ(resumed.position.global_step, reference.position.global_step);
  EXPECT_EQ(std::memcmp(resumed.model.weights.data(), reference.model.weights.data(),
                        sizeof(double) * static_cast<std::size_t>(resumed.model.weights.size())),
            0);
}

INSTANTIATE_TEST_SUITE_P(Solvers, FullBatchTest,
                         ::testing::Values(Solver::kLbfgs, Solver::kNewton),
                         [](const ::testing::TestParamInfo<Solver>& solver) {
                           return solver.param == Solver::kLbfgs ? "Lbfgs" : "Newton";
                         });

// H v (common/hessian.hpp) against central finite differences of the sharded gradient, for
// every loss with a Hessian, dense and sparse rows: the curvature each rank keeps of its own
// rows and the all-reduced product must give the whole data's Hessian on any rank count.
TEST_F(DistributedTest, HessianProductsMatchFiniteDifferencesOfTheGradient) {
  struct Case {
    const char* loss;
    bool multi_label;
    std::int64_t sparse_row_nonzeros;
  };
  for (const Case& c : {Case{"softmax", false, 0}, Case{"squared", false, 0},
                        Case{"sigmoid", true, 0}, Case{"softmax", false, 3}}) {
    SCOPED_TRACE(StrCat(c.loss, c.sparse_row_nonzeros > 0 ? " sparse" : " dense"));
    SyntheticConfig config = shardmax::testing::SmallSynthetic(
        StrCat(directory_, "/hessian-", c.loss, c.sparse_row_nonzeros, ".h5"), 203, 7, 4, 1.0);
    config.multi_label = c.multi_label;
    config.sparse_row_nonzeros = c.sparse_row_nonzeros;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    const Shard shard = ReadShard(world_, config.output_path, {});
    const std::unique_ptr<Loss> loss = MakeLoss(c.loss);
    ShardedNewtonProblem problem(world_, *loss, shard, 4, 0.01, Precision::kFloat64,
                                 Precision::kFloat64);
    const Eigen::Index n = 4 * (7 + 1);
    Vector theta(n);
    Vector v(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      theta(i) = 0.3 * std::sin(1.0 + static_cast<double>(i));
      v(i) = std::cos(1.7 * static_cast<double>(i));
    }
    Vector gradient;
    problem.Objective(theta, &gradient);
    const Vector product = problem.HessianProduct(v);
    const double eps = 1e-5;
    Vector plus;
    Vector minus;
    problem.Objective(theta + eps * v, &plus);
    problem.Objective(theta - eps * v, &minus);
    const Vector expected = (plus - minus) / (2.0 * eps);
    EXPECT_LT((product - expected).norm(), 1e-7 * expected.norm());
    EXPECT_TRUE(SameOnAllRanks(product));
  }
}

// The preconditioner's data factor C = (1/N) sum_i [x_i; 1][x_i; 1]^T over every rank's rows
// (uint8 rows, converted block by block): the whole file's, the same bits on every rank and
// on any thread count.
TEST_F(DistributedTest, FeatureMomentsAreTheWholeFilesMeanOuterProduct) {
  SyntheticConfig data = shardmax::testing::SmallSynthetic(directory_ + "/moments.h5", 2100, 19, 4);
  data.type = FeatureType::kUint8;
  RunAndAgree(world_, [&] {
    if (world_.is_root()) WriteSyntheticDataset(data);
  });
  const Shard shard = ReadShard(world_, data.output_path, {});
  ASSERT_TRUE(shard.holds_bytes());
  const Matrix moments = FeatureMoments(world_, shard);

  const Shard everything = ReadShard(Communicator(MPI_COMM_SELF), data.output_path, {});
  Matrix augmented(2100, 20);
  augmented.leftCols(19) = DenseFeaturesAsDouble(everything.Block(0, 2100));
  augmented.col(19).setOnes();
  const Matrix expected = augmented.transpose() * augmented / 2100.0;
  EXPECT_LT((moments - expected).cwiseAbs().maxCoeff(), 1e-6 * expected.cwiseAbs().maxCoeff());
  EXPECT_EQ(moments(19, 19), 1.0);
  EXPECT_TRUE(moments == moments.transpose());
  EXPECT_TRUE(SameOnAllRanks(moments));
  EXPECT_TRUE(FeatureMoments(world_, shard, 2) == moments);
}

// For the squared loss without weight decay the Hessian is exactly I (x) C, so the
// preconditioner (A = I, C all-reduced from every rank's rows) inverts it: the first Newton
// step takes one product and lands on the minimum. Plain CG's one product (its forcing term
// lets it stop there) does not.
TEST_F(DistributedTest, PreconditionerInvertsTheSquaredLossHessianOnAnyRankCount) {
  const SyntheticConfig data = WriteSynthetic("squared.h5", 1500, 9, 4, 1.0);
  const Shard shard = ReadShard(world_, data.output_path, {});
  const std::unique_ptr<Loss> loss = MakeLoss("squared");
  NewtonCgOptions options;
  options.gradient_tolerance = 0.0;
  options.objective_tolerance = 0.0;
  for (const bool precondition : {true, false}) {
    SCOPED_TRACE(precondition ? "preconditioned" : "plain");
    ShardedNewtonProblem problem(world_, *loss, shard, 4, 0.0, Precision::kFloat64,
                                 Precision::kFloat64, 1, precondition);
    Preconditioner preconditioner;
    if (precondition) preconditioner = [&](const Vector& r) { return problem.Precondition(r); };
    NewtonCg solver(
        options, [&](const Vector& x, Vector* g) { return problem.Objective(x, g); },
        [&](const Vector& v) { return problem.HessianProduct(v); }, preconditioner);
    solver.Start(Vector::Zero(4 * (9 + 1)));
    const double start_gradient = solver.state().gradient.norm();
    solver.Iterate();
    EXPECT_EQ(solver.state().hessian_products, 1);
    const double reduction = solver.state().gradient.norm() / start_gradient;
    if (precondition) {
      EXPECT_LT(reduction, 1e-5);
    } else {
      EXPECT_GT(reduction, 1e-2);
    }
    EXPECT_TRUE(SameOnAllRanks(solver.state().x));
  }
}

// --- Early stopping -----------------------------------------------------------------------

TEST_F(DistributedTest, EarlyStoppingKeepsTheBestModel) {
  const SyntheticConfig data = WriteSynthetic("early.h5", 2000, 8, 3, 2.0);
  // Validation labels independent of the features: fitting the training set makes the
  // validation loss worse after the first epochs, so patience runs out.
  Matrix features(400, 8);
  std::vector<Label> ignored(400);
  SyntheticConfig noise = data;
  noise.seed = 99;
  GenerateSyntheticRows(noise, 1, 0, features, ignored);
  std::vector<long long> random_labels(400);
  SplitMix64 generator(3);
  for (long long& label : random_labels) label = static_cast<long long>(generator.Below(3));
  const std::string validation = directory_ + "/noise-val.h5";
  WriteOnRoot(validation, features, random_labels);

  TrainConfig config = BaseTrainConfig(data, "early");
  config.validation_path = validation;
  config.epochs = 40;
  config.optimizer.learning_rate = 0.5;
  config.early_stopping_patience = 2;
  const TrainResult result = Train(world_, config);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_LT(result.position.epoch, 40);
  EXPECT_EQ(result.position.epoch, result.position.best_epoch + 2);
  // The best model is the one whose validation loss was lowest, and it is kept.
  ModelFile best;
  RunAndAgree(world_, [&] { best = ReadModelFile(directory_ + "/early/best-model.h5"); });
  const Shard validation_shard = ReadShard(world_, validation, {});
  const Metrics best_metrics =
      EvaluateSharded(world_, SoftmaxCrossEntropy(), best.model, validation_shard, 0.0);
  EXPECT_EQ(best_metrics.loss, result.position.best_validation_loss);
}

// A disk that fills mid-run (simulated with a file-size limit on every rank, which makes
// writes past it fail with EFBIG): every rank stops with one message naming the checkpoint
// that failed and the intact one to resume from, which still loads; resuming then finishes.
TEST_F(DistributedTest, FullDiskStopsTrainingWithThePreviousCheckpointIntact) {
  const SyntheticConfig data = WriteSynthetic("wide.h5", 400, 200, 10);
  TrainConfig config = BaseTrainConfig(data, "full");
  config.validation_path.clear();
  config.max_steps = 7;  // one checkpoint, of step 7, written while there is room
  Train(world_, config);
  const std::string intact = config.checkpoint.directory + "/" + CheckpointFileName(7);

  config.max_steps = 0;
  config.checkpoint.resume = "auto";
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = 16384;  // below one checkpoint (two 10 x 200 float64 arrays)
  const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string message;
  try {
    Train(world_, config);
  } catch (const AgreedError& error) {
    message = error.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);

  EXPECT_NE(message.find("writing '" + config.checkpoint.directory + "/" + CheckpointFileName(14) +
                         "' failed"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find("the last checkpoint, '" + intact +
                         "', is intact: free space and continue with --resume auto"),
            std::string::npos)
      << message;
  RunAndAgree(world_, [&] { ReadCheckpoint(intact); });
  EXPECT_EQ(ReadLatestPointer(config.checkpoint.directory).value(), intact);
  const TrainResult finished = Train(world_, config);
  EXPECT_EQ(finished.position.epoch, 3);
}

}  // namespace
}  // namespace shardmax
