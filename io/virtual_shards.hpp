// Virtual shards (README, "Reproducibility"): the rows cut into V fixed parts by global index,
// the same on any rank count. With P ranks dividing V, rank r holds the V/P consecutive
// virtual shards from r V / P, so all work done per virtual shard (its shuffles, its batches,
// its partial sums) is the same whichever rank does it.
#pragma once

#include <cstdint>
#include <vector>

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

// The rank counts a run may use: those dividing V, up to `max_ranks`, ascending (1 first:
// V and max_ranks are at least 1).
std::vector<std::int64_t> AllowedRankCounts(std::int64_t virtual_shards, std::int64_t max_ranks);

// The largest of them, which stands for the whole set (a checkpoint records it).
std::int64_t LargestRankCount(std::int64_t virtual_shards, std::int64_t max_ranks);

// Whether virtual shard v starts a segment: v is the first virtual shard of some rank for
// some rank count the run may use. A segment's virtual shards are then on one rank whatever
// the rank count, so --reproducible sums a segment's rows as one part, whose bits do not
// depend on the rank count, and only the parts' sums need to be exact (common/exact_sum.hpp).
// With V = 24 and up to 8 ranks, the 24 virtual shards form 12 segments (boundaries at
// multiples of 3 or 4); with up to 24 ranks, 24 segments of one virtual shard.
bool StartsSegment(std::int64_t virtual_shards, std::int64_t max_ranks, std::int64_t v);

// Throws UsageError unless 1 <= V <= kMaxVirtualShards and `ranks` divides V and is at most
// `max_ranks`, naming --virtual-shards or --max-ranks and the rank counts that would work.
void CheckVirtualShards(std::int64_t virtual_shards, int ranks, std::int64_t max_ranks);

}  // namespace shardmax
