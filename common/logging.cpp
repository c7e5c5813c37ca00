#include "common/logging.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/job_tag.hpp"

namespace shardmax {
namespace {

int log_rank = 0;
bool status_line_shown = false;

// "  [slurm job ...]" inside a Slurm job, else "": read once, the variables do not change.
const std::string& LineSuffix() {
  static const std::string suffix = [] {
    const std::string tag = SlurmJobTag([](const char* name) { return std::getenv(name); });
    return tag.empty() ? tag : "  " + tag;
  }();
  return suffix;
}

void EraseStatusLine() {
  if (!status_line_shown) return;
  std::cout << "\r\033[K" << std::flush;  // back to column 0, clear to the end of the line
  status_line_shown = false;
}

// Writes `prefix` + `message` + a newline, with the job tag at the end of every non-empty
// line of a multi-line message, then flushes.
void WriteLines(std::ostream& out, std::string_view prefix, std::string_view message) {
  EraseStatusLine();
  const std::string& suffix = LineSuffix();
  std::string text(prefix);
  std::size_t start = 0;
  while (true) {
    const std::size_t end = message.find('\n', start);
    const std::string_view line = message.substr(start, end - start);
    text.append(line);
    if (!line.empty() || (start == 0 && !prefix.empty())) text.append(suffix);
    text.push_back('\n');
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out << text << std::flush;
}

}  // namespace

void SetLogRank(int rank) { log_rank = rank; }

void LogInfo(std::string_view message) {
  if (log_rank == 0) WriteLines(std::cout, "", message);
}

void LogWarning(std::string_view message) {
  if (log_rank == 0) WriteLines(std::cerr, "shardmax: warning: ", message);
}

void LogError(std::string_view message) {
  if (log_rank == 0) WriteLines(std::cerr, "shardmax: error: ", message);
}

void LogRankError(std::string_view message) {
  if (log_rank == 0) {
    WriteLines(std::cerr, "shardmax: error: ", message);
  } else {
    WriteLines(std::cerr, StrCat("shardmax: error (rank ", log_rank, "): "), message);
  }
}

void ShowStatusLine(std::string_view text) {
  if (log_rank != 0) return;
  std::cout << "\r" << text << "\033[K" << std::flush;
  status_line_shown = true;
}

std::string FormatFixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

}  // namespace shardmax
