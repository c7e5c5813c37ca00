#include <gtest/gtest.h>

#include "common/error.hpp"
#include "io/virtual_shards.hpp"

namespace shardmax {
namespace {

TEST(VirtualShards, EveryDividingRankCountHoldsWholeVirtualShardsInOrder) {
  for (const std::int64_t total : {24, 25, 1000, 2999, 60000}) {
    for (const int ranks : {1, 2, 3, 4, 6, 8, 12, 24}) {
      std::int64_t next_row = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const VirtualShardRange held = RankVirtualShards(24, ranks, rank);
        EXPECT_EQ(held.end - held.first, 24 / ranks);
        const RowRange rows = RankRowsOfVirtualShards(total, 24, ranks, rank);
        EXPECT_EQ(rows.begin, next_row);
        EXPECT_EQ(rows.begin, VirtualShardRows(total, 24, held.first).begin);
        EXPECT_EQ(rows.end, VirtualShardRows(total, 24, held.end - 1).end);
        next_row = rows.end;
      }
      EXPECT_EQ(next_row, total) << total << " rows, " << ranks << " ranks";
    }
  }
}

TEST(VirtualShards, AVirtualShardsRowsDoNotDependOnTheRankCount) {
  EXPECT_EQ(VirtualShardRows(2999, 24, 0).size(), 125);  // 2999 = 24 * 124 + 23
  EXPECT_EQ(VirtualShardRows(2999, 24, 22).size(), 125);
  EXPECT_EQ(VirtualShardRows(2999, 24, 23).size(), 124);
  EXPECT_EQ(VirtualShardRows(2999, 24, 23).end, 2999);
}

TEST(VirtualShards, RankCountsThatDoNotDivideAreRefusedNamingTheOption) {
  EXPECT_NO_THROW(CheckVirtualShards(24, 8));
  try {
    CheckVirtualShards(24, 5);
    FAIL() << "5 ranks accepted for 24 virtual shards";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(),
                 "--reproducible: 5 ranks do not divide the 24 virtual shards (--virtual-shards "
                 "24); run on 1, 2, 3, 4, 6, 8, 12, 24 ranks, or choose --virtual-shards as a "
                 "multiple of 5 (the same value on every run to compare)");
  }
  EXPECT_THROW(CheckVirtualShards(0, 1), UsageError);
  EXPECT_THROW(CheckVirtualShards(kMaxVirtualShards + 1, 1), UsageError);
}

}  // namespace
}  // namespace shardmax
