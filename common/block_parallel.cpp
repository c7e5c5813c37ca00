#include "common/block_parallel.hpp"

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace shardmax {
namespace {

// What the threads of one pass share, under `mutex`. Block b is computed into slot
// b % slots and may be claimed only once block b - slots has been combined.
class BlockSchedule {
 public:
  BlockSchedule(std::int64_t blocks, int slots,
                const std::function<void(std::int64_t, int)>& compute,
                const std::function<void(std::int64_t, int)>& combine)
      : blocks_(blocks), slots_(slots), ready_(static_cast<std::size_t>(slots), false),
        compute_(compute), combine_(combine) {}

  // A worker: computes blocks until none is left or the pass stops.
  void Work() {
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait(lock, [&] { return stop_ || next_ >= blocks_ || CanClaim(); });
      if (stop_ || next_ >= blocks_) return;
      ComputeNext(&lock);
    }
  }

  // The calling thread: combines every block in order, computing blocks itself while the next
  // one to combine is not ready.
  void CombineInOrder() {
    std::unique_lock lock(mutex_);
    while (combined_ < blocks_ && !stop_) {
      const std::size_t slot = SlotOf(combined_);
      if (ready_[slot]) {
        ready_[slot] = false;
        lock.unlock();
        if (!Run(combine_, combined_)) return Stop();
        lock.lock();
        ++combined_;
        changed_.notify_all();
      } else if (CanClaim()) {
        ComputeNext(&lock);
      } else {
        changed_.wait(lock);
      }
    }
  }

  void Stop() {
    const std::lock_guard lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }

  void RethrowError() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  bool CanClaim() const { return next_ < blocks_ && next_ < combined_ + slots_; }
  std::size_t SlotOf(std::int64_t block) const {
    return static_cast<std::size_t>(block % slots_);
  }

  // Claims the next block and computes it with the lock released.
  void ComputeNext(std::unique_lock<std::mutex>* lock) {
    const std::int64_t block = next_++;
    lock->unlock();
    const bool computed = Run(compute_, block);
    lock->lock();
    if (!computed) {
      stop_ = true;
    } else {
      ready_[SlotOf(block)] = true;
    }
    changed_.notify_all();
  }

  // Calls step(block); on an exception keeps the first one and returns false.
  bool Run(const std::function<void(std::int64_t, int)>& step, std::int64_t block) {
    try {
      step(block, static_cast<int>(SlotOf(block)));
      return true;
    } catch (...) {
      const std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      return false;
    }
  }

  const std::int64_t blocks_;
  const std::int64_t slots_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::int64_t next_ = 0;      // the next block to claim
  std::int64_t combined_ = 0;  // blocks combined so far
  std::vector<bool> ready_;    // per slot: computed, not yet combined
  bool stop_ = false;
  std::mutex error_mutex_;
  std::exception_ptr error_;
  const std::function<void(std::int64_t, int)>& compute_;
  const std::function<void(std::int64_t, int)>& combine_;
};

}  // namespace

int CpusOfThisProcess() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) return std::max(1, CPU_COUNT(&mask));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int PassThreads(int threads, std::int64_t blocks) {
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, blocks)));
}

int PartialSlots(int threads) { return threads <= 1 ? 1 : 2 * threads; }

void RunBlocksInSlots(int threads, std::int64_t blocks,
                      const std::function<void(std::int64_t block, int slot)>& compute,
                      const std::function<void(std::int64_t block, int slot)>& combine) {
  const int pass_threads = PassThreads(threads, blocks);
  if (pass_threads == 1) {
    for (std::int64_t block = 0; block < blocks; ++block) {
      compute(block, 0);
      combine(block, 0);
    }
    return;
  }
  BlockSchedule schedule(blocks, PartialSlots(pass_threads), compute, combine);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(pass_threads - 1));
  // Joined on every way out, thrown or not: no worker outlives the partials it writes.
  struct JoinWorkers {
    BlockSchedule& schedule;
    std::vector<std::thread>& workers;
    ~JoinWorkers() {
      schedule.Stop();
      for (std::thread& worker : workers) worker.join();
    }
  } join_workers{schedule, workers};
  for (int t = 1; t < pass_threads; ++t) workers.emplace_back([&schedule] { schedule.Work(); });
  schedule.CombineInOrder();
  schedule.Stop();
  for (std::thread& worker : workers) worker.join();
  workers.clear();
  schedule.RethrowError();
}

}  // namespace shardmax
