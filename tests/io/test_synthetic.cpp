#include <gtest/gtest.h>

#include <cmath>

#include "io/dataset_reader.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

TEST(Synthetic, FileDependsOnlyOnTheSeedNotTheChunkSize) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  const Communicator comm(MPI_COMM_SELF);
  SyntheticConfig config = shardmax::testing::SmallSynthetic(directory + "/a.h5", 2000, 6, 5);
  config.chunk_rows = 300;
  WriteSyntheticDataset(config);
  config.output_path = directory + "/b.h5";
  config.chunk_rows = 2000;
  WriteSyntheticDataset(config);
  const Shard a = ReadShard(comm, directory + "/a.h5", {});
  const Shard b = ReadShard(comm, directory + "/b.h5", {});
  EXPECT_EQ(a.features, b.features);
  EXPECT_EQ(a.labels, b.labels);

  config.seed += 1;
  config.output_path = directory + "/c.h5";
  WriteSyntheticDataset(config);
  EXPECT_NE(ReadShard(comm, directory + "/c.h5", {}).features, a.features);
}

TEST(Synthetic, AllClassesAppearAndValidationRowsDiffer) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  const Communicator comm(MPI_COMM_SELF);
  SyntheticConfig config = shardmax::testing::SmallSynthetic(directory + "/t.h5", 1000, 4, 7);
  config.validation_output_path = directory + "/v.h5";
  config.validation_rows = 1000;
  WriteSyntheticDataset(config);
  const Shard train = ReadShard(comm, config.output_path, {});
  const Shard validation = ReadShard(comm, config.validation_output_path, {});
  EXPECT_EQ(CountClasses(comm, train), 7);
  EXPECT_EQ(validation.total_rows, 1000);
  EXPECT_NE(train.features, validation.features);
}

TEST(Synthetic, MultiLabelRowsCarryTheMeansOfTheirLabels) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  const Communicator comm(MPI_COMM_SELF);
  SyntheticConfig config = shardmax::testing::SmallSynthetic(directory + "/m.h5", 4000, 30, 5, 4.0);
  config.multi_label = true;
  WriteSyntheticDataset(config);
  const Shard shard = ReadShard(comm, config.output_path, {});
  ASSERT_TRUE(shard.is_multi_label());
  ASSERT_EQ(shard.targets.cols(), 5);
  // Each label is on in about half the rows, and the rows with it differ from the rows
  // without it by its mean mu_k, of norm 4 sqrt 2 (the other labels are independent of it).
  for (Eigen::Index k = 0; k < 5; ++k) {
    Eigen::RowVectorXd with = Eigen::RowVectorXd::Zero(30);
    Eigen::RowVectorXd without = Eigen::RowVectorXd::Zero(30);
    double on = 0.0;
    for (Eigen::Index i = 0; i < 4000; ++i) {
      const bool has_label = shard.targets(i, k) != 0;
      (has_label ? with : without) += shard.features.row(i).cast<double>();
      on += has_label ? 1.0 : 0.0;
    }
    EXPECT_NEAR(on / 4000.0, 0.5, 0.04) << "label " << k;
    const double shift = (with / on - without / (4000.0 - on)).norm();
    EXPECT_NEAR(shift, 4.0 * std::sqrt(2.0), 0.6) << "label " << k;
  }
  Matrix features(4000, 30);
  TargetMatrix generated(4000, 5);
  GenerateMultiLabelRows(config, 0, 0, features, generated);
  EXPECT_EQ(generated, shard.targets);
  EXPECT_EQ(features.cast<float>(), shard.features);
}

}  // namespace
}  // namespace shardmax
