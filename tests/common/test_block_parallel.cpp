// RunBlocksInOrder: every block computed once, combined on the calling thread in block order,
// on any thread count; several threads really used; a worker's exception reaches the caller.
#include "common/block_parallel.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace shardmax {
namespace {

struct Partial {
  std::int64_t block = -1;
  double value = 0.0;
};

// A value whose sum depends on the order of addition.
double BlockValue(std::int64_t block) { return std::sin(static_cast<double>(block)) * 1e-3 + 1.0; }

TEST(BlockParallel, CombinesEveryBlockInOrderOnTheCallingThread) {
  for (int threads : {1, 2, 3, 4}) {
    for (std::int64_t blocks : {0, 1, 2, 7, 50}) {
      const std::thread::id caller = std::this_thread::get_id();
      std::vector<std::int64_t> combined;
      double sum = 0.0;
      RunBlocksInOrder<Partial>(
          threads, blocks, [] { return Partial(); },
          [](std::int64_t block, Partial* partial) {
            if (block % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
            partial->block = block;
            partial->value = BlockValue(block);
          },
          [&](std::int64_t block, const Partial& partial) {
            EXPECT_EQ(std::this_thread::get_id(), caller);
            EXPECT_EQ(partial.block, block);
            combined.push_back(block);
            sum += partial.value;
          });
      std::vector<std::int64_t> expected(static_cast<std::size_t>(blocks));
      double expected_sum = 0.0;
      for (std::int64_t b = 0; b < blocks; ++b) {
        expected[static_cast<std::size_t>(b)] = b;
        expected_sum += BlockValue(b);
      }
      EXPECT_EQ(combined, expected) << threads << " threads, " << blocks << " blocks";
      EXPECT_EQ(std::memcmp(&sum, &expected_sum, sizeof sum), 0);
    }
  }
}

TEST(BlockParallel, UsesTheThreadsAskedForAndNoMoreThanTheBlocks) {
  EXPECT_EQ(PassThreads(4, 100), 4);
  EXPECT_EQ(PassThreads(4, 2), 2);
  EXPECT_EQ(PassThreads(4, 0), 1);
  EXPECT_EQ(PartialSlots(1), 1);
  EXPECT_EQ(PartialSlots(3), 6);
  std::mutex mutex;
  std::set<std::thread::id> computing;
  std::set<int> slots;
  RunBlocksInSlots(
      3, 24,
      [&](std::int64_t, int slot) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const std::lock_guard lock(mutex);
        computing.insert(std::this_thread::get_id());
        slots.insert(slot);
      },
      [](std::int64_t, int) {});
  EXPECT_GT(computing.size(), 1u);
  EXPECT_LE(computing.size(), 3u);
  EXPECT_LE(static_cast<int>(slots.size()), PartialSlots(3));
}

TEST(BlockParallel, ExceptionInAComputeStepReachesTheCaller) {
  for (int threads : {1, 2, 3}) {
    std::int64_t last_combined = -1;
    try {
      RunBlocksInOrder<Partial>(
          threads, 40, [] { return Partial(); },
          [](std::int64_t block, Partial* partial) {
            if (block == 17) throw std::runtime_error("block 17 is bad");
            partial->block = block;
          },
          [&](std::int64_t block, const Partial&) { last_combined = block; });
      ADD_FAILURE() << "no exception on " << threads << " threads";
    } catch (const std::runtime_error& error) {
      EXPECT_STREQ(error.what(), "block 17 is bad");
    }
    EXPECT_LT(last_combined, 17) << threads << " threads";
  }
}

TEST(BlockParallel, ExceptionInACombineStepReachesTheCaller) {
  for (int threads : {1, 2, 4}) {
    EXPECT_THROW(RunBlocksInOrder<Partial>(
                     threads, 30, [] { return Partial(); },
                     [](std::int64_t block, Partial* partial) { partial->block = block; },
                     [](std::int64_t block, const Partial&) {
                       if (block == 5) throw std::invalid_argument("combine 5");
                     }),
                 std::invalid_argument);
  }
}

}  // namespace
}  // namespace shardmax
