// Run under mpiexec with 1, 2 and 4 ranks: the same data stored dense and sparse (CSR) gives
// the same objective, gradient, trained weights, evaluation and predictions; damaged sparse
// files stop every rank with the same message naming the row.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "io/dataset_reader.hpp"
#include "io/hdf5_file.hpp"
#include "tests/test_support.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

using shardmax::testing::CsrParts;

constexpr std::int64_t kRows = 900;
constexpr std::int64_t kFeatures = 60;
constexpr std::int64_t kClasses = 4;
constexpr std::int64_t kLabels = 3;  // multi-label columns

// max |a - b| over the entries, relative to max |a|.
double RelativeDifference(const Matrix& a, const Matrix& b) {
  return (a - b).cwiseAbs().maxCoeff() / std::max(a.cwiseAbs().maxCoeff(), 1e-300);
}

// About one feature in four is non-zero; the class (or each label) shifts its own columns.
struct GeneratedData {
  Matrix features = Matrix::Zero(kRows, kFeatures);
  std::vector<long long> labels;
  TargetMatrix targets = TargetMatrix::Zero(kRows, kLabels);
  std::vector<double> weights;
};

GeneratedData Generate(bool multi_label) {
  GeneratedData data;
  for (std::int64_t i = 0; i < kRows; ++i) {
    SplitMix64 generator =
        SplitMix64::ForStream(17, multi_label ? 2 : 1, static_cast<std::uint64_t>(i));
    const auto label = static_cast<long long>(generator.Below(kClasses));
    data.labels.push_back(label);
    for (std::int64_t k = 0; k < kLabels; ++k) data.targets(i, k) = generator.Below(2) == 1 ? 1 : 0;
    data.weights.push_back(0.5 + generator.UniformOpen());
    for (std::int64_t j = 0; j < kFeatures; ++j) {
      if (generator.Below(4) != 0) continue;
      double shift = 0.0;
      if (multi_label) {
        if (data.targets(i, j % kLabels) != 0) shift = 1.5;
      } else if (j % kClasses == label) {
        shift = 1.5;
      }
      data.features(i, j) = generator.Normal() + shift;
    }
  }
  return data;
}

class SparseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = shardmax::testing::MakeScratchDirectory(world_);
    single_ = Generate(false);
    multi_ = Generate(true);
    RunAndAgree(world_, [&] {
      if (!world_.is_root()) return;
      shardmax::testing::WriteDataFile(Path("dense.h5"), single_.features, single_.labels,
                                       H5T_IEEE_F32LE, single_.weights);
      shardmax::testing::WriteCsrFile(Path("sparse.h5"), shardmax::testing::ToCsr(single_.features),
                                      single_.labels, {}, single_.weights);
      WriteDenseMultiLabel(Path("ml-dense.h5"), multi_);
      const shardmax::testing::CsrParts multi_parts = shardmax::testing::ToCsr(multi_.features);
      shardmax::testing::WriteCsrFile(Path("ml-sparse.h5"), multi_parts, {}, multi_.targets);
    });
  }

  std::string Path(const std::string& name) const { return directory_ + "/" + name; }

  static void WriteDenseMultiLabel(const std::string& path, const GeneratedData& data) {
    h5::Handle file = h5::CreateFile(path);
    h5::Handle features = h5::CreateDataset(file, "features", H5T_IEEE_F32LE, kRows, kFeatures, 0);
    h5::WriteRows(features, 0, kRows, H5T_NATIVE_DOUBLE, data.features.data(), path);
    h5::Handle labels = h5::CreateDataset(file, "labels", H5T_STD_U8LE, kRows, kLabels, 0);
    h5::WriteRows(labels, 0, kRows, H5T_NATIVE_UINT8, data.targets.data(), path);
  }

  // A model with weights in every entry, so every gradient entry is exercised.
  static SoftmaxModel SomeModel(std::int64_t classes) {
    SoftmaxModel model = SoftmaxModel::Zeros(classes, kFeatures);
    SplitMix64 generator(3);
    for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
      model.weights.data()[i] = 0.3 * generator.Normal();
    }
    for (Eigen::Index k = 0; k < classes; ++k) model.bias(k) = 0.1 * generator.Normal();
    return model;
  }

  TrainConfig BaseConfig(const std::string& train, const std::string& checkpoints) const {
    TrainConfig config = testing::SmallTrainConfig(train, Path(checkpoints));
    config.optimizer.learning_rate = 0.1;
    config.seed = 9;
    config.progress_seconds = 0;
    return config;
  }

  template <typename Work>
  void ExpectAgreedError(Work work, const std::string& part) {
    testing::ExpectAgreedError(world_, work, part);
  }

  Communicator world_{MPI_COMM_WORLD};
  std::string directory_;
  GeneratedData single_;
  GeneratedData multi_;
};

TEST_F(SparseTest, EachRankReadsItsRowsOfTheSparseFileExactly) {
  const Shard dense = ReadShard(world_, Path("dense.h5"), {});
  const Shard sparse = ReadShard(world_, Path("sparse.h5"), {});
  ASSERT_TRUE(sparse.is_sparse);
  EXPECT_FALSE(dense.is_sparse);
  EXPECT_EQ(sparse.total_rows, kRows);
  EXPECT_EQ(sparse.feature_count, kFeatures);
  EXPECT_EQ(sparse.rows.begin, dense.rows.begin);
  EXPECT_EQ(sparse.rows.end, dense.rows.end);
  EXPECT_EQ(sparse.labels, dense.labels);
  ASSERT_EQ(sparse.sparse.rows(), sparse.rows.size());
  // Rebuilt dense, the sparse rows are the dense rows bit for bit.
  FeatureMatrix rebuilt = FeatureMatrix::Zero(sparse.rows.size(), kFeatures);
  const SparseRows view = sparse.sparse.View();
  for (std::int64_t i = 0; i < view.rows(); ++i) {
    for (std::int64_t e = view.RowBegin(i); e < view.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      rebuilt(i, view.columns[at]) = view.values[at];
    }
  }
  EXPECT_TRUE(rebuilt == dense.features);
  // Each rank holds only its rows' entries.
  const double local = static_cast<double>(sparse.sparse.nonzeros());
  std::vector<double> total{local};
  AllreduceSum(world_, total);
  EXPECT_EQ(static_cast<std::int64_t>(total[0]),
            static_cast<std::int64_t>(shardmax::testing::ToCsr(single_.features).data.size()));
}

TEST_F(SparseTest, ObjectiveAndGradientAgreeWithDenseForEveryLoss) {
  DatasetLayout weighted;
  weighted.sample_weights = "weights";
  for (const std::string name : {"softmax", "squared", "hinge", "sigmoid"}) {
    const std::unique_ptr<Loss> loss = MakeLoss(name);
    const bool multi = loss->is_multi_label();
    const DatasetLayout layout = multi ? DatasetLayout{} : weighted;
    const Shard dense = ReadShard(world_, Path(multi ? "ml-dense.h5" : "dense.h5"), layout);
    const Shard sparse = ReadShard(world_, Path(multi ? "ml-sparse.h5" : "sparse.h5"), layout);
    const SoftmaxModel model = SomeModel(multi ? kLabels : kClasses);
    const Objective a = ComputeShardedObjective(world_, *loss, model, dense, 1e-2);
    const Objective b = ComputeShardedObjective(world_, *loss, model, sparse, 1e-2);
    // The same float32 values summed in another order: far inside the promised 1e-6.
    EXPECT_NEAR(b.value, a.value, 1e-12 * std::abs(a.value)) << name;
    EXPECT_LE(RelativeDifference(a.grad_weights, b.grad_weights), 1e-10) << name;
    EXPECT_LE(RelativeDifference(Matrix(a.grad_bias), Matrix(b.grad_bias)), 1e-10) << name;
    EXPECT_GT(a.grad_weights.cwiseAbs().minCoeff(), 0.0) << name << ": every column touched";
  }
}

// The full pass through W^T (SparsePass) adds exactly what block-by-block accumulation adds.
TEST_F(SparseTest, TransposedFullPassEqualsBlockByBlockBitwise) {
  DatasetLayout weighted;
  weighted.sample_weights = "weights";
  const Shard sparse = ReadShard(world_, Path("sparse.h5"), weighted);
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = SomeModel(kClasses);
  const Objective pass = ComputeShardedObjective(world_, loss, model, sparse, 1e-2);
  GradientSums sums(kClasses, kFeatures);
  sparse.ForEachBlock([&](const RowBlock& block) { AccumulateBlock(loss, model, block, &sums); });
  const Objective blocks = ReduceObjective(world_, &sums, model, 1e-2);
  EXPECT_EQ(pass.value, blocks.value);
  EXPECT_TRUE(pass.grad_weights == blocks.grad_weights);
  EXPECT_TRUE(pass.grad_bias == blocks.grad_bias);
}

TEST_F(SparseTest, EverySolverTrainsTheSameWeightsFromEitherStorage) {
  struct Case {
    const char* name;
    Solver solver;
    const char* loss;
    double momentum;  // 0: the sparse file takes sparse steps with lazy decay
  };
  for (const Case& run : {Case{"sgd", Solver::kSgd, "softmax", 0.9},
                          Case{"sgd-lazy", Solver::kSgd, "softmax", 0.0},
                          Case{"adamw", Solver::kAdamW, "hinge", 0.0},
                          Case{"lbfgs", Solver::kLbfgs, "softmax", 0.0},
                          Case{"sgd-ml", Solver::kSgd, "sigmoid", 0.9},
                          Case{"sgd-ml-lazy", Solver::kSgd, "sigmoid", 0.0}}) {
    const bool multi = std::string(run.loss) == "sigmoid";
    const std::string prefix = multi ? "ml-" : "";
    TrainConfig dense = BaseConfig(Path(prefix + "dense.h5"), std::string(run.name) + "-dense");
    dense.optimizer.solver = run.solver;
    dense.loss = run.loss;
    dense.optimizer.momentum = run.momentum;
    if (!multi) dense.layout.sample_weights = "weights";
    if (run.solver == Solver::kAdamW) dense.optimizer.learning_rate = 0.01;
    dense.optimizer.max_iterations = 30;
    TrainConfig sparse = dense;
    sparse.train_path = Path(prefix + "sparse.h5");
    sparse.checkpoint.directory = Path(std::string(run.name) + "-sparse");
    const TrainResult a = Train(world_, dense);
    const TrainResult b = Train(world_, sparse);
    EXPECT_LE(RelativeDifference(a.model.weights, b.model.weights), 1e-6) << run.name;
    EXPECT_LE(RelativeDifference(Matrix(a.model.bias), Matrix(b.model.bias)), 1e-6) << run.name;
    EXPECT_NEAR(b.train.loss, a.train.loss, 1e-6 * a.train.loss) << run.name;
    EXPECT_EQ(b.train.accuracy, a.train.accuracy) << run.name;
    EXPECT_GT(a.train.accuracy, multi ? 0.3 : 0.6) << run.name << ": it learned something";
  }
}

// Lazy decay keeps the weights as they are in checkpoints: a run stopped mid-epoch (step 20 of
// 15 per epoch) and resumed ends with the bits of one never stopped.
TEST_F(SparseTest, SparseStepsWithLazyDecayResumeBitwise) {
  TrainConfig whole = BaseConfig(Path("sparse.h5"), "lazy-whole");
  whole.optimizer.momentum = 0.0;
  whole.optimizer.weight_decay = 0.05;
  whole.layout.sample_weights = "weights";
  const TrainResult uninterrupted = Train(world_, whole);

  TrainConfig first = whole;
  first.checkpoint.directory = Path("lazy-parts");
  first.max_steps = 20;
  const TrainResult stopped = Train(world_, first);
  ASSERT_TRUE(stopped.stopped_at_max_steps);
  TrainConfig rest = first;
  rest.max_steps = 0;
  rest.checkpoint.resume = "auto";
  const TrainResult resumed = Train(world_, rest);
  EXPECT_TRUE(resumed.model.weights == uninterrupted.model.weights);
  EXPECT_TRUE(resumed.model.bias == uninterrupted.model.bias);
  // The decay made a difference: without it the weights differ.
  TrainConfig undecayed = whole;
  undecayed.checkpoint.directory = Path("lazy-undecayed");
  undecayed.optimizer.weight_decay = 0.0;
  EXPECT_GT(RelativeDifference(Train(world_, undecayed).model.weights,
                               uninterrupted.model.weights),
            1e-3);
}

TEST_F(SparseTest, EvaluationAndPredictionsAgreeWithDense) {
  const SoftmaxCrossEntropy loss;
  const SoftmaxModel model = SomeModel(kClasses);
  const Shard dense = ReadShard(world_, Path("dense.h5"), {});
  const Shard sparse = ReadShard(world_, Path("sparse.h5"), {});
  const Evaluation a = EvaluateShardedInDetail(world_, loss, model, dense, 0.0, 2);
  const Evaluation b = EvaluateShardedInDetail(world_, loss, model, sparse, 0.0, 2);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.top_k_hits, b.top_k_hits);
  EXPECT_NEAR(b.loss_sum, a.loss_sum, 1e-12 * a.loss_sum);

  const ScoringRequest request{nullptr, 0, true};
  BlockScores dense_scores;
  BlockScores sparse_scores;
  ScoreBlock(model, dense.Block(0, dense.rows.size()), request, &dense_scores);
  ScoreBlock(model, sparse.Block(0, sparse.rows.size()), request, &sparse_scores);
  EXPECT_EQ(dense_scores.predicted, sparse_scores.predicted);
  EXPECT_LE(RelativeDifference(dense_scores.probabilities, sparse_scores.probabilities), 1e-12);
}

TEST_F(SparseTest, StandardizingSparseDataIsRefused) {
  TrainConfig config = BaseConfig(Path("sparse.h5"), "standardize");
  config.preparation.standardize = true;
  ExpectAgreedError([&] { Train(world_, config); }, "would make the sparse features");
}

// --memory-budget weighs a sparse shard by its nonzeros, as it is held, not by its dense
// shape; a sparse shard over the budget cannot stream (it is read whole) and says so.
TEST_F(SparseTest, MemoryBudgetWeighsTheNonzeros) {
  StreamConfig budget;
  budget.memory_budget_mb = 1;
  // 2^24 columns: dense, the shard would take GiBs; its nonzeros take about 12 KiB.
  CsrParts wide = shardmax::testing::ToCsr(single_.features);
  wide.features = std::int64_t{1} << 24;
  // 4000 rows of 200 nonzeros: 1.6 MiB on the largest of 4 ranks.
  CsrParts dense_enough;
  dense_enough.rows = 4000;
  dense_enough.features = 400;
  for (std::int64_t row = 0; row < dense_enough.rows; ++row) {
    dense_enough.indptr.push_back(std::ssize(dense_enough.data));
    for (std::int64_t column = row % 2; column < dense_enough.features; column += 2) {
      dense_enough.indices.push_back(column);
      dense_enough.data.push_back(1.0);
    }
  }
  dense_enough.indptr.push_back(std::ssize(dense_enough.data));
  RunAndAgree(world_, [&] {
    if (!world_.is_root()) return;
    shardmax::testing::WriteCsrFile(Path("wide.h5"), wide, single_.labels);
    shardmax::testing::WriteCsrFile(Path("many-nonzeros.h5"), dense_enough,
                                    std::vector<long long>(4000, 1));
  });
  const Shard shard = ReadShard(world_, Path("wide.h5"), {}, ShardLabels::kRead, 0, budget);
  EXPECT_FALSE(shard.is_streamed());
  EXPECT_EQ(shard.feature_count, std::int64_t{1} << 24);
  ExpectAgreedError(
      [&] { ReadShard(world_, Path("many-nonzeros.h5"), {}, ShardLabels::kRead, 0, budget); },
      "over --memory-budget 1): sparse features are read whole");
}

// Each damage sits in the last row, so on several ranks only the last rank finds it.
TEST_F(SparseTest, DamagedSparseFilesStopEveryRankNamingTheRow) {
  const CsrParts good = shardmax::testing::ToCsr(single_.features);
  const std::int64_t last = kRows - 1;
  const std::int64_t first_of_last = good.indptr[static_cast<std::size_t>(last)];
  ASSERT_GE(good.indptr.back() - first_of_last, 2) << "the last row needs two entries";
  struct Damage {
    std::string name;
    std::function<void(CsrParts*)> apply;
    std::string expected;
  };
  const auto at = [](std::int64_t index) { return static_cast<std::size_t>(index); };
  const std::vector<Damage> damages = {
      {"column-beyond-d", [&](CsrParts* p) { p->indices[at(first_of_last + 1)] = kFeatures; },
       StrCat("row ", last, " has column ", kFeatures, ", outside 0..D-1")},
      {"negative-column", [&](CsrParts* p) { p->indices[at(first_of_last)] = -3; },
       StrCat("row ", last, " has column below 0")},
      {"unsorted",
       [&](CsrParts* p) {
         std::swap(p->indices[at(first_of_last)], p->indices[at(first_of_last + 1)]);
       },
       StrCat("row ", last, " has column")},
      {"duplicate",
       [&](CsrParts* p) { p->indices[at(first_of_last + 1)] = p->indices[at(first_of_last)]; },
       "(a duplicate)"},
      {"nan", [&](CsrParts* p) { p->data[at(first_of_last)] = std::nan(""); },
       StrCat("row ", last, ", column")},
      {"indptr-decreasing", [&](CsrParts* p) { p->indptr[at(last)] = p->indptr[at(last - 1)] - 1; },
       StrCat("row ", last - 1, " ends at")},
      {"indptr-short-end", [&](CsrParts* p) { p->indptr.back() -= 1; },
       StrCat("ends at ", good.indptr.back() - 1, ", not at nnz")},
      {"indptr-length", [&](CsrParts* p) { p->indptr.pop_back(); },
       StrCat("has ", kRows, " entries; ", kRows, " rows need ", kRows + 1)},
      {"indices-length", [&](CsrParts* p) { p->indices.pop_back(); }, "values but 'indices' has"},
      {"shape-too-wide", [&](CsrParts* p) { p->features = std::int64_t{1} << 32; },
       "sparse data holds 1 to 2^31 - 1"},
      {"shape-too-many-rows", [&](CsrParts* p) { p->rows = INT64_MAX; },
       StrCat("has ", INT64_MAX, " rows")},
  };
  for (const Damage& damage : damages) {
    const std::string path = Path("damaged-" + damage.name + ".h5");
    RunAndAgree(world_, [&] {
      if (!world_.is_root()) return;
      CsrParts parts = good;
      damage.apply(&parts);
      shardmax::testing::WriteCsrFile(path, parts, single_.labels);
    });
    SCOPED_TRACE(damage.name);
    ExpectAgreedError([&] { ReadShard(world_, path, {}); }, damage.expected);
    ExpectAgreedError([&] { ReadShard(world_, path, {}); }, path);
  }
}

}  // namespace
}  // namespace shardmax
