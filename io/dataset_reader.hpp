// Reads one rank's shard of an HDF5 data file (documented in README.md, "Data format"):
// 2-D `features` (N x D; float32, float64 or uint8 read as value/255) and `labels`, either 1-D
// integer class labels (N) or a 2-D matrix of 0/1 multi-label targets (N x K, integer or float);
// optionally per-row sample weights (1-D, N, finite and >= 0, when a dataset is named),
// `label_values` (K int64) and `class_names` (K strings). Each rank opens the file through
// MPI-IO and reads only its hyperslab.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/loss.hpp"
#include "common/mpi_layer.hpp"
#include "common/types.hpp"
#include "io/model_file.hpp"
#include "io/shard.hpp"

namespace shardmax {

// Rows per block: blocks are cut at multiples of this global row index, whatever the rank count.
inline constexpr std::int64_t kBlockRows = 1024;

// Whether ReadShard reads the labels dataset. Predicting needs only the features: a file to
// predict need not have labels, and any it has are left unread (and unchecked).
enum class ShardLabels { kRead, kSkip };

class ShardStream;  // io/shard_stream.hpp

// The storage behind Shard::Gather, reused from batch to batch.
struct GatheredRows {
  FeatureMatrix features;
  FeatureBytes bytes;  // the rows of a shard that holds uint8 features
  std::vector<Label> labels;
  TargetMatrix targets;
  std::vector<double> weights;
  SparseMatrix sparse;  // the rows of a sparse shard (Shard::is_sparse)
};

struct Shard {
  std::string path;
  std::int64_t total_rows = 0;
  std::int64_t feature_count = 0;
  std::string feature_type;  // as stored: "float32", "float64" or "uint8"
  RowRange rows;             // global rows held here
  FeatureMatrix features;    // rows.size() x feature_count; x 0 when sparse or held as bytes
  // uint8 features are held as stored (rows.size() x feature_count), a quarter of float32's
  // memory; blocks and gathered rows then carry them as RowBlock::bytes.
  FeatureBytes feature_bytes;
  std::vector<Label> labels;  // 1-D labels; empty when read with ShardLabels::kSkip or 2-D
  TargetMatrix targets;       // 2-D labels (multi-label): rows.size() x K; else no columns
  // Row weights w_i of the training objective: the sample weights read, times the class
  // weights once training sets them; empty: every row weighs 1.
  std::vector<double> weights;
  ClassInfo classes;         // optional `label_values` and `class_names` datasets of the file
  // With --reproducible: the V virtual shards the rows are cut into (io/virtual_shards.hpp),
  // of which this rank holds whole ones; 0: rows shared out by rank (ShardRows).
  std::int64_t virtual_shards = 0;
  // Sparse features (io/sparse_reader.hpp): then `features` is rows.size() x 0 and the rows are
  // in `sparse`, and feature_type is the stored type of the values.
  bool is_sparse = false;
  SparseMatrix sparse;
  // Streamed (io/shard_stream.hpp): the rows stay in the file and ForEachBlock reads them
  // chunk by chunk; features, labels and weights are then empty (targets 0 x K for 2-D
  // labels), and Block and Gather are not available.
  std::shared_ptr<ShardStream> stream;

  bool is_streamed() const { return stream != nullptr; }
  bool holds_bytes() const { return feature_bytes.size() > 0; }
  // Converts uint8 features held as bytes into `features` (for code that rewrites them in
  // place: --standardize). The same values, four times the memory.
  void HoldFeaturesAsFloat();
  bool is_multi_label() const { return targets.cols() > 0; }
  bool has_labels() const;
  bool has_weights() const;  // row weights w_i, else every row weighs 1

  // Local rows [local_begin, local_begin + count) as a block, with whatever labels, targets
  // and weights the shard has.
  RowBlock Block(std::int64_t local_begin, std::int64_t count) const;
  // The local rows `local_rows`, in that order, copied into `storage` (a training batch).
  RowBlock Gather(std::span<const std::int64_t> local_rows, GatheredRows* storage) const;
  // The same without the dense features (the block is rows x 0): for the kernel, which reads
  // them where they lie (DenseRows::picked). Sparse rows are still copied.
  RowBlock GatherAllButDenseFeatures(std::span<const std::int64_t> local_rows,
                                     GatheredRows* storage) const;
  // Calls visit on consecutive blocks cut at global multiples of kBlockRows (and at the
  // virtual shards' boundaries, if any: then the blocks are the same on any rank count).
  // Streamed, it may throw UserError for a row the file holds: see VisitBlocksAgreed.
  void ForEachBlock(const std::function<void(const RowBlock&)>& visit) const;

 private:
  RowBlock GatherRows(std::span<const std::int64_t> local_rows, bool with_dense_features,
                      GatheredRows* storage) const;
};

// Collective when the shard is streamed: Shard::ForEachBlock, then every rank agrees on any
// read error (RunAndAgree), so a bad row on one rank stops all. In memory just ForEachBlock.
// `visit` must not call MPI.
void VisitBlocksAgreed(const Communicator& comm, const Shard& shard,
                       const std::function<void(const RowBlock&)>& visit);

// Collective: every rank reads its own rows. Any problem on any rank (missing file or
// dataset, wrong shape or type, NaN/Inf feature, negative label, more ranks than rows)
// becomes the same AgreedError on every rank, naming the file, dataset and row. With
// ShardLabels::kSkip the labels dataset is neither opened nor required. With virtual_shards
// V > 0 (which the rank count must divide) the rank reads the rows of its virtual shards.
// `streaming` may make the shard streamed (--stream, or over --memory-budget), the same
// choice on every rank: then only the file's shape is read here, and the rows are read and
// checked by each pass (io/shard_stream.hpp). Sparse files and virtual shards do not stream.
Shard ReadShard(const Communicator& comm, const std::string& path, const DatasetLayout& layout,
                ShardLabels labels = ShardLabels::kRead, std::int64_t virtual_shards = 0,
                const StreamConfig& streaming = {});

// These take one pass over a streamed shard each.
// Collective: the largest label over all ranks' shards, plus one; for 2-D labels, K columns.
std::int64_t CountClasses(const Communicator& comm, const Shard& shard);

// Collective: rows per class n_k over every rank's shard (1-D labels below `classes`).
std::vector<std::int64_t> CountRowsPerClass(const Communicator& comm, const Shard& shard,
                                            std::int64_t classes);

// Collective: every label must be < classes (2-D labels: K must equal classes), else an
// AgreedError naming the first bad row and, in parentheses, where the class count came from
// (an option, or a model file).
void CheckLabelsBelow(const Communicator& comm, const Shard& shard, const DatasetLayout& layout,
                      std::int64_t classes, const std::string& classes_source = "--classes");

// Throws AgreedError (the same on every rank: it depends on the file's shape) unless the labels
// suit the loss: 2-D 0/1 labels for a multi-label loss, 1-D class labels for the others.
// `loss_source` says where the loss came from ("--loss", or a model file).
void CheckLabelsSuitLoss(const Shard& shard, const DatasetLayout& layout, const Loss& loss,
                         const std::string& loss_source);

}  // namespace shardmax
