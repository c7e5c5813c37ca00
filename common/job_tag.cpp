#include "common/job_tag.hpp"

namespace shardmax {

std::string SlurmJobTag(const std::function<const char*(const char*)>& lookup) {
  const auto value = [&](const char* name) {
    const char* text = lookup(name);
    return std::string(text == nullptr ? "" : text);
  };
  const std::string job = value("SLURM_JOB_ID");
  if (job.empty()) return "";
  // An array task has its own job id, but users (squeue, sacct, the %A_%a log names) know
  // it as <array job>_<task>.
  const std::string array_job = value("SLURM_ARRAY_JOB_ID");
  const std::string array_task = value("SLURM_ARRAY_TASK_ID");
  const std::string name =
      !array_job.empty() && !array_task.empty() ? array_job + "_" + array_task : job;
  // Slurm sets SLURM_RESTART_COUNT only once a job has been requeued.
  const std::string restarts = value("SLURM_RESTART_COUNT");
  return "[slurm job " + name + " restart " + (restarts.empty() ? "0" : restarts) + "]";
}

}  // namespace shardmax
