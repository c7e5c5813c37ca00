// Data-file loading (ReadShard, as train, evaluate and predict do) from arbitrary bytes, on
// MPI_COMM_SELF: the HDF5 reader, shape and type checks and the NaN/label scans.
#include <cstdint>
#include <optional>

#include "common/error.hpp"
#include "common/mpi_layer.hpp"
#include "io/dataset_reader.hpp"
#include "tests/fuzz/fuzz_support.hpp"

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
  } catch (const shardmax::UserError&) {
  }
  return 0;
}
