#include <gtest/gtest.h>

#include "io/shard.hpp"

namespace shardmax {
namespace {

TEST(ShardRows, CoverAllRowsContiguouslyWithSizesWithinOne) {
  for (std::int64_t total : {1, 7, 10, 1000, 1001}) {
    for (int parts : {1, 2, 3, 4, 7}) {
      std::int64_t expected_begin = 0;
      std::int64_t smallest = total;
      std::int64_t largest = 0;
      for (int index = 0; index < parts; ++index) {
        const RowRange range = ShardRows(total, parts, index);
        EXPECT_EQ(range.begin, expected_begin);
        expected_begin = range.end;
        smallest = std::min(smallest, range.size());
        largest = std::max(largest, range.size());
      }
      EXPECT_EQ(expected_begin, total);
      EXPECT_LE(largest - smallest, 1) << total << " rows over " << parts;
    }
  }
}

TEST(ShardRows, NotDivisibleGivesTheExtraRowsToTheFirstParts) {
  EXPECT_EQ(ShardRows(10, 4, 0).size(), 3);
  EXPECT_EQ(ShardRows(10, 4, 1).size(), 3);
  EXPECT_EQ(ShardRows(10, 4, 2).size(), 2);
  EXPECT_EQ(ShardRows(10, 4, 3).begin, 8);
}

TEST(ShardRows, MorePartsThanRowsLeavesSomeEmpty) {
  // The reader refuses this case with a clear error; the arithmetic stays well defined.
  EXPECT_EQ(ShardRows(2, 4, 1).size(), 1);
  EXPECT_EQ(ShardRows(2, 4, 2).size(), 0);
  EXPECT_EQ(ShardRows(2, 4, 3).begin, 2);
}

}  // namespace
}  // namespace shardmax
