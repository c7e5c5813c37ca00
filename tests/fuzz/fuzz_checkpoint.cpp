// Checkpoint loading (ReadCheckpoint, as --resume does) from arbitrary bytes: a damaged or
// foreign file must be refused by name. The checksum header is checked before HDF5 reads a
// byte, so HDF5 never parses these bytes unless they carry a correct CRC-32 of themselves.
// (Forging that header in front of fuzzed bytes reaches HDF5 1.10's own parser, which reads
// out of bounds on crafted files: the reason the header is checked first. See README.md.)
#include <cstdint>

#include "common/error.hpp"
#include "io/checkpoint.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  shardmax::fuzz::InitializeMpi();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = shardmax::fuzz::WriteInput("ckpt-000000003.h5", data, size);
  try {
    shardmax::ReadCheckpoint(path);
  } catch (const shardmax::UserError&) {
  }
  return 0;
}
