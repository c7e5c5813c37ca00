#include <gtest/gtest.h>

#include "io/shard.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

TEST(Batches, StepsPerEpochRoundsUp) {
  EXPECT_EQ(StepsPerEpoch(1000, 256), 4);
  EXPECT_EQ(StepsPerEpoch(1024, 256), 4);
  EXPECT_EQ(StepsPerEpoch(1000, 5000), 1);  // B >= N: full batch
}

// Every rank runs the same steps; the local batches tile the shard, and with B >= P the
// largest shard contributes a row to every step, so no global batch is empty.
TEST(Batches, LocalBatchesTileTheShardAndNoStepIsEmpty) {
  for (std::int64_t total : {9, 100, 1001}) {
    for (int ranks : {1, 2, 3, 4}) {
      for (std::int64_t batch : {std::int64_t{ranks}, std::int64_t{7}, std::int64_t{64}}) {
        if (batch < ranks || total < ranks) continue;
        const std::int64_t steps = StepsPerEpoch(total, batch);
        std::int64_t global_rows = 0;
        for (std::int64_t step = 0; step < steps; ++step) {
          std::int64_t rows_in_step = 0;
          for (int rank = 0; rank < ranks; ++rank) {
            const std::int64_t local = ShardRows(total, ranks, rank).size();
            const RowRange range = LocalBatch(local, step, steps);
            if (step == 0) {
              EXPECT_EQ(range.begin, 0);
            }
            if (step == steps - 1) {
              EXPECT_EQ(range.end, local);
            }
            rows_in_step += range.size();
          }
          EXPECT_GE(rows_in_step, 1) << total << " rows, " << ranks << " ranks, batch " << batch;
          EXPECT_LE(rows_in_step, batch + ranks);
          global_rows += rows_in_step;
        }
        EXPECT_EQ(global_rows, total);
      }
    }
  }
}

}  // namespace
}  // namespace shardmax
