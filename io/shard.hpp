// Which rows each rank owns: contiguous, balanced shares whose sizes differ by at most one.
#pragma once

#include <cstdint>

namespace shardmax {

struct RowRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;  // one past the last row
  std::int64_t size() const { return end - begin; }
};

// Rows of part `index` of `parts` over `total` rows: the first total % parts parts get one more.
RowRange ShardRows(std::int64_t total, int parts, int index);

}  // namespace shardmax
