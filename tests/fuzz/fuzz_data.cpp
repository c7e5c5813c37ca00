// Data-file loading (ReadShard, as train, evaluate and predict do) from arbitrary bytes, on
// MPI_COMM_SELF: the HDF5 reader, shape and type checks and the NaN/label scans, dense and
// sparse (CSR; a sparse seed is in corpus/sparse/, for runs by hand). Rows that pass are
// scored, so a sparse column the checks let through that indexes outside the weights would
// show up here.
#include <cstdint>
#include <optional>

#include "common/error.hpp"
#include "common/mpi_layer.hpp"
#include "common/scoring.hpp"
#include "io/dataset_reader.hpp"
#include "tests/fuzz/fuzz_support.hpp"

// Wider files are only read: a model of their width would take too much memory.
constexpr std::int64_t kMaxScoredFeatures = 4096;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  shardmax::fuzz::InitializeMpi();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const shardmax::Communicator self(MPI_COMM_SELF);
  const std::string path = shardmax::fuzz::WriteInput("data.h5", data, size);
  try {
    const shardmax::Shard shard = shardmax::ReadShard(self, path, shardmax::DatasetLayout{});
    shardmax::CheckLabelsBelow(self, shard, shardmax::DatasetLayout{}, 1000);
    if (shard.feature_count <= kMaxScoredFeatures) {
      const auto model = shardmax::SoftmaxModel::Zeros(2, shard.feature_count);
      shardmax::BlockScores scores;
      shard.ForEachBlock([&](const shardmax::RowBlock& block) {
        shardmax::ScoreBlock(model, block, shardmax::ScoringRequest{}, &scores);
      });
    }
  } catch (const shardmax::UserError&) {
  }
  return 0;
}
