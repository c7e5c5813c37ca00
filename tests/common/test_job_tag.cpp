#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/job_tag.hpp"

namespace shardmax {
namespace {

std::string TagFor(const std::map<std::string, std::string>& environment) {
  return SlurmJobTag([&](const char* name) -> const char* {
    const auto found = environment.find(name);
    return found == environment.end() ? nullptr : found->second.c_str();
  });
}

TEST(JobTag, EmptyOutsideSlurm) {
  EXPECT_EQ(TagFor({}), "");
  EXPECT_EQ(TagFor({{"SLURM_JOB_ID", ""}}), "");
  EXPECT_EQ(TagFor({{"SLURM_RESTART_COUNT", "1"}}), "");
}

TEST(JobTag, JobAndRestartCount) {
  EXPECT_EQ(TagFor({{"SLURM_JOB_ID", "1234"}}), "[slurm job 1234 restart 0]");
  EXPECT_EQ(TagFor({{"SLURM_JOB_ID", "1234"}, {"SLURM_RESTART_COUNT", "2"}}),
            "[slurm job 1234 restart 2]");
}

TEST(JobTag, ArrayTaskIsNamedByArrayJobAndTask) {
  EXPECT_EQ(TagFor({{"SLURM_JOB_ID", "1237"},
                    {"SLURM_ARRAY_JOB_ID", "1233"},
                    {"SLURM_ARRAY_TASK_ID", "4"},
                    {"SLURM_RESTART_COUNT", "1"}}),
            "[slurm job 1233_4 restart 1]");
  // Only one of the two array variables: not an array task.
  EXPECT_EQ(TagFor({{"SLURM_JOB_ID", "1237"}, {"SLURM_ARRAY_JOB_ID", "1233"}}),
            "[slurm job 1237 restart 0]");
}

}  // namespace
}  // namespace shardmax
