#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/random.hpp"

namespace shardmax {
namespace {

TEST(ShuffledOrder, IsAPermutationThatDependsOnlyOnTheStream) {
  const auto order = ShuffledOrder(1000, SplitMix64::ForStream(1, 2, 3));
  std::vector<std::int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(order, ShuffledOrder(1000, SplitMix64::ForStream(1, 2, 3)));
  EXPECT_NE(order, ShuffledOrder(1000, SplitMix64::ForStream(1, 2, 4)));
  EXPECT_NE(order, ShuffledOrder(1000, SplitMix64::ForStream(2, 2, 3)));
}

TEST(SplitMix64, FirstOutputsMatchTheReferenceSequence) {
  // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
  SplitMix64 generator(0);
  EXPECT_EQ(generator.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(generator.Next(), 0x6e789e6aa1b965f4ULL);
}

TEST(SplitMix64, NormalHasUnitMoments) {
  SplitMix64 generator(5);
  double sum = 0.0;
  double squares = 0.0;
  const int count = 200000;
  for (int i = 0; i < count; ++i) {
    const double value = generator.Normal();
    sum += value;
    squares += value * value;
  }
  EXPECT_NEAR(sum / count, 0.0, 0.01);
  EXPECT_NEAR(squares / count, 1.0, 0.01);
}

}  // namespace
}  // namespace shardmax
