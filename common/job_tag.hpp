// The Slurm job a process runs in, as a tag for its log lines: a job log then names the job
// and the restart on every line, which matters once a requeued job appends to the same log.
#pragma once

#include <functional>
#include <string>

namespace shardmax {

// From the variables Slurm sets, read through `lookup` (getenv in the program):
//   "[slurm job 1234 restart 0]"    SLURM_JOB_ID=1234, SLURM_RESTART_COUNT unset or 0
//   "[slurm job 1233_4 restart 2]"  task 4 of array job 1233, requeued twice
// and "" outside Slurm (SLURM_JOB_ID unset or empty).
std::string SlurmJobTag(const std::function<const char*(const char*)>& lookup);

}  // namespace shardmax
