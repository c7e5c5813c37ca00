// HDF5 checkpoints (layout in README.md, "Checkpoint format"). Rank 0 writes them to a
// temporary name, seals them with a checksum header, fsyncs and renames into place, then
// points the `latest` file at them; a checkpoint is trusted only once it verifies.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/model.hpp"
#include "common/standardization.hpp"

namespace shardmax {

// 2: a checksum header in the HDF5 user block, and a crc32 attribute on every array.
inline constexpr std::int64_t kCheckpointFormatVersion = 2;

// Bytes reserved at the start of every checkpoint for its header (HDF5's user block).
inline constexpr std::int64_t kCheckpointHeaderBytes = 512;

// The small text file in the checkpoint directory naming the checkpoint written last.
inline constexpr const char* kLatestPointerName = "latest";

// Where training stands, in global terms (no per-rank state), so a later version can
// resume on another rank count. With the seed and world size in RunSignature this is all the
// random state there is: the shuffle of an epoch is a pure function of (seed, epoch, rank)
// and the learning rate a pure function of the global step.
struct TrainingPosition {
  std::int64_t epoch = 0;          // epoch to run next (or in progress)
  std::int64_t step_in_epoch = 0;  // steps of `epoch` already done
  std::int64_t global_step = 0;    // steps done since the start of training
  std::int64_t cursor = 0;         // rows of `epoch` consumed so far, over all ranks
  double epoch_loss_sum = 0.0;     // sum of per-row losses over those rows (for the epoch log)
  // Early stopping: the lowest validation loss so far and the epoch (from 1) that reached it.
  double best_validation_loss = std::numeric_limits<double>::infinity();
  std::int64_t best_epoch = 0;
  double epoch_weight_sum = 0.0;   // sum of their row weights (= cursor when unweighted)
};

// The options and data shape that determine the run; checked on resume.
struct RunSignature {
  std::uint64_t seed = 0;
  std::int64_t world_size = 0;
  std::int64_t rows = 0;
  std::int64_t features = 0;
  std::int64_t classes = 0;
  std::int64_t batch_size = 0;
  double learning_rate = 0.0;
  double momentum = 0.0;
  double weight_decay = 0.0;
  std::string loss;
  std::string optimizer;
  std::string train_path;
  // --reproducible runs: their virtual shards V, on which the position depends instead of the
  // world size (any rank count dividing V resumes them exactly); 0 otherwise. An attribute
  // written since issue 7; checkpoints without it read as 0.
  std::int64_t virtual_shards = 0;
  // SGD and AdamW on a streamed shard: the chunk size (rows) whose chunks the batch order
  // shuffles within, on which the position depends; 0 otherwise (batches over the whole
  // shard, or a full-batch solver). Checkpoints without the attribute read as 0.
  std::int64_t stream_chunk_rows = 0;
  // --reproducible runs: the largest rank count they may use (LargestRankCount of V and
  // --max-ranks), which sets how virtual shards are summed (StartsSegment); 0 otherwise.
  // Checkpoints without the attribute (before --max-ranks) summed every virtual shard
  // alone, as V does.
  std::int64_t max_ranks = 0;
};

// An array of a checkpoint. ReadCheckpoint returns it owned, in `values`; a writer may instead
// point `view` at a row-major view_rows x view_cols array it keeps alive until WriteCheckpoint
// returns, so the L-BFGS history (2 m x K x (D + 1) doubles) is not copied to be saved.
struct NamedMatrix {
  std::string name;
  Matrix values;
  const double* view = nullptr;
  Eigen::Index view_rows = 0;
  Eigen::Index view_cols = 0;

  static NamedMatrix View(std::string name, const double* data, Eigen::Index rows,
                          Eigen::Index cols) {
    NamedMatrix array{std::move(name), Matrix(), data, rows, cols};
    return array;
  }
  // The array's values, owned or viewed.
  Eigen::Map<const Matrix> Values() const {
    return view != nullptr ? Eigen::Map<const Matrix>(view, view_rows, view_cols)
                           : Eigen::Map<const Matrix>(values.data(), values.rows(), values.cols());
  }
};

struct Checkpoint {
  SoftmaxModel model;  // on the training scale (standardized features, with --standardize)
  std::optional<FeatureScaling> feature_scaling;  // m and s of --standardize
  std::vector<NamedMatrix> optimizer_state;
  TrainingPosition position;
  RunSignature run;
};

// "ckpt-000001234.h5" for global step 1234: names sort in step order.
std::string CheckpointFileName(std::int64_t global_step);

// Writes atomically (temporary file, seal, fsync, rename, fsync of the directory), then
// replaces `latest` in the same directory, atomically too, with the checkpoint's name.
// Throws UserError naming the file; any previous checkpoint is left as it was.
void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and verifies, in this order: the header's checksum over the whole file (before HDF5
// parses a byte of it), the format and version, every array's crc32 attribute, the shapes,
// and the position. A problem is a UserError starting "checkpoint '<path>': ".
Checkpoint ReadCheckpoint(const std::string& path);

// Writes the header of a finished checkpoint file: its length and CRC-32 after the header.
// WriteCheckpoint calls it; tests use it to forge a well-sealed but malformed file.
void SealCheckpointFile(const std::string& path);

// The checkpoint with the highest step in `directory`, verified or not, if any.
std::optional<std::string> FindNewestCheckpoint(const std::string& directory);

struct SkippedCheckpoint {
  std::string path;
  std::string problem;  // ReadCheckpoint's message
};

struct CheckpointSearch {
  std::optional<std::string> newest_valid;
  std::vector<SkippedCheckpoint> skipped;  // newer than newest_valid (or all, if none verifies)
};

// Tries the checkpoints of `directory` from the highest step down and stops at the first that
// verifies; what --resume auto uses.
CheckpointSearch FindNewestValidCheckpoint(const std::string& directory);

// The checkpoint `latest` names (as a path in `directory`), if the pointer exists.
std::optional<std::string> ReadLatestPointer(const std::string& directory);

// Removes the temporary files a killed writer leaves (".ckpt-*.h5.tmp", ".latest.tmp");
// returns their paths.
std::vector<std::string> RemoveUnfinishedCheckpointWrites(const std::string& directory);

// Keeps the `keep` newest checkpoints that verify, and any newer ones that do not, and
// deletes the rest: a damaged file never counts towards `keep`, so the newest valid
// checkpoint is never deleted.
void PruneCheckpoints(const std::string& directory, int keep);

}  // namespace shardmax
