#include "io/shard.hpp"

#include <algorithm>

namespace shardmax {

RowRange ShardRows(std::int64_t total, int parts, int index) {
  const std::int64_t base = total / parts;
  const std::int64_t extra = total % parts;
  const std::int64_t begin = index * base + std::min<std::int64_t>(index, extra);
  return RowRange{begin, begin + base + (index < extra ? 1 : 0)};
}

}  // namespace shardmax
