#include "common/logging.hpp"

#include <cstdio>
#include <iostream>

namespace shardmax {
namespace {
int log_rank = 0;
}  // namespace

void SetLogRank(int rank) { log_rank = rank; }

void LogInfo(std::string_view message) {
  if (log_rank == 0) std::cout << message << std::endl;
}

void LogWarning(std::string_view message) {
  if (log_rank == 0) std::cerr << "shardmax: warning: " << message << std::endl;
}

void LogError(std::string_view message) {
  if (log_rank == 0) std::cerr << "shardmax: error: " << message << std::endl;
}

void LogRankError(std::string_view message) {
  if (log_rank == 0) {
    std::cerr << "shardmax: error: " << message << std::endl;
  } else {
    std::cerr << "shardmax: error (rank " << log_rank << "): " << message << std::endl;
  }
}

std::string FormatFixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

}  // namespace shardmax
