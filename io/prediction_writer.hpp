// Writes the predictions of a sharded run as ONE output file, rows in input order, each rank
// writing its own rows (layouts in README.md, "Prediction output"):
//   hdf5: contiguous datasets `predicted` (N int32; for a multi-label model N x K uint8 0/1
//         decisions), `predicted_label` (N int64, when the model has label values) and
//         `probabilities` (N x K float64, on request), created
//         collectively through MPI-IO; each rank writes its row range with independent
//         transfers, block by block. float64 keeps the probabilities exactly as computed.
//   csv:  `row,predicted[,predicted_label][,p_0..p_{K-1}]`, for a multi-label model
//         `row,predicted_0..predicted_{K-1}[,p_0..p_{K-1}]`; rank 0 writes the header, then the
//         ranks append their rows in rank order, passing a token, each streaming block by
//         block, so memory per rank stays at one block. Reals are written in the shortest
//         form that reads back to the same double.
// Either is written to a hidden temporary file beside the output (`.NAME.tmp`), which rank 0
// fsyncs and renames into place once every rank has finished: the output name never holds
// a partial file.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/mpi_layer.hpp"
#include "common/types.hpp"
#include "io/shard.hpp"

namespace shardmax {

enum class PredictionFormat { kHdf5, kCsv };

inline constexpr std::int64_t kPredictionFormatVersion = 1;

struct PredictionOutput {
  std::string path;
  PredictionFormat format = PredictionFormat::kHdf5;
  bool overwrite = false;
  bool probabilities = false;
  bool multi_label = false;  // K 0/1 decisions per row instead of one class
  std::vector<std::int64_t> label_values;  // one per class: also write `predicted_label`
  std::string model_path;                  // recorded in the HDF5 file's attributes
  std::string data_path;
};

// Consecutive rows to write, from global row `first_row`.
struct PredictionBlock {
  std::int64_t first_row = 0;
  std::span<const Label> predicted;       // one per row (single-label)
  const Matrix* probabilities = nullptr;  // rows x K, when the output has them
  const TargetMatrix* decisions = nullptr;  // rows x K (multi-label)

  std::int64_t rows() const {
    return decisions != nullptr ? decisions->rows() : static_cast<std::int64_t>(predicted.size());
  }
};
using PredictionSink = std::function<void(const PredictionBlock&)>;

// Collective, to be called before any work: an AgreedError on every rank if the output
// exists (without overwrite), is a directory, or its directory is missing.
void CheckPredictionOutput(const Communicator& comm, const PredictionOutput& output);

// Collective. Calls `produce` once on every rank, when that rank may write; produce passes
// `sink` the rank's `rows` (of `total_rows`) in order as consecutive blocks. A failure on any
// rank becomes the same AgreedError on every rank, and the output path is left as it was.
void WritePredictions(const Communicator& comm, const PredictionOutput& output,
                      std::int64_t total_rows, std::int64_t classes, const RowRange& rows,
                      const std::function<void(const PredictionSink& sink)>& produce);

}  // namespace shardmax
