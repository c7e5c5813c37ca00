// Run under mpiexec with 1, 2 and 4 ranks: distributed evaluation equals single-rank evaluation
// (counts exactly), and predict writes the same output whatever the rank count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "io/dataset_reader.hpp"
#include "io/hdf5_file.hpp"
#include "io/model_file.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"
#include "trainer/evaluate_command.hpp"
#include "trainer/predict_command.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {
namespace {

// Not divisible by 2, 3 or 4, and more than one block (kBlockRows) per rank boundary.
constexpr std::int64_t kRows = 2503;
constexpr std::int64_t kFeatures = 6;
constexpr std::int64_t kClasses = 7;

std::string ReadBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

template <typename Value>
std::vector<Value> ReadWhole(const std::string& path, const std::string& name, hid_t memory_type,
                             std::int64_t columns) {
  h5::Handle file = h5::OpenFileForReading(path);
  h5::Handle dataset = h5::OpenDataset(file, name, path);
  std::vector<Value> values(static_cast<std::size_t>(kRows * columns));
  h5::ReadRows(dataset, 0, kRows, memory_type, values.data(), path);
  return values;
}

template <typename Value>
bool SameBytes(const std::vector<Value>& a, const std::vector<Value>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Value)) == 0;
}

class EvaluatePredictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_path_ = directory_ + "/data.h5";
    unlabelled_path_ = directory_ + "/unlabelled.h5";
    model_path_ = directory_ + "/model.h5";
    SyntheticConfig data = shardmax::testing::SmallSynthetic(data_path_, kRows, kFeatures,
                                                             kClasses, 0.7);
    RunAndAgree(world_, [&] {
      if (!world_.is_root()) return;
      WriteSyntheticDataset(data);
      WriteUnlabelledCopy(data);
      WriteModelFile(model_path_, RandomModel());
    });
  }

  // A random model (it gets many rows wrong), with class information so predicted_label is written.
  static ModelFile RandomModel() {
    SplitMix64 generator(99);
    ModelFile model;
    model.model = SoftmaxModel::Zeros(kClasses, kFeatures);
    for (Eigen::Index i = 0; i < model.model.weights.size(); ++i) {
      model.model.weights.data()[i] = generator.Normal();
    }
    for (Eigen::Index k = 0; k < kClasses; ++k) model.model.bias(k) = 0.3 * generator.Normal();
    model.weight_decay = 0.01;
    model.feature_type = "float32";
    model.classes.label_values = {10, 20, 30, 40, 50, 60, 70};
    model.classes.class_names = {"a", "b", "c", "d", "e", "f", "g"};
    return model;
  }

  // The same features without a labels dataset: data to predict.
  void WriteUnlabelledCopy(const SyntheticConfig& data) const {
    Matrix features(kRows, kFeatures);
    std::vector<Label> labels(kRows);
    GenerateSyntheticRows(data, 0, 0, features, labels);
    h5::Handle file = h5::CreateFile(unlabelled_path_);
    h5::Handle dataset = h5::CreateDataset(file, "features", H5T_IEEE_F32LE, kRows, kFeatures, 0);
    h5::WriteRows(dataset, 0, kRows, H5T_NATIVE_DOUBLE, features.data(), unlabelled_path_);
  }

  // Runs `work` on a communicator of the first `ranks` ranks while the others wait.
  template <typename Work>
  void OnFirstRanks(int ranks, Work work) {
    if (ranks == world_.size()) {
      work(world_);
      return;
    }
    MPI_Comm subset = MPI_COMM_NULL;
    CheckMpi(MPI_Comm_split(world_.get(), world_.rank() < ranks ? 0 : MPI_UNDEFINED,
                            world_.rank(), &subset),
             "MPI_Comm_split");
    if (subset != MPI_COMM_NULL) {
      const Communicator comm(subset);
      MPI_Comm_free(&subset);
      work(comm);
    }
    CheckMpi(MPI_Barrier(world_.get()), "MPI_Barrier");
  }

  // Rank counts to compare: 1, 2 and the world's, as far as the world has them.
  std::vector<int> RankCounts() const {
    std::vector<int> counts{1};
    if (world_.size() >= 2) counts.push_back(2);
    if (world_.size() > 2) counts.push_back(world_.size());
    return counts;
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_ = shardmax::testing::MakeScratchDirectory(world_);
  std::string data_path_;
  std::string unlabelled_path_;
  std::string model_path_;
};

TEST_F(EvaluatePredictTest, DistributedEvaluationEqualsSingleRankEvaluation) {
  const ModelFile model = ReadModelFile(model_path_);
  const SoftmaxCrossEntropy loss;
  const Shard shard = ReadShard(world_, data_path_, {});
  const Evaluation distributed =
      EvaluateShardedInDetail(world_, loss, model.model, shard, model.weight_decay, 3);

  const Communicator alone(MPI_COMM_SELF);
  const Shard everything = ReadShard(alone, data_path_, {});
  const Evaluation single =
      EvaluateShardedInDetail(alone, loss, model.model, everything, model.weight_decay, 3);

  // Counts are integers, summed exactly: equal, not close.
  EXPECT_EQ(distributed.confusion, single.confusion);
  EXPECT_EQ(distributed.top_k_hits, single.top_k_hits);
  EXPECT_EQ(distributed.metrics.rows, kRows);
  EXPECT_EQ(distributed.metrics.accuracy, single.metrics.accuracy);
  const ClassificationReport a = ComputeClassificationReport(distributed.confusion);
  const ClassificationReport b = ComputeClassificationReport(single.confusion);
  EXPECT_EQ(a.macro.f1, b.macro.f1);
  EXPECT_EQ(a.weighted.precision, b.weighted.precision);
  // A random model: some rows right, many wrong, so every count is non-trivial.
  EXPECT_GT(a.correct, 0);
  EXPECT_LT(a.accuracy, 0.95);
  EXPECT_LT(a.correct, distributed.top_k_hits);
  // Each row's loss is the same bits on any rank count, but the sum is associated differently
  // (per rank, a shard boundary splits a block, MPI adds the partial sums), so it may differ
  // in the last bits: relative 1e-12 is ~1e4 roundings of slack for 2503 terms.
  EXPECT_NEAR(distributed.loss_sum, single.loss_sum, 1e-12 * std::abs(single.loss_sum));
  EXPECT_NEAR(distributed.metrics.objective - distributed.metrics.loss,
              0.5 * 0.01 * model.model.weights.squaredNorm(), 1e-15);
}

TEST_F(EvaluatePredictTest, EvaluateCommandWritesTheSameJsonOnEveryRankCount) {
  std::vector<std::string> documents;
  for (const int ranks : RankCounts()) {
    const std::string json = StrCat(directory_, "/eval-", ranks, ".json");
    OnFirstRanks(ranks, [&](const Communicator& comm) {
      EXPECT_EQ(RunEvaluate(comm, {"--model", model_path_, "--data", data_path_, "--json", json}),
                0);
    });
    documents.push_back(ReadBytes(json));
  }
  if (!world_.is_root()) return;
  // Drop the two lines whose values come from the loss sum (see the test above).
  const auto without_loss = [](const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    std::string kept;
    while (std::getline(lines, line)) {
      if (line.find("\"loss\":") == std::string::npos &&
          line.find("\"objective\":") == std::string::npos) {
        kept += line + "\n";
      }
    }
    return kept;
  };
  ASSERT_NE(documents[0].find("\"confusion_matrix\""), std::string::npos);
  ASSERT_NE(documents[0].find("\"top_k\": 5"), std::string::npos);  // K = 7 > 5
  ASSERT_NE(documents[0].find("\"name\": \"a\", \"label_value\": 10"), std::string::npos);
  for (std::size_t i = 1; i < documents.size(); ++i) {
    EXPECT_EQ(without_loss(documents[i]), without_loss(documents[0]));
  }
}

TEST_F(EvaluatePredictTest, PredictWritesIdenticalOutputOnEveryRankCount) {
  for (const std::string format : {"hdf5", "csv"}) {
    std::vector<std::string> outputs;
    for (const int ranks : RankCounts()) {
      outputs.push_back(StrCat(directory_, "/pred-", ranks, ".", format));
      OnFirstRanks(ranks, [&](const Communicator& comm) {
        EXPECT_EQ(RunPredict(comm, {"--model", model_path_, "--data", unlabelled_path_, "--output",
                                    outputs.back(), "--format", format, "--probabilities"}),
                  0);
      });
    }
    if (!world_.is_root()) continue;
    for (const std::string& output : outputs) {
      EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(output).parent_path() /
                                           ("." + std::filesystem::path(output).filename().string() + ".tmp")));
    }
    if (format == "csv") {
      const std::string reference = ReadBytes(outputs[0]);
      for (const std::string& output : outputs) EXPECT_EQ(ReadBytes(output), reference) << output;
      std::istringstream lines(reference);
      std::string line;
      std::getline(lines, line);
      EXPECT_EQ(line, "row,predicted,predicted_label,p_0,p_1,p_2,p_3,p_4,p_5,p_6");
      std::int64_t row = 0;
      while (std::getline(lines, line)) {
        ASSERT_EQ(line.substr(0, line.find(',')), std::to_string(row)) << "rows out of order";
        ++row;
      }
      EXPECT_EQ(row, kRows);
      continue;
    }
    const auto predicted = ReadWhole<std::int32_t>(outputs[0], "predicted", H5T_NATIVE_INT32, 1);
    const auto labels = ReadWhole<std::int64_t>(outputs[0], "predicted_label", H5T_NATIVE_INT64, 1);
    const auto probabilities =
        ReadWhole<double>(outputs[0], "probabilities", H5T_NATIVE_DOUBLE, kClasses);
    for (const std::string& output : outputs) {
      SCOPED_TRACE(output);
      EXPECT_TRUE(SameBytes(ReadWhole<std::int32_t>(output, "predicted", H5T_NATIVE_INT32, 1), predicted));
      EXPECT_TRUE(SameBytes(ReadWhole<std::int64_t>(output, "predicted_label", H5T_NATIVE_INT64, 1), labels));
      EXPECT_TRUE(SameBytes(ReadWhole<double>(output, "probabilities", H5T_NATIVE_DOUBLE, kClasses),
                            probabilities));
    }
    // Against a plain reference: logits of the whole file at once, argmax and softmax.
    const ModelFile model = ReadModelFile(model_path_);
    const Shard everything = ReadShard(Communicator(MPI_COMM_SELF), data_path_, {});
    const Matrix logits = ComputeLogits(model.model, everything.Block(0, kRows));
    for (Eigen::Index i = 0; i < kRows; ++i) {
      Eigen::Index best = 0;
      logits.row(i).maxCoeff(&best);
      ASSERT_EQ(predicted[static_cast<std::size_t>(i)], best) << "row " << i;
      ASSERT_EQ(labels[static_cast<std::size_t>(i)], 10 * (best + 1)) << "row " << i;
      const Eigen::RowVectorXd p = (logits.row(i).array() - logits(i, best)).exp().matrix();
      for (Eigen::Index k = 0; k < kClasses; ++k) {
        ASSERT_NEAR(probabilities[static_cast<std::size_t>(i * kClasses + k)], p(k) / p.sum(), 1e-14);
      }
    }
  }
}

TEST_F(EvaluatePredictTest, PredictRefusesAnExistingOutputUnlessOverwriteIsGiven) {
  const std::string output = directory_ + "/exists.csv";
  RunAndAgree(world_, [&] {
    if (world_.is_root()) std::ofstream(output) << "keep me\n";
  });
  std::string message;
  try {
    RunPredict(world_, {"--model", model_path_, "--data", data_path_, "--output", output});
  } catch (const AgreedError& error) {
    message = error.what();
  }
  EXPECT_NE(message.find("output file '" + output + "' (--output) already exists"),
            std::string::npos)
      << message;
  EXPECT_EQ(ReadBytes(output), "keep me\n");
  RunAndAgree(world_, [] {});  // everyone has read the file before it is replaced

  EXPECT_EQ(RunPredict(world_, {"--model", model_path_, "--data", data_path_, "--output", output,
                                "--overwrite"}),
            0);
  const std::string replaced = ReadBytes(output);
  EXPECT_EQ(replaced.substr(0, replaced.find('\n')), "row,predicted,predicted_label");
}

TEST_F(EvaluatePredictTest, ShardsReadWithoutLabelsNeedNoLabelsDataset) {
  const Shard shard = ReadShard(world_, unlabelled_path_, {}, ShardLabels::kSkip);
  EXPECT_FALSE(shard.has_labels());
  EXPECT_EQ(shard.feature_count, kFeatures);
  EXPECT_EQ(AllreduceSum(world_, shard.rows.size()), kRows);
  shard.ForEachBlock([](const RowBlock& block) { EXPECT_TRUE(block.labels.empty()); });

  std::string message;
  try {
    ReadShard(world_, unlabelled_path_, {});
  } catch (const AgreedError& error) {
    message = error.what();
  }
  EXPECT_NE(message.find("no dataset 'labels'"), std::string::npos) << message;
}

}  // namespace
}  // namespace shardmax
