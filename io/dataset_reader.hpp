// Reads one rank's shard of an HDF5 data file (documented in README.md, "Data format"):
// 2-D `features` (N x D; float32, float64 or uint8 read as value/255) and 1-D integer
// `labels` (N); optionally `label_values` (K int64) and `class_names` (K strings). Each rank opens the file through MPI-IO and reads only its hyperslab.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/config.hpp"
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

struct Shard {
  std::string path;
  std::int64_t total_rows = 0;
  std::int64_t feature_count = 0;
  std::string feature_type;  // as stored: "float32", "float64" or "uint8"
  RowRange rows;             // global rows held here
  FeatureMatrix features;    // rows.size() x feature_count
  std::vector<Label> labels;  // empty when read with ShardLabels::kSkip
  ClassInfo classes;         // optional `label_values` and `class_names` datasets of the file

  bool has_labels() const { return labels.size() == static_cast<std::size_t>(rows.size()); }

  // Local rows [local_begin, local_begin + count) as a block (with no labels if it has none).
  RowBlock Block(std::int64_t local_begin, std::int64_t count) const;
  // Calls visit on consecutive blocks cut at global multiples of kBlockRows.
  void ForEachBlock(const std::function<void(const RowBlock&)>& visit) const;
};

// Collective: every rank reads its own rows. Any problem on any rank (missing file or
// dataset, wrong shape or type, NaN/Inf feature, negative label, more ranks than rows)
// becomes the same AgreedError on every rank, naming the file, dataset and row. With
// ShardLabels::kSkip the labels dataset is neither opened nor required.
Shard ReadShard(const Communicator& comm, const std::string& path, const DatasetLayout& layout,
                ShardLabels labels = ShardLabels::kRead);

// Collective: the largest label over all ranks' shards, plus one.
std::int64_t CountClasses(const Communicator& comm, const Shard& shard);

// Collective: every label must be < classes, else an AgreedError naming the first bad row
// and, in parentheses, where the class count came from (an option, or a model file).
void CheckLabelsBelow(const Communicator& comm, const Shard& shard, const DatasetLayout& layout,
                      std::int64_t classes, const std::string& classes_source = "--classes");

}  // namespace shardmax
