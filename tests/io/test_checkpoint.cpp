#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include "common/error.hpp"
#include "common/random.hpp"
#include "io/checkpoint.hpp"
#include "io/hdf5_file.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

// A checkpoint of K x D = 3 x 5 (or `classes` x `features`) at global step `step`.
Checkpoint SampleCheckpoint(std::uint64_t seed, std::int64_t step = 317, Eigen::Index classes = 3,
                            Eigen::Index features = 5) {
  SplitMix64 generator(seed);
  Checkpoint checkpoint;
  checkpoint.model = SoftmaxModel::Zeros(classes, features);
  for (Eigen::Index i = 0; i < checkpoint.model.weights.size(); ++i) {
    checkpoint.model.weights.data()[i] = generator.Normal() * 1e3;
  }
  // Values whose bits are easy to lose in a careless round trip.
  checkpoint.model.weights(0, 0) = std::numeric_limits<double>::denorm_min();
  checkpoint.model.weights(0, 1) = -0.0;
  checkpoint.model.weights(0, 2) = 0.1;
  checkpoint.model.bias(0) = 1.0 / 3.0;
  checkpoint.model.bias(1) = -2.5e-300;
  checkpoint.model.bias(2) = 7.0;
  checkpoint.optimizer_state.push_back({"velocity_weights", checkpoint.model.weights * 0.5});
  checkpoint.optimizer_state.push_back({"velocity_bias", Matrix::Constant(classes, 1, 0.25)});
  checkpoint.position = TrainingPosition{4, 17, step, 352, 1234.5678};
  checkpoint.run = RunSignature{42, 4, 1000, features, classes, 256, 0.1, 0.9, 1e-4, "softmax",
                                "sgd", "/data/train.h5"};
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
  EXPECT_EQ(read.position.cursor, 352);
  EXPECT_EQ(read.position.epoch_loss_sum, 1234.5678);
  EXPECT_EQ(read.run.seed, 42u);
  EXPECT_EQ(read.run.world_size, 4);
  EXPECT_EQ(read.run.batch_size, 256);
  EXPECT_EQ(read.run.momentum, 0.9);
  EXPECT_EQ(read.run.loss, "softmax");
  EXPECT_EQ(read.run.train_path, "/data/train.h5");
  // No temporary file is left behind; `latest` names the checkpoint.
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == CheckpointFileName(317) || name == kLatestPointerName) << name;
  }
  EXPECT_EQ(ReadLatestPointer(directory_).value(), path);
}

// The trainer saves large optimizer state (the L-BFGS history) as views of its own arrays:
// the file must hold what the same arrays, owned, give. (Not compared byte for byte: HDF5
// records each object's modification time, in seconds.)
TEST_F(CheckpointTest, ViewedArraysWriteWhatOwnedOnesWrite) {
  const Checkpoint owned = SampleCheckpoint(2);
  Checkpoint viewed = owned;
  for (std::size_t i = 0; i < owned.optimizer_state.size(); ++i) {
    const NamedMatrix& state = owned.optimizer_state[i];
    viewed.optimizer_state[i] = NamedMatrix::View(state.name, state.values.data(),
                                                  state.values.rows(), state.values.cols());
    EXPECT_EQ(viewed.optimizer_state[i].values.size(), 0);
  }
  const std::string owned_path = directory_ + "/owned/" + CheckpointFileName(317);
  const std::string viewed_path = directory_ + "/viewed/" + CheckpointFileName(317);
  fs::create_directories(directory_ + "/owned");
  fs::create_directories(directory_ + "/viewed");
  WriteCheckpoint(owned_path, owned);
  WriteCheckpoint(viewed_path, viewed);
  EXPECT_EQ(fs::file_size(owned_path), fs::file_size(viewed_path));
  const Checkpoint read = ReadCheckpoint(viewed_path);
  ASSERT_EQ(read.optimizer_state.size(), owned.optimizer_state.size());
  for (const NamedMatrix& state : owned.optimizer_state) {
    bool found = false;
    for (const NamedMatrix& candidate : read.optimizer_state) {
      if (candidate.name == state.name) {
        found = BitwiseEqual(candidate.values, state.values) &&
                BitwiseEqual(candidate.values, Matrix(candidate.Values()));
      }
    }
    EXPECT_TRUE(found) << state.name;
  }
  EXPECT_TRUE(BitwiseEqual(read.model.weights, owned.model.weights));
}

TEST_F(CheckpointTest, NamesSortByStepAndNewestIsFound) {
  EXPECT_EQ(CheckpointFileName(42), "ckpt-000000042.h5");
  EXPECT_FALSE(FindNewestCheckpoint(directory_).has_value());
  for (std::int64_t step : {5, 100, 20}) {
    WriteCheckpoint(directory_ + "/" + CheckpointFileName(step), SampleCheckpoint(2, step));
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
  WriteCheckpoint(path, SampleCheckpoint(3, 1));
  const auto size = fs::file_size(path);
  Checkpoint bad = SampleCheckpoint(4, 1);
  bad.optimizer_state.push_back({"velocity_weights", Matrix::Zero(1, 1)});  // duplicate name
  EXPECT_THROW(WriteCheckpoint(path, bad), UserError);
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_TRUE(BitwiseEqual(ReadCheckpoint(path).model.weights, SampleCheckpoint(3, 1).model.weights));
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
  WriteCheckpoint(path, SampleCheckpoint(6, 9));
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

// The message of ReadCheckpoint(path), or "" if it loads.
std::string LoadError(const std::string& path) {
  try {
    ReadCheckpoint(path);
    return "";
  } catch (const UserError& error) {
    return error.what();
  }
}

void ExpectRefused(const std::string& path, const std::string& expected) {
  const std::string message = LoadError(path);
  EXPECT_EQ(message.rfind("checkpoint '" + path + "': ", 0), 0u) << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Opens a sealed checkpoint read-write through HDF5, lets `edit` change it, then seals it
// again, as a writer with a bug would: only the structure and array checks can catch it.
void EditAndReseal(const std::string& path, const std::function<void(hid_t file)>& edit) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  edit(file);
  ASSERT_GE(H5Fclose(file), 0);
  SealCheckpointFile(path);
}

// A changed byte of a checkpoint is either refused or changes nothing that is loaded (a byte
// of the header's padding): a damaged checkpoint is never loaded as if it were fine. Every
// header byte is tried, and 300 random bytes of the body (CRC-32 catches any one-byte change,
// so trying them all would only take longer).
TEST_F(CheckpointTest, NoSingleByteFlipIsLoadedAsValid) {
  const std::string path = directory_ + "/" + CheckpointFileName(317);
  const Checkpoint written = SampleCheckpoint(7);
  WriteCheckpoint(path, written);
  const std::string original = ReadBytes(path);
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < static_cast<std::size_t>(kCheckpointHeaderBytes); ++i) {
    positions.push_back(i);
  }
  SplitMix64 generator(99);
  const std::size_t header_bytes = positions.size();
  const std::size_t body_bytes = original.size() - header_bytes;
  for (int i = 0; i < 300; ++i) positions.push_back(header_bytes + generator.Next() % body_bytes);
  std::size_t refused = 0;
  for (const std::size_t i : positions) {
    std::string damaged = original;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    WriteBytes(path, damaged);
    try {
      const Checkpoint read = ReadCheckpoint(path);
      ASSERT_TRUE(BitwiseEqual(read.model.weights, written.model.weights)) << "byte " << i;
      ASSERT_EQ(read.position.global_step, 317) << "byte " << i;
      ASSERT_GE(i, std::string("shardmax-checkpoint\n").size()) << "byte " << i;
      ASSERT_LT(i, static_cast<std::size_t>(kCheckpointHeaderBytes)) << "byte " << i;
    } catch (const UserError& error) {
      ++refused;
    }
  }
  // Only the header's padding after its text is free to change.
  EXPECT_GE(refused, 300u + 60u);
  std::printf("%zu of %zu one-byte changes refused; the rest were in the header's padding\n",
              refused, positions.size());
}

TEST_F(CheckpointTest, EachKindOfDamageIsReportedByName) {
  const std::string path = directory_ + "/" + CheckpointFileName(317);
  WriteCheckpoint(path, SampleCheckpoint(8));
  const std::string original = ReadBytes(path);

  WriteBytes(path, original.substr(0, original.size() - 1));
  ExpectRefused(path, "truncated or extended");
  WriteBytes(path, original.substr(0, 100));
  ExpectRefused(path, "truncated inside its 512-byte header");
  WriteBytes(path, "");
  ExpectRefused(path, "empty file");
  WriteBytes(path, original + "x");
  ExpectRefused(path, "truncated or extended");
  std::string flipped = original;
  flipped[original.size() - 10] ^= 1;
  WriteBytes(path, flipped);
  ExpectRefused(path, "damaged: the file's crc32 is");
  WriteBytes(path, "not a checkpoint at all\n");
  ExpectRefused(path, "not a shardmax checkpoint (no checkpoint header and not HDF5)");

  // A dataset deleted, by hand (the file checksum no longer matches) or by a buggy writer.
  WriteBytes(path, original);
  EditAndReseal(path, [](hid_t file) { H5Ldelete(file, "/optimizer/velocity_weights", H5P_DEFAULT); });
  EXPECT_EQ(LoadError(path), "");  // an optimizer state may be absent: training refuses it
  WriteBytes(path, original);
  EditAndReseal(path, [](hid_t file) { H5Ldelete(file, "/model/bias", H5P_DEFAULT); });
  ExpectRefused(path, "no dataset '/model/bias'");
  WriteBytes(path, original);
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    H5Ldelete(file, "/model/bias", H5P_DEFAULT);
    H5Fclose(file);
  }
  ExpectRefused(path, "damaged: the file's crc32 is");

  // One value changed behind the checksum's back.
  WriteBytes(path, original);
  EditAndReseal(path, [](hid_t file) {
    const hid_t dataset = H5Dopen2(file, "/model/weights", H5P_DEFAULT);
    Matrix values = SampleCheckpoint(8).model.weights;
    values(2, 4) += 1.0;
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(dataset);
  });
  ExpectRefused(path, "dataset '/model/weights' fails its checksum");
  WriteBytes(path, original);
  EditAndReseal(path, [](hid_t file) {
    H5Adelete_by_name(file, "/optimizer/velocity_bias", "crc32", H5P_DEFAULT);
  });
  ExpectRefused(path, "attribute 'crc32' of '/optimizer/velocity_bias' is missing");

  // Renamed to another step's name.
  WriteBytes(path, original);
  const std::string renamed = directory_ + "/" + CheckpointFileName(318);
  fs::rename(path, renamed);
  ExpectRefused(renamed, "holds global step 317, not the step its name says");
}

TEST_F(CheckpointTest, OtherFormatVersionsAreRefusedWithTheirVersion) {
  // Version 1 had no header: an HDF5 file whose attributes say so.
  const std::string old = directory_ + "/" + CheckpointFileName(1);
  {
    h5::Handle file = h5::CreateFile(old);
    h5::WriteAttribute(file, "/", "format", std::string("shardmax-checkpoint"));
    h5::WriteAttribute(file, "/", "format_version", std::int64_t{1});
  }
  ExpectRefused(old, "format version 1, this build reads version 2");

  const std::string future = directory_ + "/" + CheckpointFileName(317);
  WriteCheckpoint(future, SampleCheckpoint(9));
  std::string bytes = ReadBytes(future);
  bytes.replace(bytes.find("format_version 2"), 16, "format_version 3");
  WriteBytes(future, bytes);
  ExpectRefused(future, "format version 3, this build reads version 2");

  const std::string data = directory_ + "/data.h5";
  shardmax::testing::WriteDataFile(data, Matrix::Ones(2, 2), {0, 1}, H5T_IEEE_F32LE);
  ExpectRefused(data, "not a shardmax checkpoint (an HDF5 file without a checkpoint header");
}

TEST_F(CheckpointTest, SearchSkipsDamagedCheckpointsNewestFirst) {
  for (std::int64_t step : {5, 10, 20}) {
    WriteCheckpoint(directory_ + "/" + CheckpointFileName(step), SampleCheckpoint(10, step));
  }
  const std::string truncated = directory_ + "/" + CheckpointFileName(20);
  fs::resize_file(truncated, fs::file_size(truncated) - 100);
  const std::string garbage = directory_ + "/" + CheckpointFileName(30);
  WriteBytes(garbage, "garbage");
  EXPECT_EQ(ReadLatestPointer(directory_).value(), truncated);  // written last

  const CheckpointSearch search = FindNewestValidCheckpoint(directory_);
  EXPECT_EQ(search.newest_valid.value(), directory_ + "/" + CheckpointFileName(10));
  ASSERT_EQ(search.skipped.size(), 2u);
  EXPECT_EQ(search.skipped[0].path, garbage);
  EXPECT_NE(search.skipped[0].problem.find(garbage), std::string::npos);
  EXPECT_EQ(search.skipped[1].path, truncated);
  EXPECT_NE(search.skipped[1].problem.find("truncated"), std::string::npos);

  // keep = 1: the two damaged newer files do not count, so step 10 stays and step 5 goes.
  PruneCheckpoints(directory_, 1);
  EXPECT_FALSE(fs::exists(directory_ + "/" + CheckpointFileName(5)));
  EXPECT_TRUE(fs::exists(directory_ + "/" + CheckpointFileName(10)));
  EXPECT_TRUE(fs::exists(truncated));
  EXPECT_TRUE(fs::exists(garbage));
  PruneCheckpoints(directory_, 1);
  EXPECT_TRUE(fs::exists(directory_ + "/" + CheckpointFileName(10)));
}

TEST_F(CheckpointTest, NothingVerifiesMeansNothingIsChosen) {
  WriteBytes(directory_ + "/" + CheckpointFileName(3), "x");
  const CheckpointSearch search = FindNewestValidCheckpoint(directory_);
  EXPECT_FALSE(search.newest_valid.has_value());
  EXPECT_EQ(search.skipped.size(), 1u);
  PruneCheckpoints(directory_, 1);
  EXPECT_TRUE(fs::exists(directory_ + "/" + CheckpointFileName(3)));
}

TEST_F(CheckpointTest, LeftoversOfUnfinishedWritesAreRemoved) {
  for (const char* name : {".ckpt-000000007.h5.tmp", ".latest.tmp", "notes.txt", ".model.h5.tmp"}) {
    WriteBytes(directory_ + "/" + name, "x");
  }
  const std::vector<std::string> removed = RemoveUnfinishedCheckpointWrites(directory_);
  EXPECT_EQ(removed, (std::vector<std::string>{directory_ + "/.ckpt-000000007.h5.tmp",
                                               directory_ + "/.latest.tmp"}));
  EXPECT_TRUE(fs::exists(directory_ + "/notes.txt"));
  EXPECT_TRUE(fs::exists(directory_ + "/.model.h5.tmp"));  // not ours to judge
}

// A full disk, simulated with a file-size limit (writes past it fail with EFBIG): a clear
// error naming the file, the previous checkpoint and `latest` untouched, no temporary left.
TEST_F(CheckpointTest, FullDiskKeepsThePreviousCheckpoint) {
  const std::string first = directory_ + "/" + CheckpointFileName(1);
  WriteCheckpoint(first, SampleCheckpoint(11, 1, 10, 200));
  ASSERT_GT(fs::file_size(first), 32000u);

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = 16384;
  const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string message;
  try {
    WriteCheckpoint(directory_ + "/" + CheckpointFileName(2), SampleCheckpoint(12, 2, 10, 200));
  } catch (const UserError& error) {
    message = error.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);

  EXPECT_NE(message.find("writing '" + directory_ + "/" + CheckpointFileName(2) + "' failed"),
            std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(directory_ + "/" + CheckpointFileName(2)));
  EXPECT_FALSE(fs::exists(directory_ + "/.ckpt-000000002.h5.tmp"));
  EXPECT_EQ(LoadError(first), "");
  EXPECT_EQ(ReadLatestPointer(directory_).value(), first);
}

TEST_F(CheckpointTest, StandardizationAndEpochWeightSumRoundTrip) {
  Checkpoint written = SampleCheckpoint(7);
  written.position.epoch_weight_sum = 4321.25;
  written.feature_scaling =
      FeatureScaling{Vector::LinSpaced(5, -1.0, 3.0), Vector::Constant(5, 0.3)};
  written.feature_scaling->scale(2) = 1.0;
  const std::string path = directory_ + "/" + CheckpointFileName(317);
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
