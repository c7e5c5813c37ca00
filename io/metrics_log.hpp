// Per-epoch training metrics as CSV next to the checkpoints, for plotting
// (launch/plot_metrics.sh) or any script. Columns:
//   epoch,global_step,train_loss,val_loss,val_accuracy,learning_rate,samples_per_second,elapsed_seconds
// val_loss and val_accuracy are empty without a validation file. Rank 0 writes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace shardmax {

struct EpochRecord {
  std::int64_t epoch = 0;  // counted from 1
  std::int64_t global_step = 0;
  double train_loss = 0.0;
  std::optional<double> validation_loss;
  std::optional<double> validation_accuracy;
  double learning_rate = 0.0;  // of the epoch's last step
  double samples_per_second = 0.0;
  double elapsed_seconds = 0.0;
};

// A fresh run (completed_epochs == 0) starts the file with its header. A resumed run keeps
// the rows of the epochs its checkpoint had completed and drops later ones, which a run
// killed after logging but before checkpointing left behind.
void StartMetricsLog(const std::string& path, std::int64_t completed_epochs);

void AppendMetricsLog(const std::string& path, const EpochRecord& record);

}  // namespace shardmax
