// Helpers shared by the tests: scratch directories and small HDF5 data files.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <string>
#include <vector>

#include "common/collective.hpp"
#include "common/config.hpp"
#include "common/error.hpp"
#include "common/mpi_layer.hpp"
#include "common/types.hpp"

namespace shardmax::testing {

// A fresh directory under the system's temp dir; with a communicator, rank 0 makes it
// and every rank gets its name.
std::string MakeScratchDirectory();
std::string MakeScratchDirectory(const Communicator& comm);

// Writes a data file with `features` (stored as `file_type`, e.g. H5T_IEEE_F32LE) and
// `labels` (stored as int64) under the default dataset names, and `sample_weights` (if any)
// as a float64 dataset "weights".
void WriteDataFile(const std::string& path, const Matrix& features,
                   const std::vector<long long>& labels, hid_t file_type,
                   const std::vector<double>& sample_weights = {});

// The parts of a sparse features group (io/sparse_reader.hpp), written as given, valid or not,
// so tests can also make damaged ones.
struct CsrParts {
  std::int64_t rows = 0;
  std::int64_t features = 0;
  std::vector<double> data;
  std::vector<std::int64_t> indices;
  std::vector<std::int64_t> indptr;
  bool has_shape = true;  // false: the `shape` attribute is left out
};
// The non-zeros of `features`, row by row (values rounded to float32 first, as the dense
// float32 file of WriteDataFile stores them, so both files hold the same numbers).
CsrParts ToCsr(const Matrix& features);

// Writes group "features" holding `parts` (data as float32, indices as int32, indptr as int64,
// attribute shape = [rows, features]) and, when given, 1-D int64 `labels`, 2-D uint8 `targets`
// (rows x K) and float64 "weights".
void WriteCsrFile(const std::string& path, const CsrParts& parts,
                  const std::vector<long long>& labels, const TargetMatrix& targets = {},
                  const std::vector<double>& sample_weights = {});

// A block of rows that carries only labels (no features): what a loss needs to score logits
// computed elsewhere.
inline RowBlock LabelsOnly(std::span<const Label> labels) {
  const auto rows = static_cast<Eigen::Index>(labels.size());
  return RowBlock{Eigen::Map<const FeatureMatrix>(nullptr, rows, 0), labels};
}

// The metrics log at `path` without its timing columns: epoch, global_step, train_loss,
// val_loss, val_accuracy, learning_rate of every line, the header's included.
std::string DeterministicMetricsColumns(const std::string& path);

// Small SGD training on `train_path`, checkpointing into `checkpoint_directory`: 3 epochs of
// batch 64, lr 0.2, momentum 0.9, weight decay 1e-3, seed 5.
TrainConfig SmallTrainConfig(const std::string& train_path,
                             const std::string& checkpoint_directory);

// Whether a and b hold the same bits.
bool SameBits(const Matrix& a, const Matrix& b);

// Expects `work` to throw an AgreedError containing `part`, with the same message on every
// rank of `comm`.
template <typename Work>
void ExpectAgreedError(const Communicator& comm, Work work, const std::string& part) {
  std::string message;
  try {
    work();
  } catch (const AgreedError& error) {
    message = error.what();
  }
  EXPECT_NE(message.find(part), std::string::npos) << "message: '" << message << "'";
  std::string root_message = message;
  Broadcast(comm, &root_message, 0);
  EXPECT_EQ(message, root_message) << "ranks disagree on the message";
}

// A small synthetic set: `rows` x `features`, `classes` classes, well separated.
SyntheticConfig SmallSynthetic(const std::string& path, std::int64_t rows, std::int64_t features,
                               std::int64_t classes, double separation = 3.0);

}  // namespace shardmax::testing
