#include "io/virtual_shards.hpp"

#include <algorithm>
#include <string>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {

RowRange VirtualShardRows(std::int64_t total, std::int64_t virtual_shards, std::int64_t index) {
  return ShardRows(total, static_cast<int>(virtual_shards), static_cast<int>(index));
}

VirtualShardRange RankVirtualShards(std::int64_t virtual_shards, int ranks, int rank) {
  const std::int64_t per_rank = virtual_shards / ranks;
  return VirtualShardRange{rank * per_rank, (rank + 1) * per_rank};
}

RowRange RankRowsOfVirtualShards(std::int64_t total, std::int64_t virtual_shards, int ranks,
                                 int rank) {
  const VirtualShardRange held = RankVirtualShards(virtual_shards, ranks, rank);
  return RowRange{VirtualShardRows(total, virtual_shards, held.first).begin,
                  VirtualShardRows(total, virtual_shards, held.end - 1).end};
}

std::vector<std::int64_t> AllowedRankCounts(std::int64_t virtual_shards,
                                            std::int64_t max_ranks) {
  std::vector<std::int64_t> counts;
  for (std::int64_t p = 1; p <= std::min(virtual_shards, max_ranks); ++p) {
    if (virtual_shards % p == 0) counts.push_back(p);
  }
  return counts;
}

std::int64_t LargestRankCount(std::int64_t virtual_shards, std::int64_t max_ranks) {
  return AllowedRankCounts(virtual_shards, max_ranks).back();
}

bool StartsSegment(std::int64_t virtual_shards, std::int64_t max_ranks, std::int64_t v) {
  const std::vector<std::int64_t> counts = AllowedRankCounts(virtual_shards, max_ranks);
  return std::any_of(counts.begin(), counts.end(),
                     [&](std::int64_t p) { return v % (virtual_shards / p) == 0; });
}

void CheckVirtualShards(std::int64_t virtual_shards, int ranks, std::int64_t max_ranks) {
  if (virtual_shards < 1 || virtual_shards > kMaxVirtualShards) {
    throw UsageError(StrCat("--virtual-shards must be from 1 to ", kMaxVirtualShards, " (got ",
                            virtual_shards, ")"));
  }
  if (virtual_shards % ranks == 0 && ranks <= max_ranks) return;
  std::string counts;
  for (const std::int64_t p : AllowedRankCounts(virtual_shards, max_ranks)) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(p);
  }
  if (virtual_shards % ranks != 0) {
    throw UsageError(StrCat("--reproducible: ", ranks, " ranks do not divide the ",
                            virtual_shards, " virtual shards (--virtual-shards ", virtual_shards,
                            "); run on ", counts,
                            " ranks, or choose --virtual-shards as a multiple of ", ranks,
                            " (the same value on every run to compare)"));
  }
  throw UsageError(StrCat("--reproducible: ", ranks, " ranks are more than --max-ranks ",
                          max_ranks, "; run on ", counts, " ranks, or raise --max-ranks to ",
                          ranks,
                          " (the same value on every run to compare; a larger one makes "
                          "steps slower)"));
}

}  // namespace shardmax
