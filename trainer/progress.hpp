// Progress of a training run between its per-epoch lines, printed by rank 0. On a terminal
// a bar redrawn in place:
//   epoch 3/30 [#######.............] step 512/7050  321024 samples/s  ETA 1m20s
// otherwise (a Slurm log, a file) a plain line every --progress-every seconds:
//   progress: epoch 3/30  step 512/7050  samples/s 321024  ETA 1m20s
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "io/checkpoint.hpp"

namespace shardmax {

enum class ProgressStyle { kBar, kLines };

// kBar when rank 0's output reaches a terminal. Under mpirun every rank writes to a
// pseudo-terminal that Open MPI made, whatever mpirun's own output is, so for a child of
// mpirun or orted the answer is whether that parent's output is a terminal.
ProgressStyle DetectProgressStyle();

// "45s", "12m05s", "3h02m".
std::string FormatDuration(double seconds);

class ProgressReporter {
 public:
  // `interval_seconds` between plain lines (0: no progress output at all); the bar is
  // redrawn as often, but at least four times a second. `first_step`: the global step this session starts at.
  ProgressReporter(ProgressStyle style, double interval_seconds, std::int64_t rows_per_epoch,
                   std::int64_t steps_per_epoch, std::int64_t epochs, std::int64_t first_step);

  // After every step, with the position after it: reads the clock, prints when due.
  void AfterStep(const TrainingPosition& position);

 private:
  using Clock = std::chrono::steady_clock;

  std::string Describe(const TrainingPosition& position, double samples_per_second,
                       double eta_seconds) const;

  ProgressStyle style_;
  Clock::duration interval_;
  std::int64_t rows_per_epoch_;
  std::int64_t steps_per_epoch_;
  std::int64_t epochs_;
  std::int64_t first_step_;
  Clock::time_point start_;
  Clock::time_point last_report_;
  std::int64_t last_report_step_;
};

}  // namespace shardmax
