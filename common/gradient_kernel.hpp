// The fast gradient pass behind AccumulateBlock: the same sums as the straightforward
//   Z = X W^T + 1 b^T,   G = rows of w_i dl/dz_i (Loss::SumAndLogitGradient),
//   dW += G^T X,   db += 1^T G,   loss += sum_i w_i l_i
// computed sub-block by sub-block (kSubBlockRows rows) while the rows are in cache:
//   - features are read as stored (float32, float64, or uint8 meaning value/255) and turned
//     into the compute type one sub-block at a time, so uint8 costs a quarter of float32's
//     memory traffic;
//   - the two products run in the compute type (Precision): float32, twice as many lanes per
//     vector, agrees with the double reference to about 1e-7 relative; float64 to about 1e-15;
//   - the loss and its gradient always run in double, through the Loss, so every loss, weight
//     and multi-label target behaves exactly as in the straightforward code;
//   - dW is summed in the compute type over one sub-block only, then added into the double
//     sums, so the rounding never grows with the shard size.
// With few classes (K <= kFusedMaxClasses) generic GEMM wastes its time packing X for a
// skinny product: a register-blocked kernel computes 2 rows x up to 12 classes of logits
// per pass over a row, and 12 classes x 2 vectors of dW columns per pass over the sub-block.
// Many classes, and float64 products, use Eigen's GEMM, near peak for such shapes (and
// --reproducible's parts a dW kernel of their own, see AccumulateDenseParts).
// The order of every sum depends only on the block's shape: the same block gives the same
// bits, whatever its address or the rank or thread that computes it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "common/exact_sum.hpp"
#include "common/loss.hpp"
#include "common/model.hpp"
#include "common/objective.hpp"
#include "common/precision.hpp"

namespace shardmax {

inline constexpr Eigen::Index kSubBlockRows = 64;
inline constexpr Eigen::Index kFusedMaxClasses = 32;

// Dense features of a block as stored: row-major, `rows` x `cols`, of element type T
// (float, double, or std::uint8_t read as value/255). With `picked`, the block's row i is row
// picked[i] of `data` instead of row i: a mini-batch read where it lies, with no gathered copy
// (the same bits as the gathered copy).
template <typename T>
struct DenseRows {
  const T* data = nullptr;
  Eigen::Index rows = 0;
  Eigen::Index cols = 0;
  const std::int64_t* picked = nullptr;

  const T* Row(Eigen::Index i) const { return data + (picked ? picked[i] : i) * cols; }
  // Rows [begin, begin + count).
  DenseRows Slice(Eigen::Index begin, Eigen::Index count) const {
    return picked ? DenseRows{data, count, cols, picked + begin}
                  : DenseRows{data + begin * cols, count, cols, nullptr};
  }
};

// dW as a grid sum (common/exact_sum.hpp): each part's dW rounded onto `scale`'s grid as it
// is added into `sums` (K x D entries, row-major, in GridBits); `added` counts the values
// every entry has taken (GridStepsToValues takes their bits(R) off).
struct WeightGridSum {
  GridScale scale;
  std::span<std::int64_t> sums;
  std::int64_t added = 0;
};

// Adds the loss and gradient sums of `rows`, scored against `scoring` (its labels, targets
// and weights; its features are not read, they are `rows`). With a `weight_grid`, dW goes
// there instead of into sums->weights(), each sub-block's dW rounded onto its grid.
template <typename T>
void AccumulateDenseRows(const Loss& loss, const SoftmaxModel& model, DenseRows<T> rows,
                         const RowBlock& scoring, GradientSums* sums,
                         Precision precision = Precision::kFloat32,
                         WeightGridSum* weight_grid = nullptr);

extern template void AccumulateDenseRows<float>(const Loss&, const SoftmaxModel&,
                                                DenseRows<float>, const RowBlock&, GradientSums*,
                                                Precision, WeightGridSum*);
extern template void AccumulateDenseRows<double>(const Loss&, const SoftmaxModel&,
                                                 DenseRows<double>, const RowBlock&,
                                                 GradientSums*, Precision, WeightGridSum*);
extern template void AccumulateDenseRows<std::uint8_t>(const Loss&, const SoftmaxModel&,
                                                       DenseRows<std::uint8_t>, const RowBlock&,
                                                       GradientSums*, Precision,
                                                       WeightGridSum*);

// The sums of a step cut into parts (--reproducible's virtual shards), `part_rows[p]` rows of
// `rows` each, in order, each part's bits those of the part computed alone: the same on any
// rank, whatever other parts it holds. Each part's dW is rounded onto `weight_grid`'s grid as
// it is added into that grid sum (sums->weights() is not touched); each part's loss, db, count
// and rows are added to *sums, then `take_small_sums(sums)` must move them out before the next
// part's come.
// Few classes in float32 run part by part on the register tiles. Otherwise (many classes,
// float64) the logits of all the parts come from one Eigen product, so that W is packed once
// per step and not once per part: with the rows padded to a multiple of kGemmRowMultiple,
// Eigen's products give each row the same bits whatever the row count and the row's place
// (rows of a remainder shorter than a packet take other kernels, which round differently).
// For short parts (at most 128 rows) dW turns the loops inside out instead of calling a
// product per part: for each tile of classes x a panel of columns, every part's sums run in
// registers and are rounded onto a grid tile that stays in L1 across the parts, so rounding
// K x D values per part costs no memory traffic (per part, Eigen's product wrote its K x D
// result out and the rounding read it back, with the grid sums: 1.2 to 1.4 times the default
// step at K = 1000, batch 256). A longer part, whose products outweigh its rounding, takes
// Eigen's product alone. A step of more than kGemmGroupRows rows runs in groups of whole
// parts, so its copy in the compute type stays bounded.
inline constexpr Eigen::Index kGemmRowMultiple = 16;
inline constexpr Eigen::Index kGemmGroupRows = 2048;

template <typename T>
void AccumulateDenseParts(const Loss& loss, const SoftmaxModel& model, DenseRows<T> rows,
                          const RowBlock& scoring, std::span<const std::int64_t> part_rows,
                          WeightGridSum* weight_grid,
                          const std::function<void(GradientSums*)>& take_small_sums,
                          GradientSums* sums, Precision precision);

extern template void AccumulateDenseParts<float>(const Loss&, const SoftmaxModel&,
                                                 DenseRows<float>, const RowBlock&,
                                                 std::span<const std::int64_t>, WeightGridSum*,
                                                 const std::function<void(GradientSums*)>&,
                                                 GradientSums*, Precision);
extern template void AccumulateDenseParts<std::uint8_t>(
    const Loss&, const SoftmaxModel&, DenseRows<std::uint8_t>, const RowBlock&,
    std::span<const std::int64_t>, WeightGridSum*, const std::function<void(GradientSums*)>&,
    GradientSums*, Precision);

// While alive, the kernel on this thread casts `model`'s weights to the compute type of
// `precision` once instead of on every call: for many small blocks against one model (the
// virtual shards of a --reproducible step), where casting K x D weights per block would cost
// as much as the block's products. `model` must not change while this is alive.
class HeldKernelWeights {
 public:
  HeldKernelWeights(const SoftmaxModel& model, Precision precision);
  ~HeldKernelWeights();
  HeldKernelWeights(const HeldKernelWeights&) = delete;
  HeldKernelWeights& operator=(const HeldKernelWeights&) = delete;

 private:
  Precision precision_;
};

// Rows [begin, begin + count) of `block`, with their labels, targets and weights.
RowBlock SliceRows(const RowBlock& block, Eigen::Index begin, Eigen::Index count);

}  // namespace shardmax
