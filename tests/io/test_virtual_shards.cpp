#include <gtest/gtest.h>

#include <vector>

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

TEST(VirtualShards, RankCountsThatDoNotDivideOrPassTheMaximumAreRefusedNamingTheOption) {
  EXPECT_NO_THROW(CheckVirtualShards(24, 8, 8));
  EXPECT_NO_THROW(CheckVirtualShards(24, 24, 24));
  try {
    CheckVirtualShards(24, 5, 8);
    FAIL() << "5 ranks accepted for 24 virtual shards";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(),
                 "--reproducible: 5 ranks do not divide the 24 virtual shards (--virtual-shards "
                 "24); run on 1, 2, 3, 4, 6, 8 ranks, or choose --virtual-shards as a "
                 "multiple of 5 (the same value on every run to compare)");
  }
  try {
    CheckVirtualShards(24, 12, 8);
    FAIL() << "12 ranks accepted with --max-ranks 8";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(),
                 "--reproducible: 12 ranks are more than --max-ranks 8; run on 1, 2, 3, 4, 6, 8 "
                 "ranks, or raise --max-ranks to 12 (the same value on every run to compare; a "
                 "larger one makes steps slower)");
  }
  EXPECT_THROW(CheckVirtualShards(0, 1, 8), UsageError);
  EXPECT_THROW(CheckVirtualShards(kMaxVirtualShards + 1, 1, 8), UsageError);
}

TEST(VirtualShards, TheLargestRankCountDividesTheVirtualShards) {
  EXPECT_EQ(AllowedRankCounts(24, 8), (std::vector<std::int64_t>{1, 2, 3, 4, 6, 8}));
  EXPECT_EQ(LargestRankCount(24, 8), 8);
  EXPECT_EQ(LargestRankCount(24, 11), 8);
  EXPECT_EQ(LargestRankCount(24, 100), 24);
  EXPECT_EQ(LargestRankCount(7, 6), 1);
}

// Up to 8 ranks, the 24 virtual shards form 12 segments, cut where 3, 4, 6 or 8 ranks (or 2, or
// 1) cut them; up to 24 ranks, every virtual shard is a segment.
TEST(VirtualShards, SegmentsAreCutWhereAnAllowedRankCountCuts) {
  std::vector<std::int64_t> starts;
  for (std::int64_t v = 0; v < 24; ++v) {
    if (StartsSegment(24, 8, v)) starts.push_back(v);
  }
  EXPECT_EQ(starts, (std::vector<std::int64_t>{0, 3, 4, 6, 8, 9, 12, 15, 16, 18, 20, 21}));
  for (std::int64_t v = 0; v < 24; ++v) EXPECT_TRUE(StartsSegment(24, 24, v)) << v;
}

// What the bits rest on: for every V, every allowed rank count's ranks start a segment, so no
// segment is split between two ranks, whatever the rank count.
TEST(VirtualShards, NoSegmentIsSplitBetweenRanksOnAnyAllowedRankCount) {
  for (std::int64_t v = 1; v <= 60; ++v) {
    for (std::int64_t max_ranks = 1; max_ranks <= v; ++max_ranks) {
      for (int ranks = 1; ranks <= max_ranks; ++ranks) {
        if (v % ranks != 0) continue;
        for (int rank = 0; rank < ranks; ++rank) {
          ASSERT_TRUE(StartsSegment(v, max_ranks, RankVirtualShards(v, ranks, rank).first))
              << "V " << v << ", up to " << max_ranks << " ranks, rank " << rank << " of "
              << ranks;
        }
      }
    }
  }
}

}  // namespace
}  // namespace shardmax
