#include <gtest/gtest.h>

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

}  // namespace
}  // namespace shardmax
