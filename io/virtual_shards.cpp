#include "io/virtual_shards.hpp"

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

void CheckVirtualShards(std::int64_t virtual_shards, int ranks) {
  if (virtual_shards < 1 || virtual_shards > kMaxVirtualShards) {
    throw UsageError(StrCat("--virtual-shards must be from 1 to ", kMaxVirtualShards, " (got ",
                            virtual_shards, ")"));
  }
  if (virtual_shards % ranks == 0) return;
  std::string divisors;
  for (std::int64_t p = 1; p <= virtual_shards; ++p) {
    if (virtual_shards % p == 0) divisors += (divisors.empty() ? "" : ", ") + std::to_string(p);
  }
  throw UsageError(StrCat("--reproducible: ", ranks, " ranks do not divide the ", virtual_shards,
                          " virtual shards (--virtual-shards ", virtual_shards, "); run on ",
                          divisors,
                          " ranks, or choose --virtual-shards as a "
                          "multiple of ",
                          ranks, " (the same value on every run to compare)"));
}

}  // namespace shardmax
