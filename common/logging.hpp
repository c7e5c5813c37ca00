// Logging: rank 0 speaks for the job; any rank may report an error. Inside a Slurm job every
// line ends with the job tag (common/job_tag.hpp), e.g. "  [slurm job 1234 restart 1]": at the
// end, so the lines still start with what scripts look for ("epoch ", "final validation: ").
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace shardmax {

// Set once after MPI is up; before that every process counts as rank 0.
void SetLogRank(int rank);

// Progress and results: printed to stdout by rank 0 only.
void LogInfo(std::string_view message);
// Printed to stderr by rank 0 only (every rank sees the same condition).
void LogWarning(std::string_view message);
// An error every rank knows (agreed, or found identically everywhere): rank 0 prints it.
void LogError(std::string_view message);
// An error only this rank may know: printed by the calling rank, tagged with its rank.
void LogRankError(std::string_view message);

// For a terminal only: rank 0 draws `text` over the current line (a progress bar) without
// ending it. The next message of any kind erases it first.
void ShowStatusLine(std::string_view text);

// Joins anything streamable into one string: StrCat("epoch ", 3, " loss ", 0.25).
template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// `value` with `digits` digits after the point: FormatFixed(0.91234, 2) == "0.91".
std::string FormatFixed(double value, int digits);

}  // namespace shardmax
