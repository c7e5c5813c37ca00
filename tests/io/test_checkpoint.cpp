#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "common/error.hpp"
#include "common/random.hpp"
#include "io/checkpoint.hpp"
#include "io/hdf5_file.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

Checkpoint SampleCheckpoint(std::uint64_t seed) {
  SplitMix64 generator(seed);
  Checkpoint checkpoint;
  checkpoint.model = SoftmaxModel::Zeros(3, 5);
  for (Eigen::Index i = 0; i < checkpoint.model.weights.size(); ++i) {
    checkpoint.model.weights.data()[i] = generator.Normal() * 1e3;
  }
  // Values whose bits are easy to lose in a careless round trip.
  checkpoint.model.weights(0, 0) = std::numeric_limits<double>::denorm_min();
  checkpoint.model.weights(0, 1) = -0.0;
  checkpoint.model.weights(0, 2) = 0.1;
  checkpoint.model.bias << 1.0 / 3.0, -2.5e-300, 7.0;
  checkpoint.optimizer_state.push_back({"velocity_weights", checkpoint.model.weights * 0.5});
  checkpoint.optimizer_state.push_back({"velocity_bias", Matrix::Constant(3, 1, 0.25)});
  checkpoint.position = TrainingPosition{4, 17, 317, 4352, 1234.5678};
  checkpoint.run = RunSignature{42, 4, 1000, 5, 3, 256, 0.1, 0.9, 1e-4, "softmax", "sgd",
                                "/data/train.h5"};
  return checkpoint;
}

bool BitwiseEqual(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

class CheckpointTest : public ::testing::Test {
 protected:
  std::string directory_ = shardmax::testing::MakeScratchDirectory();
};

TEST_F(CheckpointTest, RoundTripIsBitwise) {
  const Checkpoint written = SampleCheckpoint(1);
  const std::string path = directory_ + "/" + CheckpointFileName(317);
  WriteCheckpoint(path, written);
  const Checkpoint read = ReadCheckpoint(path);
  EXPECT_TRUE(BitwiseEqual(read.model.weights, written.model.weights));
  EXPECT_EQ(std::memcmp(read.model.bias.data(), written.model.bias.data(), 3 * sizeof(double)), 0);
  ASSERT_EQ(read.optimizer_state.size(), 2u);
  for (const NamedMatrix& state : written.optimizer_state) {
    bool found = false;
    for (const NamedMatrix& candidate : read.optimizer_state) {
      if (candidate.name == state.name) found = BitwiseEqual(candidate.values, state.values);
    }
    EXPECT_TRUE(found) << state.name;
  }
  EXPECT_EQ(read.position.epoch, 4);
  EXPECT_EQ(read.position.step_in_epoch, 17);
  EXPECT_EQ(read.position.global_step, 317);
  EXPECT_EQ(read.position.cursor, 4352);
  EXPECT_EQ(read.position.epoch_loss_sum, 1234.5678);
  EXPECT_EQ(read.run.seed, 42u);
  EXPECT_EQ(read.run.world_size, 4);
  EXPECT_EQ(read.run.batch_size, 256);
  EXPECT_EQ(read.run.momentum, 0.9);
  EXPECT_EQ(read.run.loss, "softmax");
  EXPECT_EQ(read.run.train_path, "/data/train.h5");
  // No temporary file is left behind.
  for (const auto& entry : fs::directory_iterator(directory_)) {
    EXPECT_EQ(entry.path().filename().string(), CheckpointFileName(317));
  }
}

TEST_F(CheckpointTest, NamesSortByStepAndNewestIsFound) {
  EXPECT_EQ(CheckpointFileName(42), "ckpt-000000042.h5");
  EXPECT_FALSE(FindNewestCheckpoint(directory_).has_value());
  for (std::int64_t step : {5, 100, 20}) {
    WriteCheckpoint(directory_ + "/" + CheckpointFileName(step), SampleCheckpoint(2));
  }
  std::FILE* stray = std::fopen((directory_ + "/.ckpt-000000999.h5.tmp").c_str(), "w");
  std::fclose(stray);
  EXPECT_EQ(FindNewestCheckpoint(directory_).value(), directory_ + "/" + CheckpointFileName(100));
  PruneCheckpoints(directory_, 2);
  EXPECT_FALSE(fs::exists(directory_ + "/" + CheckpointFileName(5)));
  EXPECT_TRUE(fs::exists(directory_ + "/" + CheckpointFileName(20)));
  EXPECT_TRUE(fs::exists(directory_ + "/" + CheckpointFileName(100)));
}

TEST_F(CheckpointTest, FailedWriteKeepsThePreviousFile) {
  const std::string path = directory_ + "/" + CheckpointFileName(1);
  WriteCheckpoint(path, SampleCheckpoint(3));
  const auto size = fs::file_size(path);
  Checkpoint bad = SampleCheckpoint(4);
  bad.optimizer_state.push_back({"velocity_weights", Matrix::Zero(1, 1)});  // duplicate name
  EXPECT_THROW(WriteCheckpoint(path, bad), UserError);
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_TRUE(BitwiseEqual(ReadCheckpoint(path).model.weights, SampleCheckpoint(3).model.weights));
  EXPECT_FALSE(fs::exists(directory_ + "/.ckpt-000000001.h5.tmp"));
}

TEST_F(CheckpointTest, UnwritableDirectoryIsAClearError) {
  try {
    WriteCheckpoint(directory_ + "/no/such/dir/" + CheckpointFileName(1), SampleCheckpoint(5));
    ADD_FAILURE() << "no error";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("no/such/dir"), std::string::npos) << error.what();
  }
}

TEST_F(CheckpointTest, TruncatedOrForeignFilesAreRefusedByName) {
  const std::string path = directory_ + "/" + CheckpointFileName(9);
  WriteCheckpoint(path, SampleCheckpoint(6));
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    ReadCheckpoint(path);
    ADD_FAILURE() << "truncated checkpoint accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
  const std::string data_file = directory_ + "/data.h5";
  shardmax::testing::WriteDataFile(data_file, Matrix::Ones(2, 2), {0, 1}, H5T_IEEE_F32LE);
  try {
    ReadCheckpoint(data_file);
    ADD_FAILURE() << "data file accepted as a checkpoint";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("data.h5"), std::string::npos) << error.what();
  }
  EXPECT_THROW(ReadCheckpoint(directory_ + "/absent.h5"), UserError);
}

TEST_F(CheckpointTest, StandardizationAndEpochWeightSumRoundTrip) {
  Checkpoint written = SampleCheckpoint(7);
  written.position.epoch_weight_sum = 4321.25;
  written.feature_scaling =
      FeatureScaling{Vector::LinSpaced(5, -1.0, 3.0), Vector::Constant(5, 0.3)};
  written.feature_scaling->scale(2) = 1.0;
  const std::string path = directory_ + "/" + CheckpointFileName(8);
  WriteCheckpoint(path, written);
  const Checkpoint read = ReadCheckpoint(path);
  ASSERT_TRUE(read.feature_scaling.has_value());
  EXPECT_EQ(*read.feature_scaling, *written.feature_scaling);
  EXPECT_EQ(read.position.epoch_weight_sum, 4321.25);
  // Without standardization there is none to read.
  WriteCheckpoint(path, SampleCheckpoint(7));
  EXPECT_FALSE(ReadCheckpoint(path).feature_scaling.has_value());
}

}  // namespace
}  // namespace shardmax
