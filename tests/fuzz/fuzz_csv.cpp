// CSV conversion (`shardmax convert --format csv`) of arbitrary bytes. The first byte chooses
// the options: bit 0 a header line, bit 1 ';' as the delimiter, bit 2 the label column by
// name ("label", with a header) instead of column 0.
#include <cstdint>

#include "common/error.hpp"
#include "io/text_formats.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  shardmax::CsvInput input;
  input.has_header = (data[0] & 1) != 0;
  input.delimiter = (data[0] & 2) != 0 ? ';' : ',';
  if (input.has_header && (data[0] & 4) != 0) input.label_column = "label";
  input.path = shardmax::fuzz::WriteInput("input.csv", data + 1, size - 1);
  shardmax::ConvertOutput output;
  output.path = shardmax::fuzz::ScratchDirectory() + "/out.h5";
  output.overwrite = true;
  try {
    shardmax::ConvertCsv(input, output);
  } catch (const shardmax::UserError&) {
  }
  return 0;
}
