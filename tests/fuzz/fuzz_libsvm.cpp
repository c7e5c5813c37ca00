// LIBSVM conversion (`shardmax convert --format libsvm`) of arbitrary bytes.
#include <cstdint>

#include "common/error.hpp"
#include "io/text_formats.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  shardmax::LibsvmInput input;
  input.path = shardmax::fuzz::WriteInput("input.svm", data, size);
  shardmax::ConvertOutput output;
  output.path = shardmax::fuzz::ScratchDirectory() + "/out.h5";
  output.overwrite = true;
  try {
    shardmax::ConvertLibsvm(input, output);
  } catch (const shardmax::UserError&) {
  }
  return 0;
}
