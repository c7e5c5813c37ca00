// `shardmax convert`: writes an IDX (MNIST), CSV or LIBSVM dataset as a data file in the
// documented HDF5 layout. Rank 0 converts; under mpirun the other ranks wait for the outcome.
#pragma once

#include <string>
#include <vector>

#include "common/mpi_layer.hpp"
#include "io/converted_file.hpp"
#include "io/idx_reader.hpp"
#include "io/text_formats.hpp"

namespace shardmax {

enum class InputFormat { kIdx, kCsv, kLibsvm };

struct ConvertRequest {
  InputFormat format = InputFormat::kIdx;
  IdxInput idx;        // for kIdx
  CsvInput csv;        // for kCsv
  LibsvmInput libsvm;  // for kLibsvm
  ConvertOutput output;
  std::string help_text;  // set (and nothing else) when --help was given
};

// Parses the options after `convert`; throws UsageError naming the option. Options of another
// format than --format are refused rather than ignored.
ConvertRequest ParseConvertCommandLine(const std::vector<std::string>& args);

// Converts on rank 0 and prints what was written; returns the exit status.
int RunConvert(const Communicator& comm, const std::vector<std::string>& args);

}  // namespace shardmax
