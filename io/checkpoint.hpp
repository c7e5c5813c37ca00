// HDF5 checkpoints (layout in README.md, "Checkpoint format"). Rank 0 writes them to a
// temporary name, fsyncs and renames into place, so the real name never holds half a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/model.hpp"
#include "common/standardization.hpp"

namespace shardmax {

inline constexpr std::int64_t kCheckpointFormatVersion = 1;

// Where training stands, in global terms (no per-rank state), so a later version can
// resume on another rank count.
struct TrainingPosition {
  std::int64_t epoch = 0;          // epoch to run next (or in progress)
  std::int64_t step_in_epoch = 0;  // steps of `epoch` already done
  std::int64_t global_step = 0;    // steps done since the start of training
  std::int64_t cursor = 0;         // rows of `epoch` consumed so far, over all ranks
  double epoch_loss_sum = 0.0;     // sum of per-row losses over those rows (for the epoch log)
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
};

struct NamedMatrix {
  std::string name;
  Matrix values;
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

// Writes atomically: temporary file, fsync, rename, fsync of the directory.
void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and checks structure and shapes; a problem is a UserError naming the file.
Checkpoint ReadCheckpoint(const std::string& path);

// The checkpoint with the highest step in `directory`, if any.
std::optional<std::string> FindNewestCheckpoint(const std::string& directory);

// Deletes all but the newest `keep` checkpoints in `directory`.
void PruneCheckpoints(const std::string& directory, int keep);

}  // namespace shardmax
