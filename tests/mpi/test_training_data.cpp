// Run under mpiexec with 1, 2 and 4 ranks: what training derives from the data over all
// ranks (balanced class weights and priors from reduced counts, standardization moments),
// standardized and weighted training with exact resume, and multi-label training.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/random.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"
#include "trainer/training_data.hpp"

namespace shardmax {
namespace {

class TrainingDataTest : public ::testing::Test {
 protected:
  void WriteOnRoot(const std::string& path, const Matrix& features,
                   const std::vector<long long>& labels,
                   const std::vector<double>& sample_weights = {}) {
    RunAndAgree(world_, [&] {
      if (world_.is_root()) {
        shardmax::testing::WriteDataFile(path, features, labels, H5T_IEEE_F32LE, sample_weights);
      }
    });
  }

  // Synthetic rows whose features are then scaled and shifted column by column (by factors
  // from 1e-3 to 1e3), with column 1 constant: data that standardization changes a lot.
  std::string WriteSkewedData(const std::string& name, std::int64_t rows,
                              const std::vector<double>& sample_weights = {}) {
    SyntheticConfig config =
        shardmax::testing::SmallSynthetic(directory_ + "/unused", rows, 5, 3, 3.0);
    Matrix features(rows, 5);
    std::vector<Label> labels(static_cast<std::size_t>(rows));
    GenerateSyntheticRows(config, 0, 0, features, labels);
    const double scales[5] = {1e-3, 1.0, 50.0, 1e3, 0.2};
    const double offsets[5] = {5.0, 0.0, -200.0, 1e4, 1.0};
    for (Eigen::Index j = 0; j < 5; ++j) {
      features.col(j) = features.col(j) * scales[j] + Vector::Constant(rows, offsets[j]);
    }
    features.col(1).setConstant(3.5);
    const std::string path = directory_ + "/" + name;
    WriteOnRoot(path, features, std::vector<long long>(labels.begin(), labels.end()),
                sample_weights);
    return path;
  }

  TrainConfig BaseConfig(const std::string& train_path, const std::string& checkpoints) const {
    return testing::SmallTrainConfig(train_path, directory_ + "/" + checkpoints);
  }

  template <typename Work>
  void ExpectAgreedError(Work work, const std::string& part) {
    testing::ExpectAgreedError(world_, work, part);
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_ = shardmax::testing::MakeScratchDirectory(world_);
};

// N = 10 rows of 3 classes, counted 6, 3 and 1: balanced weights N / (K n_k) are 10/18, 10/9
// and 10/3, times each row's sample weight. On 2 and 4 ranks no rank sees all classes, so
// only the reduced counts give these numbers.
TEST_F(TrainingDataTest, BalancedWeightsAndPriorsComeFromTheCountsOfAllRanks) {
  const std::vector<long long> labels{0, 0, 0, 0, 0, 0, 1, 1, 1, 2};
  const std::vector<double> samples{1, 2, 1, 1, 1, 1, 0.5, 1, 1, 4};
  const std::string path = directory_ + "/counts.h5";
  WriteOnRoot(path, Matrix::Ones(10, 2), labels, samples);
  TrainConfig config;
  config.train_path = path;
  config.layout.sample_weights = "weights";
  config.preparation.class_weighting = ClassWeighting::kBalanced;
  config.preparation.init_bias = BiasInit::kPriors;
  Shard train = ReadShard(world_, path, config.layout);
  const PreparedTraining prepared =
      PrepareTrainingData(world_, config, SoftmaxCrossEntropy(), 3, nullptr, "", &train, nullptr);

  const double class_weight[3] = {10.0 / 18.0, 10.0 / 9.0, 10.0 / 3.0};
  ASSERT_EQ(train.weights.size(), static_cast<std::size_t>(train.rows.size()));
  for (std::int64_t i = 0; i < train.rows.size(); ++i) {
    const auto row = static_cast<std::size_t>(train.rows.begin + i);
    EXPECT_DOUBLE_EQ(train.weights[static_cast<std::size_t>(i)],
                     class_weight[labels[row]] * samples[row])
        << "row " << row;
  }
  EXPECT_DOUBLE_EQ(prepared.initial_bias(0), std::log(0.6));
  EXPECT_DOUBLE_EQ(prepared.initial_bias(1), std::log(0.3));
  EXPECT_DOUBLE_EQ(prepared.initial_bias(2), std::log(0.1));

  // Given weights of the wrong length are a usage error; weights that sum to 0 a data error.
  config.preparation.class_weighting = ClassWeighting::kGiven;
  config.preparation.class_weights = {1.0, 2.0};
  Shard again = ReadShard(world_, path, config.layout);
  EXPECT_THROW(
      PrepareTrainingData(world_, config, SoftmaxCrossEntropy(), 3, nullptr, "", &again, nullptr),
      UsageError);
  config.preparation.class_weights = {0.0, 0.0, 1.0};
  config.preparation.init_bias = BiasInit::kZero;
  const std::string zero_path = directory_ + "/zero.h5";
  WriteOnRoot(zero_path, Matrix::Ones(10, 2), labels,
              {1, 2, 1, 1, 1, 1, 0.5, 1, 1, 0});  // the class-2 row weighs 0
  Shard zero = ReadShard(world_, zero_path, config.layout);
  config.train_path = zero_path;
  ExpectAgreedError(
      [&] {
        PrepareTrainingData(world_, config, SoftmaxCrossEntropy(), 3, nullptr, "", &zero, nullptr);
      },
      "sum to 0");
  // A class without rows has no log prior.
  config.preparation.class_weighting = ClassWeighting::kNone;
  config.preparation.init_bias = BiasInit::kPriors;
  Shard four_classes = ReadShard(world_, path, config.layout);
  ExpectAgreedError(
      [&] {
        PrepareTrainingData(world_, config, SoftmaxCrossEntropy(), 4, nullptr, "", &four_classes,
                            nullptr);
      },
      "class 3 has no rows");
}

TEST_F(TrainingDataTest, StandardizationOverRanksEqualsOneProcess) {
  const std::string path = WriteSkewedData("skewed.h5", 1001);
  TrainConfig config;
  config.train_path = path;
  config.preparation.standardize = true;
  Shard train = ReadShard(world_, path, {});
  const PreparedTraining prepared =
      PrepareTrainingData(world_, config, SoftmaxCrossEntropy(), 3, nullptr, "", &train, nullptr);

  const Communicator alone(MPI_COMM_SELF);
  Shard everything = ReadShard(alone, path, {});
  const FeatureMatrix raw = everything.features;
  const PreparedTraining single = PrepareTrainingData(alone, config, SoftmaxCrossEntropy(), 3,
                                                      nullptr, "", &everything, nullptr);
  ASSERT_TRUE(prepared.feature_scaling && single.feature_scaling);
  const FeatureScaling& a = *prepared.feature_scaling;
  const FeatureScaling& b = *single.feature_scaling;
  for (Eigen::Index j = 0; j < 5; ++j) {
    // Two-pass moments in double as the reference.
    const Eigen::ArrayXd column = raw.col(j).cast<double>().array();
    const double mean = column.mean();
    const double deviation = std::sqrt((column - mean).square().mean());
    // The one-pass variance E[x^2] - m^2 loses digits as (m / s)^2 grows (feature 0 has
    // m / s ~ 3000); the scale need not be exact, since the model mapping uses the same s.
    const double tolerance = 1e-13 * (1.0 + (mean / deviation) * (mean / deviation));
    EXPECT_NEAR(a.mean(j), mean, 1e-14 * std::abs(mean)) << "feature " << j;
    EXPECT_NEAR(a.mean(j), b.mean(j), 1e-14 * std::abs(mean)) << "feature " << j;
    if (j == 1) continue;
    EXPECT_NEAR(a.scale(j), deviation, tolerance * deviation) << "feature " << j;
    EXPECT_NEAR(a.scale(j), b.scale(j), tolerance * deviation) << "feature " << j;
  }
  EXPECT_EQ(a.scale(1), 1.0);  // the constant feature: centered, unscaled
  EXPECT_EQ(a.mean(1), 3.5);
  EXPECT_EQ(train.features.col(1).cwiseAbs().maxCoeff(), 0.0f);
  // This rank's rows are the standardized raw rows.
  const FeatureMatrix mine = raw.middleRows(train.rows.begin, train.rows.size());
  for (Eigen::Index i = 0; i < mine.rows(); ++i) {
    for (Eigen::Index j = 0; j < 5; ++j) {
      const double expected = (static_cast<double>(mine(i, j)) - a.mean(j)) / a.scale(j);
      ASSERT_EQ(train.features(i, j), static_cast<float>(expected)) << i << ", " << j;
    }
  }
}

// The model file takes raw features and computes the logits the trained (standardized) model
// computes on standardized ones, to 1e-12 relative; training on such skewed data works.
TEST_F(TrainingDataTest, StandardizedModelFileTakesRawFeatures) {
  const std::string path = WriteSkewedData("skewed-train.h5", 1500);
  TrainConfig config = BaseConfig(path, "standardized");
  config.preparation.standardize = true;
  const TrainResult result = Train(world_, config);
  EXPECT_GE(result.train.accuracy, 0.9);

  Checkpoint checkpoint;
  ModelFile model;
  RunAndAgree(world_, [&] {
    checkpoint = ReadCheckpoint(result.last_checkpoint);
    model = ReadModelFile(result.model_path);
  });
  ASSERT_TRUE(checkpoint.feature_scaling.has_value());
  ASSERT_TRUE(model.feature_scaling.has_value());
  EXPECT_EQ(*model.feature_scaling, *checkpoint.feature_scaling);
  EXPECT_TRUE(testing::SameBits(checkpoint.model.weights, result.model.weights));  // training scale
  const FeatureScaling& scaling = *checkpoint.feature_scaling;
  const Shard raw = ReadShard(Communicator(MPI_COMM_SELF), path, {});
  double worst = 0.0;
  for (Eigen::Index i = 0; i < raw.features.rows(); ++i) {
    const Vector x = raw.features.row(i).cast<double>().transpose();
    const Vector standardized = (x - scaling.mean).cwiseQuotient(scaling.scale);
    const Vector trained = checkpoint.model.weights * standardized + checkpoint.model.bias;
    const Vector from_file = model.model.weights * x + model.model.bias;
    // Relative to the terms the raw-scale logits add up: with m / s ~ 3000 (feature 0) they
    // are far larger than the logits, and no double evaluation cancels them more exactly.
    const Vector terms =
        model.model.weights.cwiseAbs() * x.cwiseAbs() + model.model.bias.cwiseAbs();
    worst = std::max(worst, ((from_file - trained).cwiseAbs().array() / terms.array()).maxCoeff());
  }
  EXPECT_LT(worst, 1e-12);
  // The evaluation of the raw file with the model file agrees with the trainer's own.
  const SoftmaxCrossEntropy loss;
  const Shard mine = ReadShard(world_, path, {});
  const Metrics metrics = EvaluateSharded(world_, loss, model.model, mine, 0.0);
  EXPECT_NEAR(metrics.accuracy, result.train.accuracy, 2.0 / 1500.0);
  EXPECT_NEAR(metrics.loss, result.train.loss, 1e-5 * result.train.loss);
}

// Stop and resume with standardization, balanced class weights and sample weights ends with
// the bits of an uninterrupted run, and logs the same weighted training loss.
TEST_F(TrainingDataTest, WeightedStandardizedResumeEqualsUninterruptedBitwise) {
  std::vector<double> samples(1200);
  SplitMix64 generator(31);
  for (double& weight : samples) weight = 2.0 * generator.UniformOpen();
  const std::string path = WriteSkewedData("weighted.h5", 1200, samples);
  TrainConfig straight = BaseConfig(path, "w-straight");
  straight.layout.sample_weights = "weights";
  straight.preparation.standardize = true;
  straight.preparation.class_weighting = ClassWeighting::kBalanced;
  straight.optimizer.schedule = LearningRateSchedule::kCosine;
  const TrainResult reference = Train(world_, straight);

  TrainConfig interrupted = straight;
  interrupted.checkpoint.directory = directory_ + "/w-stopped";
  interrupted.checkpoint.resume = "auto";
  TrainResult last;
  for (const std::int64_t stop : {std::int64_t{7}, std::int64_t{30}, std::int64_t{0}}) {
    interrupted.max_steps = stop;
    last = Train(world_, interrupted);
  }
  EXPECT_TRUE(testing::SameBits(last.model.weights, reference.model.weights));
  EXPECT_TRUE(testing::SameBits(Matrix(last.model.bias), Matrix(reference.model.bias)));
  EXPECT_EQ(testing::DeterministicMetricsColumns(last.metrics_log),
            testing::DeterministicMetricsColumns(reference.metrics_log));

  // Resuming it without --standardize would see other features: refused.
  interrupted.preparation.standardize = false;
  interrupted.epochs = 4;
  ExpectAgreedError([&] { Train(world_, interrupted); },
                    "was trained with --standardize; resume it with --standardize");
}

TEST_F(TrainingDataTest, AllOneSampleWeightsTrainTheSameBitsAsNone) {
  const std::string path = WriteSkewedData("ones.h5", 700, std::vector<double>(700, 1.0));
  TrainConfig unweighted = BaseConfig(path, "ones-a");
  unweighted.preparation.standardize = true;
  TrainConfig weighted = unweighted;
  weighted.checkpoint.directory = directory_ + "/ones-b";
  weighted.layout.sample_weights = "weights";
  const TrainResult a = Train(world_, unweighted);
  const TrainResult b = Train(world_, weighted);
  EXPECT_TRUE(testing::SameBits(a.model.weights, b.model.weights));
  EXPECT_TRUE(testing::SameBits(Matrix(a.model.bias), Matrix(b.model.bias)));
}

// Sigmoid training on generated multi-label data; its evaluation counts are the same on any
// rank count.
TEST_F(TrainingDataTest, MultiLabelTrainsAndEvaluatesTheSameOnAnyRankCount) {
  SyntheticConfig data = shardmax::testing::SmallSynthetic(directory_ + "/ml.h5", 2000, 12, 4, 3.0);
  data.multi_label = true;
  data.validation_output_path = directory_ + "/ml-val.h5";
  data.validation_rows = 700;
  RunAndAgree(world_, [&] {
    if (world_.is_root()) WriteSyntheticDataset(data);
  });
  TrainConfig config = BaseConfig(data.output_path, "ml");
  config.validation_path = data.validation_output_path;
  config.loss = "sigmoid";
  config.epochs = 5;
  const TrainResult result = Train(world_, config);
  ASSERT_TRUE(result.validation.has_value());
  EXPECT_GE(result.validation->accuracy, 0.8);  // subset accuracy: all 4 labels right

  ModelFile model;
  RunAndAgree(world_, [&] { model = ReadModelFile(result.model_path); });
  EXPECT_EQ(model.loss, "sigmoid");
  const SigmoidCrossEntropy loss;
  const Shard mine = ReadShard(world_, data.validation_output_path, {});
  const MultiLabelEvaluation distributed =
      EvaluateMultiLabelSharded(world_, loss, model.model, mine, 1e-3, 0.5);
  const Communicator alone(MPI_COMM_SELF);
  const Shard everything = ReadShard(alone, data.validation_output_path, {});
  const MultiLabelEvaluation single =
      EvaluateMultiLabelSharded(alone, loss, model.model, everything, 1e-3, 0.5);
  EXPECT_EQ(distributed.counts, single.counts);
  EXPECT_EQ(distributed.counts.rows, 700);
  EXPECT_EQ(distributed.metrics.accuracy, result.validation->accuracy);
  EXPECT_NEAR(distributed.loss_sum, single.loss_sum, 1e-12 * single.loss_sum);
  const MultiLabelReport report = ComputeMultiLabelReport(distributed.counts);
  EXPECT_GE(report.micro.f1, 0.9);

  // Single-label data cannot train a sigmoid model, nor multi-label data a softmax one.
  config.checkpoint.directory = directory_ + "/ml-softmax";
  config.loss = "softmax";
  ExpectAgreedError([&] { Train(world_, config); }, "needs 1-D class labels");
}

}  // namespace
}  // namespace shardmax
