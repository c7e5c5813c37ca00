// Run under mpiexec with 1, 2 and 4 ranks: a streamed shard (io/shard_stream.hpp) gives the
// same bits as the shard in memory on the same rank count (same blocks, same order), for
// passes, evaluation, prediction and L-BFGS training, whether a thread reads ahead or each chunk
// is read when reached; streamed SGD is deterministic, resumes exactly, and with one chunk per
// rank is the in-memory run; a bad row in a late chunk stops every rank with the reader's
// message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/block_parallel.hpp"
#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/loss.hpp"
#include "common/random.hpp"
#include "common/weighting.hpp"
#include "io/dataset_reader.hpp"
#include "io/hdf5_file.hpp"
#include "io/model_file.hpp"
#include "io/shard_stream.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/predict_command.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

using shardmax::testing::SameBits;

// Not divisible by 2, 3 or 4; several blocks and chunks per rank, none aligned to a rank's
// first row.
constexpr std::int64_t kRows = 9001;
constexpr std::int64_t kFeatures = 13;
constexpr std::int64_t kClasses = 5;
// 2 blocks: neither the shards nor the file's rows are a multiple of it.
constexpr std::int64_t kChunkRows = 2 * kBlockRows;

StreamConfig Streamed(std::int64_t chunk_rows = kChunkRows,
                      ReadAhead read_ahead = ReadAhead::kOn, bool map_rows = true) {
  StreamConfig streaming;
  streaming.force = true;
  streaming.chunk_rows = chunk_rows;
  streaming.read_ahead = read_ahead;
  streaming.map_rows = map_rows;
  return streaming;
}

bool SameBitsVector(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

bool SameDouble(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::string ReadBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

class ShardStreamTest : public ::testing::Test {
 protected:
  SyntheticConfig WriteSynthetic(const std::string& name, FeatureType type,
                                 bool multi_label = false) {
    SyntheticConfig config = shardmax::testing::SmallSynthetic(directory_ + "/" + name, kRows,
                                                               kFeatures, kClasses, 1.0);
    config.type = type;
    config.multi_label = multi_label;
    // HDF5 chunks of 5000 rows: stream chunks within one are read in place
    // (io/mapped_rows.hpp), those across row 5000 copied (a block would span two chunks).
    config.chunk_rows = 5000;
    RunAndAgree(world_, [&] {
      if (world_.is_root()) WriteSyntheticDataset(config);
    });
    return config;
  }

  static SoftmaxModel RandomModel() {
    SplitMix64 generator(31);
    SoftmaxModel model = SoftmaxModel::Zeros(kClasses, kFeatures);
    for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
      model.weights.data()[i] = 0.5 * generator.Normal();
    }
    for (Eigen::Index k = 0; k < kClasses; ++k) model.bias(k) = 0.2 * generator.Normal();
    return model;
  }

  // Loss and gradient of one pass, in memory and streamed: the same bits.
  void ExpectSamePass(const std::string& path, const Loss& loss, Precision precision,
                      const Vector& class_weights = {}) {
    const SoftmaxModel model = RandomModel();
    Shard in_memory = ReadShard(world_, path, layout_);
    Shard streamed = ReadShard(world_, path, layout_, ShardLabels::kRead, 0, Streamed());
    ASSERT_FALSE(in_memory.is_streamed());
    ASSERT_TRUE(streamed.is_streamed());
    EXPECT_EQ(streamed.feature_type, in_memory.feature_type);
    EXPECT_EQ(streamed.rows.begin, in_memory.rows.begin);
    EXPECT_EQ(streamed.rows.end, in_memory.rows.end);
    if (class_weights.size() > 0) {
      in_memory.weights = RowWeights(in_memory.labels, class_weights, in_memory.weights);
      streamed.stream->SetClassWeights(class_weights);
    }
    const Objective expected =
        ComputeShardedObjective(world_, loss, model, in_memory, 0.01, precision);
    for (const bool map_rows : {true, false}) {
      for (const bool read_ahead : {true, false}) {
        streamed.stream->SetMapRows(map_rows);
        streamed.stream->SetReadAhead(read_ahead);
        const Objective actual =
            ComputeShardedObjective(world_, loss, model, streamed, 0.01, precision);
        const std::string mode = StrCat("read-ahead ", read_ahead, ", in place ", map_rows);
        EXPECT_TRUE(SameDouble(actual.value, expected.value))
            << actual.value << " vs " << expected.value << ", " << mode;
        EXPECT_TRUE(SameBits(actual.grad_weights, expected.grad_weights)) << mode;
        EXPECT_TRUE(SameBitsVector(actual.grad_bias, expected.grad_bias)) << mode;
      }
    }
    EXPECT_GT(expected.grad_weights.norm(), 0.0);  // a pass that did something
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_ = shardmax::testing::MakeScratchDirectory(world_);
  DatasetLayout layout_;
};

TEST_F(ShardStreamTest, Float32PassIsBitwiseTheInMemoryPass) {
  const SyntheticConfig data = WriteSynthetic("f32.h5", FeatureType::kFloat32);
  const SoftmaxCrossEntropy loss;
  ExpectSamePass(data.output_path, loss, Precision::kFloat64);
  ExpectSamePass(data.output_path, loss, Precision::kFloat32);
}

TEST_F(ShardStreamTest, Uint8PassIsBitwiseTheInMemoryPass) {
  const SyntheticConfig data = WriteSynthetic("u8.h5", FeatureType::kUint8);
  const SoftmaxCrossEntropy loss;
  ExpectSamePass(data.output_path, loss, Precision::kFloat64);
  ExpectSamePass(data.output_path, loss, Precision::kFloat32);
}

TEST_F(ShardStreamTest, Float64PassIsBitwiseTheInMemoryPass) {
  const SyntheticConfig data = WriteSynthetic("f64.h5", FeatureType::kFloat64);
  const SoftmaxCrossEntropy loss;
  ExpectSamePass(data.output_path, loss, Precision::kFloat64);
}

TEST_F(ShardStreamTest, WeightedRowsGiveTheSamePass) {
  // Sample weights from the file times class weights, as training sets them.
  const std::string path = directory_ + "/weighted.h5";
  Matrix features(kRows, kFeatures);
  std::vector<long long> labels(kRows);
  std::vector<double> weights(kRows);
  SplitMix64 generator(5);
  for (Eigen::Index i = 0; i < features.size(); ++i) features.data()[i] = generator.Normal();
  for (std::int64_t i = 0; i < kRows; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<long long>(generator.Below(kClasses));
    weights[static_cast<std::size_t>(i)] = generator.UniformOpen() * 2.0;
  }
  RunAndAgree(world_, [&] {
    if (world_.is_root()) {
      shardmax::testing::WriteDataFile(path, features, labels, H5T_IEEE_F32LE, weights);
    }
  });
  layout_.sample_weights = "weights";
  Vector class_weights(kClasses);
  class_weights << 0.5, 1.0, 2.0, 0.25, 3.0;
  const SoftmaxCrossEntropy loss;
  ExpectSamePass(path, loss, Precision::kFloat64, class_weights);
}

TEST_F(ShardStreamTest, MultiLabelPassIsBitwiseTheInMemoryPass) {
  const SyntheticConfig data = WriteSynthetic("multi.h5", FeatureType::kFloat32, true);
  const std::unique_ptr<Loss> loss = MakeLoss("sigmoid");
  ExpectSamePass(data.output_path, *loss, Precision::kFloat64);
}

TEST_F(ShardStreamTest, EveryChunkSizeGivesTheSamePass) {
  const SyntheticConfig data = WriteSynthetic("sizes.h5", FeatureType::kFloat32);
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = RandomModel();
  const Shard in_memory = ReadShard(world_, data.output_path, layout_);
  const Objective expected = ComputeShardedObjective(world_, loss, model, in_memory, 0.0);
  // One block per chunk, three blocks, and one chunk larger than the file.
  for (const std::int64_t chunk_rows : {kBlockRows, 3 * kBlockRows, 16 * kBlockRows}) {
    const Shard streamed =
        ReadShard(world_, data.output_path, layout_, ShardLabels::kRead, 0, Streamed(chunk_rows));
    const Objective actual = ComputeShardedObjective(world_, loss, model, streamed, 0.0);
    EXPECT_TRUE(SameDouble(actual.value, expected.value)) << "chunk rows " << chunk_rows;
    EXPECT_TRUE(SameBits(actual.grad_weights, expected.grad_weights))
        << "chunk rows " << chunk_rows;
  }
}

TEST_F(ShardStreamTest, EvaluationIsBitwiseTheInMemoryEvaluation) {
  const SyntheticConfig data = WriteSynthetic("eval.h5", FeatureType::kUint8);
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = RandomModel();
  const Shard in_memory = ReadShard(world_, data.output_path, layout_);
  const Shard streamed =
      ReadShard(world_, data.output_path, layout_, ShardLabels::kRead, 0, Streamed());
  const Evaluation expected = EvaluateShardedInDetail(world_, loss, model, in_memory, 0.01, 3);
  const Evaluation actual = EvaluateShardedInDetail(world_, loss, model, streamed, 0.01, 3);
  EXPECT_EQ(actual.confusion, expected.confusion);
  EXPECT_EQ(actual.top_k_hits, expected.top_k_hits);
  EXPECT_EQ(actual.metrics.rows, kRows);
  EXPECT_TRUE(SameDouble(actual.loss_sum, expected.loss_sum));
  EXPECT_GT(expected.metrics.accuracy, 0.0);
  // The label statistics training takes from the data, by a streamed pre-pass.
  EXPECT_EQ(CountClasses(world_, streamed), CountClasses(world_, in_memory));
  EXPECT_EQ(CountRowsPerClass(world_, streamed, kClasses),
            CountRowsPerClass(world_, in_memory, kClasses));
}

TEST_F(ShardStreamTest, PredictWritesTheSameOutputStreamed) {
  const SyntheticConfig data = WriteSynthetic("predict.h5", FeatureType::kFloat32);
  const std::string model_path = directory_ + "/model.h5";
  RunAndAgree(world_, [&] {
    if (!world_.is_root()) return;
    ModelFile model;
    model.model = RandomModel();
    model.feature_type = "float32";
    WriteModelFile(model_path, model);
  });
  for (const std::string format : {"hdf5", "csv"}) {
    const std::string in_memory = directory_ + "/memory." + format;
    const std::string streamed = directory_ + "/streamed." + format;
    const std::vector<std::string> common{"--model", model_path, "--data", data.output_path,
                                          "--probabilities"};
    std::vector<std::string> args = common;
    args.insert(args.end(), {"--output", in_memory});
    EXPECT_EQ(RunPredict(world_, args), 0);
    args = common;
    args.insert(args.end(), {"--output", streamed, "--stream", "--stream-chunk-rows", "2048"});
    EXPECT_EQ(RunPredict(world_, args), 0);
    if (!world_.is_root()) continue;
    if (format == "csv") {
      EXPECT_EQ(ReadBytes(streamed), ReadBytes(in_memory));
      EXPECT_GT(ReadBytes(in_memory).size(), static_cast<std::size_t>(kRows));
      continue;
    }
    for (const auto& [name, columns] :
         {std::pair<std::string, std::int64_t>{"predicted", 1}, {"probabilities", kClasses}}) {
      std::vector<double> a(static_cast<std::size_t>(kRows * columns));
      std::vector<double> b(a.size());
      h5::Handle file_a = h5::OpenFileForReading(in_memory);
      h5::Handle file_b = h5::OpenFileForReading(streamed);
      h5::ReadRows(h5::OpenDataset(file_a, name, in_memory), 0, kRows, H5T_NATIVE_DOUBLE,
                   a.data(), in_memory);
      h5::ReadRows(h5::OpenDataset(file_b, name, streamed), 0, kRows, H5T_NATIVE_DOUBLE,
                   b.data(), streamed);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << name;
    }
  }
}

TEST_F(ShardStreamTest, LbfgsTrainingStreamedIsBitwiseTheInMemoryRun) {
  const SyntheticConfig data = WriteSynthetic("lbfgs.h5", FeatureType::kFloat32);
  TrainConfig config = shardmax::testing::SmallTrainConfig(data.output_path, directory_ + "/mem");
  config.optimizer.solver = Solver::kLbfgs;
  config.optimizer.max_iterations = 6;
  // Both need streamed pre-passes: class counts and the weight sum.
  config.preparation.class_weighting = ClassWeighting::kBalanced;
  config.preparation.init_bias = BiasInit::kPriors;
  config.progress_seconds = 0;
  const TrainResult expected = Train(world_, config);

  config.checkpoint.directory = directory_ + "/streamed";
  config.streaming = Streamed();
  const TrainResult actual = Train(world_, config);
  EXPECT_EQ(actual.position.global_step, 6);
  EXPECT_TRUE(SameBits(actual.model.weights, expected.model.weights));
  EXPECT_TRUE(SameBitsVector(actual.model.bias, expected.model.bias));
  EXPECT_TRUE(SameDouble(actual.train.loss, expected.train.loss));

  // Stopped after 2 iterations and resumed, still streamed but each chunk read when reached:
  // the same bits again.
  config.streaming = Streamed(kChunkRows, ReadAhead::kOff);
  config.checkpoint.directory = directory_ + "/resumed";
  config.checkpoint.resume = "auto";
  config.max_steps = 2;
  EXPECT_TRUE(Train(world_, config).stopped_at_max_steps);
  config.max_steps = 0;
  const TrainResult resumed = Train(world_, config);
  EXPECT_TRUE(SameBits(resumed.model.weights, expected.model.weights));
  EXPECT_TRUE(SameBitsVector(resumed.model.bias, expected.model.bias));
}

TEST_F(ShardStreamTest, SgdAndAdamwWithOneChunkPerRankAreTheInMemoryRuns) {
  // One chunk per rank: its rows are shuffled by the in-memory order's generator.
  const SyntheticConfig data = WriteSynthetic("sgd.h5", FeatureType::kUint8);
  for (const Solver solver : {Solver::kSgd, Solver::kAdamW}) {
    const std::string name = solver == Solver::kSgd ? "sgd" : "adamw";
    TrainConfig config =
        shardmax::testing::SmallTrainConfig(data.output_path, directory_ + "/mem-" + name);
    config.optimizer.solver = solver;
    config.progress_seconds = 0;
    const TrainResult expected = Train(world_, config);
    config.checkpoint.directory = directory_ + "/streamed-" + name;
    config.streaming = Streamed(16 * kBlockRows);  // more than the file's rows
    const TrainResult actual = Train(world_, config);
    EXPECT_EQ(actual.position.global_step, expected.position.global_step);
    EXPECT_TRUE(SameBits(actual.model.weights, expected.model.weights)) << name;
    EXPECT_TRUE(SameBitsVector(actual.model.bias, expected.model.bias)) << name;
    EXPECT_GT(actual.train.accuracy, 0.3) << name;
  }
}

TEST_F(ShardStreamTest, StreamedSgdIsDeterministicAndResumesExactly) {
  const SyntheticConfig data = WriteSynthetic("sgd-resume.h5", FeatureType::kFloat32);
  TrainConfig config = shardmax::testing::SmallTrainConfig(data.output_path, directory_ + "/a");
  config.batch_size = 100;  // shares that do not divide a chunk: some batches span two
  config.optimizer.schedule = LearningRateSchedule::kCosine;  // depends on the step
  config.checkpoint.unit = CheckpointUnit::kStep;
  config.checkpoint.every = 10;  // checkpoints written while the reader thread runs
  config.progress_seconds = 0;
  config.streaming = Streamed(kBlockRows);
  const TrainResult reference = Train(world_, config);
  config.checkpoint.directory = directory_ + "/b";
  const TrainResult again = Train(world_, config);
  EXPECT_TRUE(SameBits(again.model.weights, reference.model.weights));
  config.checkpoint.directory = directory_ + "/in-turn";
  config.streaming.read_ahead = ReadAhead::kOff;  // each chunk read when a batch reaches it
  EXPECT_TRUE(SameBits(Train(world_, config).model.weights, reference.model.weights));
  config.checkpoint.directory = directory_ + "/copied";
  config.streaming.map_rows = false;  // the features copied through HDF5, not read in place
  EXPECT_TRUE(SameBits(Train(world_, config).model.weights, reference.model.weights));
  config.streaming.map_rows = true;

  // Another batch order than in memory (chunk by chunk), so other weights.
  TrainConfig in_memory = config;
  in_memory.streaming = {};
  in_memory.checkpoint.directory = directory_ + "/memory";
  EXPECT_FALSE(SameBits(Train(world_, in_memory).model.weights, reference.model.weights));

  // Stopped mid-epoch, then just past the next epoch's start, then finished.
  config.checkpoint.directory = directory_ + "/stopped";
  config.checkpoint.resume = "auto";
  const std::int64_t steps = StepsPerEpoch(kRows, config.batch_size);
  for (const std::int64_t stop : {std::int64_t{11}, steps + 7, std::int64_t{0}}) {
    config.max_steps = stop;
    // The parts alternate: reading in turn, ahead, in turn.
    config.streaming.read_ahead = stop == 11 || stop == 0 ? ReadAhead::kOff : ReadAhead::kOn;
    const TrainResult part = Train(world_, config);
    EXPECT_EQ(part.stopped_at_max_steps, stop != 0);
    if (stop == 0) {
      EXPECT_TRUE(SameBits(part.model.weights, reference.model.weights));
      EXPECT_TRUE(SameBitsVector(part.model.bias, reference.model.bias));
    }
  }
}

TEST_F(ShardStreamTest, StepSharesMustFitAChunk) {
  const SyntheticConfig data = WriteSynthetic("gd.h5", FeatureType::kFloat32);
  TrainConfig config = shardmax::testing::SmallTrainConfig(data.output_path, directory_ + "/gd");
  config.batch_size = kRows;  // gradient descent: a rank's whole shard in every step
  config.epochs = 2;
  config.progress_seconds = 0;
  config.streaming = Streamed(kBlockRows);
  shardmax::testing::ExpectAgreedError(
      world_, [&] { Train(world_, config); },
      "must fit in one streamed chunk of 1024 rows; lower --batch-size, or raise "
      "--stream-chunk-rows");
  // Chunks sized by the trainer grow to a step's share.
  config.streaming.chunk_rows = 0;
  config.checkpoint.directory = directory_ + "/gd-auto";
  EXPECT_EQ(Train(world_, config).position.global_step, 2);
}

TEST_F(ShardStreamTest, MemoryBudgetChoosesStreaming) {
  // 64 float32 features: 4.6 MiB in all, over 1 MiB on every rank count up to 4.
  SyntheticConfig config = shardmax::testing::SmallSynthetic(directory_ + "/budget.h5", 18000,
                                                             64, kClasses);
  RunAndAgree(world_, [&] {
    if (world_.is_root()) WriteSyntheticDataset(config);
  });
  StreamConfig budget;
  budget.memory_budget_mb = 1;
  const Shard small_budget =
      ReadShard(world_, config.output_path, layout_, ShardLabels::kRead, 0, budget);
  ASSERT_TRUE(small_budget.is_streamed());
  // Two buffers fit the budget: 1024 rows of 64 floats, labels and weights, twice.
  EXPECT_EQ(small_budget.stream->chunk_rows(), kBlockRows);
  // By default a thread reads ahead where the rank may run on two CPUs.
  EXPECT_EQ(small_budget.stream->read_ahead(), CpusOfThisProcess() >= 2);
  for (const ReadAhead read_ahead : {ReadAhead::kOn, ReadAhead::kOff}) {
    budget.read_ahead = read_ahead;
    EXPECT_EQ(ReadShard(world_, config.output_path, layout_, ShardLabels::kRead, 0, budget)
                  .stream->read_ahead(),
              read_ahead == ReadAhead::kOn);
  }
  // A chunk size of one's own must fit the budget too.
  budget.chunk_rows = 4 * kBlockRows;
  const auto read = [&] {
    ReadShard(world_, config.output_path, layout_, ShardLabels::kRead, 0, budget);
  };
  shardmax::testing::ExpectAgreedError(world_, read,
                                       "--stream-chunk-rows 4096: two chunks of data file");
  budget.chunk_rows = 0;
  budget.memory_budget_mb = 100;
  EXPECT_FALSE(
      ReadShard(world_, config.output_path, layout_, ShardLabels::kRead, 0, budget).is_streamed());
}

TEST_F(ShardStreamTest, WholePassesReadInPlaceTakeLargerChunks) {
  SyntheticConfig config = shardmax::testing::SmallSynthetic(directory_ + "/passes.h5", 18000,
                                                             64, kClasses);
  RunAndAgree(world_, [&] {
    if (world_.is_root()) WriteSyntheticDataset(config);
  });
  const auto chunk_rows = [&](const StreamConfig& streaming) {
    return ReadShard(world_, config.output_path, layout_, ShardLabels::kRead, 0, streaming)
        .stream->chunk_rows();
  };
  StreamConfig streaming;
  streaming.force = true;
  // Mini-batches: two chunks in 4 MiB, 7168 rows of 64 floats, a label and a weight.
  const std::int64_t batched = chunk_rows(streaming);
  EXPECT_EQ(batched, 7 * kBlockRows);
  // Whole passes over rows read in place: in 16 MiB.
  EXPECT_EQ(chunk_rows(ForWholePasses(streaming)), 29 * kBlockRows);
  // Copied through HDF5, or sized by the user or by a smaller budget: as before.
  StreamConfig copied = ForWholePasses(streaming);
  copied.map_rows = false;
  EXPECT_EQ(chunk_rows(copied), batched);
  StreamConfig given = ForWholePasses(streaming);
  given.chunk_rows = 2 * kBlockRows;
  EXPECT_EQ(chunk_rows(given), 2 * kBlockRows);
  StreamConfig budget = ForWholePasses(streaming);
  budget.memory_budget_mb = 1;
  EXPECT_EQ(chunk_rows(budget), kBlockRows);
}

// Overwrites one value of `dataset` at `row` (in place, the file's shape unchanged).
void Damage(const std::string& path, const std::string& dataset, std::int64_t row,
            double value) {
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  h5::Handle data = h5::OpenDataset(file, dataset, path);
  const std::vector<hsize_t> dims = h5::DatasetDims(data, path);
  const std::int64_t columns = dims.size() == 2 ? static_cast<std::int64_t>(dims[1]) : 1;
  std::vector<double> values(static_cast<std::size_t>(columns));
  h5::ReadRows(data, row, 1, H5T_NATIVE_DOUBLE, values.data(), path);
  values[static_cast<std::size_t>(columns - 1)] = value;
  h5::WriteRows(data, row, 1, H5T_NATIVE_DOUBLE, values.data(), path);
}

TEST_F(ShardStreamTest, BadRowInALateChunkStopsEveryRankWithTheReadersMessage) {
  const std::int64_t bad_row = kRows - 3;  // the last rank's last chunk
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = RandomModel();
  for (const auto& damage : {std::pair<std::string, double>{"features", std::nan("")},
                             {"labels", -4.0}}) {
    const std::string& dataset = damage.first;  // named, not bound: lambdas capture it below
    const double value = damage.second;
    const SyntheticConfig data = WriteSynthetic("bad-" + dataset + ".h5", FeatureType::kFloat32);
    RunAndAgree(world_, [&] {
      if (world_.is_root()) Damage(data.output_path, dataset, bad_row, value);
    });
    // The in-memory reader's message, which the stream must repeat.
    std::string expected;
    try {
      ReadShard(world_, data.output_path, layout_);
    } catch (const AgreedError& error) {
      expected = error.what();
    }
    ASSERT_NE(expected.find(StrCat("row ", bad_row)), std::string::npos) << expected;
    // Opening reads no rows; the first pass meets the bad row, read ahead or in turn, the
    // features read in place or copied.
    for (const bool map_rows : {true, false}) {
      for (const ReadAhead read_ahead : {ReadAhead::kOn, ReadAhead::kOff}) {
        const Shard streamed = ReadShard(world_, data.output_path, layout_, ShardLabels::kRead,
                                         0, Streamed(kChunkRows, read_ahead, map_rows));
        shardmax::testing::ExpectAgreedError(
            world_, [&] { ComputeShardedObjective(world_, loss, model, streamed, 0.0); },
            expected);
        shardmax::testing::ExpectAgreedError(
            world_, [&] { EvaluateSharded(world_, loss, model, streamed, 0.0); }, expected);
      }
    }
  }
}

TEST_F(ShardStreamTest, SparseFilesAreNotStreamed) {
  const std::string path = directory_ + "/sparse.h5";
  Matrix features = Matrix::Zero(64, 8);
  for (Eigen::Index i = 0; i < 64; ++i) features(i, i % 8) = 1.0;
  RunAndAgree(world_, [&] {
    if (world_.is_root()) {
      shardmax::testing::WriteCsrFile(path, shardmax::testing::ToCsr(features),
                                      std::vector<long long>(64, 1));
    }
  });
  shardmax::testing::ExpectAgreedError(
      world_, [&] { ReadShard(world_, path, layout_, ShardLabels::kRead, 0, Streamed()); },
      "sparse features are read whole");
}

}  // namespace
}  // namespace shardmax
