// Virtual shards (README, "Reproducibility"): the rows cut into V fixed parts by global index,
// the same on any rank count. With P ranks dividing V, rank r holds the V/P consecutive
// virtual shards from r V / P, so all work done per virtual shard (its shuffles, its batches,
// its partial sums) is the same whichever rank does it.
#pragma once

#include <cstdint>

#include "common/config.hpp"
#include "io/shard.hpp"

namespace shardmax {

// At most this many: the fixed-point sums (common/exact_sum.hpp) have headroom for 2^12 parts.
inline constexpr std::int64_t kMaxVirtualShards = 4096;

// Rows of virtual shard `index` of `virtual_shards` over `total` rows (balanced, by ShardRows).
RowRange VirtualShardRows(std::int64_t total, std::int64_t virtual_shards, std::int64_t index);

// The virtual shards [first, end) that rank `rank` of `ranks` holds; ranks must divide them.
struct VirtualShardRange {
  std::int64_t first = 0;
  std::int64_t end = 0;
};
VirtualShardRange RankVirtualShards(std::int64_t virtual_shards, int ranks, int rank);

// The rows those virtual shards cover: contiguous.
RowRange RankRowsOfVirtualShards(std::int64_t total, std::int64_t virtual_shards, int ranks,
                                 int rank);

// Throws UsageError unless 1 <= V <= kMaxVirtualShards and `ranks` divides V, naming
// --virtual-shards and the rank counts that would work.
void CheckVirtualShards(std::int64_t virtual_shards, int ranks);

}  // namespace shardmax
