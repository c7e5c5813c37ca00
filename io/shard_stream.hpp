// Out-of-core reading of one rank's shard (README, "Streaming"): the rows are read from the
// HDF5 file in chunks of consecutive rows, into two buffers: with read-ahead a background
// thread reads chunk i+1 while the caller computes on chunk i, without it the caller reads
// each chunk when it reaches it. Chunks start at global multiples of the chunk size, a
// multiple of kBlockRows, so the blocks visited are exactly those of an in-memory shard
// (Shard::ForEachBlock) and a pass sums them in the same order: the same bits.
// The reading thread opens the file itself (default sec2 driver, read-only, independent
// reads) and never calls MPI; HDF5 is not thread-safe here, so while a reader thread runs any
// other HDF5 call takes h5::LockLibrary(). Features stored as they are computed on are not
// copied at all: the rows are paged in where they lie in the mapped file (io/mapped_rows.hpp).
// uint8 features stay uint8 in the buffers, a quarter
// of float32's memory, and reach the kernel as they are (RowBlock::bytes), as an in-memory
// shard's do.
#pragma once

#include <hdf5.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  std::string feature_type;  // "float32", "float64" (read as float32, as ReadShard), "uint8"
  std::int64_t feature_count = 0;
  RowRange rows;
  bool map_rows = true;  // --stream-mmap: features read where they lie when stored as computed on
};

// What the features are read (and mapped) as: uint8 as stored, float32 and float64 as float32.
hid_t FeatureMemoryType(const StreamSource& source);

// Bytes one row takes in a chunk buffer (features as stored, labels, weights, read scratch).
std::int64_t StreamBytesPerRow(const StreamSource& source);

// The rows per chunk whose two buffers fit in budget_bytes: a multiple of kBlockRows, at
// least one block (the caller checks that one block fits).
std::int64_t ChunkRowsForBudget(std::int64_t bytes_per_row, std::int64_t budget_bytes);

struct StreamChunk;  // one buffer (io/shard_stream.cpp)
class ChunkReader;   // the two buffers and what fills them (io/shard_stream.cpp)

class ShardStream {
 public:
  // read_ahead: a background thread reads the next chunk while a pass computes on this one
  // (worth it where the rank has a CPU for it).
  ShardStream(StreamSource source, std::int64_t chunk_rows, bool read_ahead = true);

  // Row weights of every chunk become w_i = class_weights[y_i] * s_i (common/weighting.hpp),
  // as Shard::weights are in memory.
  void SetClassWeights(Vector class_weights) { class_weights_ = std::move(class_weights); }
  bool has_weights() const {
    return !source_.layout.sample_weights.empty() || class_weights_.size() > 0;
  }
  bool has_labels() const { return source_.reads_labels; }
  std::int64_t chunk_rows() const { return chunk_rows_; }
  // Another chunk size (a multiple of kBlockRows), e.g. to hold a whole mini-batch share.
  void SetChunkRows(std::int64_t chunk_rows) { chunk_rows_ = chunk_rows; }
  bool read_ahead() const { return read_ahead_; }
  void SetReadAhead(bool read_ahead) { read_ahead_ = read_ahead; }
  // Whether later passes read the features in place where they can (--stream-mmap).
  void SetMapRows(bool map_rows) { source_.map_rows = map_rows; }
  const StreamSource& source() const { return source_; }
  const Vector& class_weights() const { return class_weights_; }

  // Local, no MPI: visits the blocks of the rank's rows in order, reading ahead in the
  // background if read_ahead(). A read failure or a row ReadShard would refuse throws
  // UserError (naming the file, dataset and row) once the reader has stopped; collective
  // callers agree on it (RunAndAgree), as VisitBlocksAgreed does.
  void ForEachBlock(const std::function<void(const RowBlock&)>& visit) const;

 private:
  friend class StreamedEpoch;

  StreamSource source_;
  std::int64_t chunk_rows_;
  bool read_ahead_;
  Vector class_weights_;
  // Set once a pass has read (and so checked) every row: later passes skip the features'
  // NaN/Inf check, as an in-memory shard is checked once when read.
  mutable bool features_checked_ = false;
};

// One epoch of mini-batches over a streamed shard (SGD, AdamW): the rank's rows chunk after
// chunk in file order, each chunk's rows in the order `chunk_order(chunk, rows)` gives (a
// permutation of 0..rows-1; chunk counts from the rank's first chunk). Rows are asked for by
// their position in that order, ascending from one Gather to the next, so at most the two
// chunks a batch spans are held: a batch must not be longer than a chunk. The reader thread
// runs for the whole epoch; while it does, other HDF5 calls take h5::LockLibrary().
class StreamedEpoch {
 public:
  using ChunkOrder =
      std::function<std::vector<std::int64_t>(std::int64_t chunk, std::int64_t rows)>;

  // Starts reading at the chunk that holds position `first_position` (0 at an epoch's start;
  // later when a run resumes mid-epoch).
  StreamedEpoch(const ShardStream& stream, ChunkOrder chunk_order, std::int64_t first_position);
  ~StreamedEpoch();
  StreamedEpoch(const StreamedEpoch&) = delete;
  StreamedEpoch& operator=(const StreamedEpoch&) = delete;

  // The rows at positions [positions.begin, positions.end), copied into *storage in that
  // order. Local, no MPI: throws UserError as ShardStream::ForEachBlock does.
  RowBlock Gather(RowRange positions, GatheredRows* storage);

 private:
  const StreamChunk& Hold(std::int64_t chunk);

  const ShardStream& stream_;
  ChunkOrder chunk_order_;
  std::vector<RowRange> chunks_;      // the rank's chunks, as global rows
  std::int64_t first_chunk_ = 0;      // where the reader started
  std::unique_ptr<ChunkReader> reader_;
  std::int64_t held_from_ = 0;        // chunks before this one are released
  std::int64_t held_to_ = 0;          // one past the last chunk waited for
  std::array<std::vector<std::int64_t>, 2> orders_;  // of the held chunks, by chunk % 2
};

}  // namespace shardmax
