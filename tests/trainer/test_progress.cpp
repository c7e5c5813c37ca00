#include <gtest/gtest.h>

#include "trainer/progress.hpp"

namespace shardmax {
namespace {

TEST(Progress, DurationsAreShortAndRounded) {
  EXPECT_EQ(FormatDuration(0.0), "0s");
  EXPECT_EQ(FormatDuration(44.6), "45s");
  EXPECT_EQ(FormatDuration(59.4), "59s");
  EXPECT_EQ(FormatDuration(60.0), "1m00s");
  EXPECT_EQ(FormatDuration(725.0), "12m05s");
  EXPECT_EQ(FormatDuration(3599.0), "59m59s");
  EXPECT_EQ(FormatDuration(3600.0), "1h00m");
  EXPECT_EQ(FormatDuration(10920.0), "3h02m");
  EXPECT_EQ(FormatDuration(-1.0), "?");
  EXPECT_EQ(FormatDuration(1.0 / 0.0), "?");
}

}  // namespace
}  // namespace shardmax
