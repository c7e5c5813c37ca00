// The config-file reader (`shardmax train --config FILE`) on arbitrary bytes, through the same
// parse and checks as the command line.
#include <cstdint>

#include "common/error.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "trainer/options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = shardmax::fuzz::WriteInput("run.ini", data, size);
  try {
    shardmax::ParseCommandLine({"train", "--config", path});
  } catch (const shardmax::UsageError&) {
  }
  return 0;
}
