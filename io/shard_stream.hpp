// Out-of-core reading of one rank's shard (README, "Streaming"): the rows are read from the
// HDF5 file in chunks of consecutive rows, a background thread reading chunk i+1 while the
// caller computes on chunk i (two buffers). Chunks start at global multiples of the chunk size,
// a multiple of kBlockRows, so the blocks visited are exactly those of an in-memory shard
// (Shard::ForEachBlock) and a pass sums them in the same order: the same bits.
// The thread opens the file itself (default sec2 driver, read-only, independent reads) and
// never calls MPI; HDF5 is not thread-safe here, so while it runs any other HDF5 call takes
// h5::LockLibrary(). uint8 features stay uint8 in the buffers, a quarter of float32's memory,
// and are scaled to float one block at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/config.hpp"
#include "common/types.hpp"
#include "io/dataset_reader.hpp"
#include "io/shard.hpp"

namespace shardmax {

// What a stream reads: the rank's rows of a data file whose shape ReadShard has checked.
struct StreamSource {
  std::string path;
  DatasetLayout layout;  // layout.sample_weights empty: no sample weights
  bool reads_labels = true;
  std::int64_t label_columns = 0;  // 0: 1-D class labels; K: 2-D 0/1 targets
  std::string feature_type;        // "float32", "float64" (read as float32, as ReadShard) or "uint8"
  std::int64_t feature_count = 0;
  RowRange rows;
};

// Bytes one row takes in a chunk buffer (features as stored, labels, weights, read scratch).
std::int64_t StreamBytesPerRow(const StreamSource& source);

// The rows per chunk whose two buffers fit in budget_bytes: a multiple of kBlockRows, at
// least one block (the caller checks that one block fits).
std::int64_t ChunkRowsForBudget(std::int64_t bytes_per_row, std::int64_t budget_bytes);

class ShardStream {
 public:
  ShardStream(StreamSource source, std::int64_t chunk_rows);

  // Row weights of every chunk become w_i = class_weights[y_i] * s_i (common/weighting.hpp),
  // as Shard::weights are in memory.
  void SetClassWeights(Vector class_weights) { class_weights_ = std::move(class_weights); }
  bool has_weights() const {
    return !source_.layout.sample_weights.empty() || class_weights_.size() > 0;
  }
  bool has_labels() const { return source_.reads_labels; }
  std::int64_t chunk_rows() const { return chunk_rows_; }
  const StreamSource& source() const { return source_; }

  // Local, no MPI: visits the blocks of the rank's rows in order, reading ahead in the
  // background. A read failure or a row ReadShard would refuse throws UserError (naming the
  // file, dataset and row) once the reader has stopped; collective callers agree on it
  // (RunAndAgree), as VisitBlocksAgreed does.
  void ForEachBlock(const std::function<void(const RowBlock&)>& visit) const;

 private:
  StreamSource source_;
  std::int64_t chunk_rows_;
  Vector class_weights_;
};

}  // namespace shardmax
