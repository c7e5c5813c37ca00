// The training loop: synchronous data-parallel mini-batch SGD over sharded HDF5 data,
// with per-epoch validation, periodic checkpoints and exact resume.
#pragma once

#include <optional>
#include <string>

#include "common/config.hpp"
#include "common/mpi_layer.hpp"
#include "io/checkpoint.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {

struct TrainResult {
  SoftmaxModel model;
  TrainingPosition position;
  Metrics train;
  std::optional<Metrics> validation;
  std::string last_checkpoint;  // empty if none was written
  std::string model_path;       // empty unless training finished
  std::string metrics_log;
  bool stopped_at_max_steps = false;
  bool stopped_early = false;  // by --early-stopping-patience
  int stop_signal = 0;  // SIGUSR1 or SIGUSR2 if one stopped the run (after a checkpoint), else 0
};

// Collective over comm. A stop signal (common/stop_signal.hpp) received by any rank ends the
// run at the next step boundary with a checkpoint, without the final model or evaluation.
// Throws AgreedError (same on every rank) for bad data or checkpoints,
// UsageError for options that cannot work with this data or rank count.
TrainResult Train(const Communicator& comm, const TrainConfig& config);

// Why the training data cannot be streamed with these options (naming the option that
// needs it in memory), or "" if it can. Streamed, L-BFGS runs the same passes as in memory.
std::string StreamRefusal(const TrainConfig& config);

// Number of steps in one epoch: ceil(N / B).
std::int64_t StepsPerEpoch(std::int64_t total_rows, std::int64_t batch_size);

// This rank's rows for step `step` of `steps`, as positions in its shuffled order:
// [step * n / steps, (step + 1) * n / steps). Every rank runs the same number of steps.
RowRange LocalBatch(std::int64_t local_rows, std::int64_t step, std::int64_t steps);

}  // namespace shardmax
