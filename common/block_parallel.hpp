// A pass's blocks on several threads of one rank (--threads), with results that do not depend
// on the thread count: each block is computed into a partial of its own, on whichever thread
// is free, and the partials are combined on the calling thread in block order, 0, 1, 2, ...
// With one thread the same two steps run one after the other, so 1 and N threads add the same
// numbers in the same order: the same bits. Only the calling thread combines, so combine may
// call MPI or HDF5 (the workers must not: MPI is initialized without thread support).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace shardmax {

// The CPUs this process may run on (its affinity mask: mpirun binds a rank to one core unless
// told otherwise), or the machine's hardware threads where the mask cannot be read.
int CpusOfThisProcess();

// The threads a pass may use for `blocks` blocks: min(threads, blocks), at least 1.
int PassThreads(int threads, std::int64_t blocks);

// The partial slots RunBlocksInOrder uses: 1 for one thread, else 2 per thread, so a slow
// block holds up at most that many partials, whatever the pass's length.
int PartialSlots(int threads);

// Calls compute(block, slot) for every block in [0, blocks) on PassThreads(threads, blocks)
// threads (the calling thread and the others), and combine(block, slot) on the calling thread
// for every block in order; `slot`, below PartialSlots of those threads, names the partial
// compute writes and combine reads, which no other block uses between the two calls. The
// first exception thrown by either stops the pass: it is rethrown here, on the calling
// thread, once every other thread has stopped.
void RunBlocksInSlots(int threads, std::int64_t blocks,
                      const std::function<void(std::int64_t block, int slot)>& compute,
                      const std::function<void(std::int64_t block, int slot)>& combine);

// RunBlocksInSlots with a Partial per slot, made by make_partial(): compute(block, &partial)
// must overwrite all of *partial (it holds an earlier block's), combine(block, partial) adds it
// into the pass's result.
template <typename Partial, typename MakePartial, typename Compute, typename Combine>
void RunBlocksInOrder(int threads, std::int64_t blocks, const MakePartial& make_partial,
                      const Compute& compute, const Combine& combine) {
  std::vector<Partial> partials;
  const int slots = PartialSlots(PassThreads(threads, blocks));
  partials.reserve(static_cast<std::size_t>(slots));
  for (int slot = 0; slot < slots; ++slot) partials.push_back(make_partial());
  RunBlocksInSlots(
      threads, blocks,
      [&](std::int64_t block, int slot) {
        compute(block, &partials[static_cast<std::size_t>(slot)]);
      },
      [&](std::int64_t block, int slot) {
        combine(block, static_cast<const Partial&>(partials[static_cast<std::size_t>(slot)]));
      });
}

}  // namespace shardmax
