// IDX conversion (`shardmax convert --format idx`) of arbitrary bytes. The first byte chooses
// where the rest is split into the images file and the labels file.
#include <cstdint>

#include "common/error.hpp"
#include "io/idx_reader.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t split = 1 + data[0] * (size - 1) / 255;
  shardmax::IdxInput input;
  input.images_path = shardmax::fuzz::WriteInput("images.idx", data + 1, split - 1);
  input.labels_path = shardmax::fuzz::WriteInput("labels.idx", data + split, size - split);
  shardmax::ConvertOutput output;
  output.path = shardmax::fuzz::ScratchDirectory() + "/out.h5";
  output.overwrite = true;
  try {
    shardmax::ConvertIdx(input, output);
  } catch (const shardmax::UserError&) {
    // A clear refusal is the right answer to bad bytes; anything else escapes and is a finding.
  }
  return 0;
}
