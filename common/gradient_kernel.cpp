#include "common/gradient_kernel.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace shardmax {
namespace {

namespace ei = Eigen::internal;
template <typename Scalar>
using PacketOf = typename ei::packet_traits<Scalar>::type;
template <typename Scalar>
constexpr Eigen::Index kWidthOf = ei::packet_traits<Scalar>::size;
// Classes per register tile: 2 rows x 12 logits, or 12 classes x 2 packets of dW, plus the
// operands, fit the 32 vector registers of AVX-512; half as many classes fit 16 (AVX2).
constexpr int kMaxTile = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 12 : 6;
// Many classes: rows per dW partial sum before it goes into the double sums, so that adding
// K x D doubles costs little beside the products.
constexpr Eigen::Index kGemmSubBlockRows = 512;

template <typename Scalar>
using RowMajorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Buffers reused from block to block (one set per thread and compute type).
template <typename Scalar>
struct Scratch {
  RowMajorOf<Scalar> weights;          // W in the compute type, K x D
  RowMajorOf<Scalar> features;         // one sub-block in the compute type (when stored otherwise)
  RowMajorOf<Scalar> logits;           // logits of one sub-block (GEMM path)
  Matrix scores;                       // logits, then w_i dl/dz_i, in double
  RowMajorOf<Scalar> gradient;         // the same in the compute type
  RowMajorOf<Scalar> weight_gradient;  // dW of one sub-block (GEMM path)
  std::vector<const Scalar*> row_starts;  // where each row of a sub-block starts (fused path)
  const SoftmaxModel* held_model = nullptr;  // whose weights `weights` holds (HeldKernelWeights)

  static Scratch& OfThisThread() {
    thread_local Scratch scratch;
    return scratch;
  }
};

// z0 = W_tile x0 and z1 = W_tile x1 for KT classes (rows of w, stride d); next0 and next1 are
// the rows to prefetch, which come from memory after these.
template <int KT, typename Scalar>
void LogitTile(const Scalar* x0, const Scalar* x1, const Scalar* next0, const Scalar* next1,
               const Scalar* w, Eigen::Index d, Scalar* z0, Scalar* z1) {
  using Packet = PacketOf<Scalar>;
  constexpr Eigen::Index kWidth = kWidthOf<Scalar>;
  Packet sum0[KT];
  Packet sum1[KT];
#pragma GCC unroll 12
  for (int k = 0; k < KT; ++k) sum0[k] = sum1[k] = ei::pset1<Packet>(Scalar(0));
  Eigen::Index c = 0;
  for (; c + kWidth <= d; c += kWidth) {
    __builtin_prefetch(next0 + c);
    __builtin_prefetch(next1 + c);
    const Packet a = ei::ploadu<Packet>(x0 + c);
    const Packet b = ei::ploadu<Packet>(x1 + c);
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) {
      const Packet weight = ei::ploadu<Packet>(w + k * d + c);
      sum0[k] = ei::pmadd(a, weight, sum0[k]);
      sum1[k] = ei::pmadd(b, weight, sum1[k]);
    }
  }
  for (int k = 0; k < KT; ++k) {
    Scalar s0 = ei::predux(sum0[k]);
    Scalar s1 = ei::predux(sum1[k]);
    for (Eigen::Index t = c; t < d; ++t) {
      s0 += x0[t] * w[k * d + t];
      s1 += x1[t] * w[k * d + t];
    }
    z0[k] = s0;
    z1[k] = s1;
  }
}

// dW_tile += G_tile^T X over the `rows` rows x[i] (d values each) and g (stride classes), the
// partial sums (over these rows only) added into the double rows of dw (stride d), each first
// rounded by RoundOntoGrid: onto a grid sum's grid (common/exact_sum.hpp), or not at all when
// round is 0.
template <int KT, typename Scalar>
void WeightGradientTile(const Scalar* const* x, Eigen::Index rows, Eigen::Index d,
                        const Scalar* g, Eigen::Index classes, double* dw, double round) {
  using Packet = PacketOf<Scalar>;
  constexpr Eigen::Index kWidth = kWidthOf<Scalar>;
  Eigen::Index c = 0;
  for (; c + 2 * kWidth <= d; c += 2 * kWidth) {
    Packet sum[KT][2];
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) sum[k][0] = sum[k][1] = ei::pset1<Packet>(Scalar(0));
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Packet a = ei::ploadu<Packet>(x[i] + c);
      const Packet b = ei::ploadu<Packet>(x[i] + c + kWidth);
#pragma GCC unroll 12
      for (int k = 0; k < KT; ++k) {
        const Packet scale = ei::pset1<Packet>(g[i * classes + k]);
        sum[k][0] = ei::pmadd(scale, a, sum[k][0]);
        sum[k][1] = ei::pmadd(scale, b, sum[k][1]);
      }
    }
    for (int k = 0; k < KT; ++k) {
      alignas(64) Scalar partial[2 * kWidth];
      ei::pstoreu(partial, sum[k][0]);
      ei::pstoreu(partial + kWidth, sum[k][1]);
      double* out = dw + k * d + c;
      for (Eigen::Index t = 0; t < 2 * kWidth; ++t) {
        out[t] += RoundOntoGrid(static_cast<double>(partial[t]), round);
      }
    }
  }
  if (c + kWidth <= d) {  // one packet of columns left
    Packet sum[KT];
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) sum[k] = ei::pset1<Packet>(Scalar(0));
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Packet a = ei::ploadu<Packet>(x[i] + c);
#pragma GCC unroll 12
      for (int k = 0; k < KT; ++k) {
        sum[k] = ei::pmadd(ei::pset1<Packet>(g[i * classes + k]), a, sum[k]);
      }
    }
    for (int k = 0; k < KT; ++k) {
      alignas(64) Scalar partial[kWidth];
      ei::pstoreu(partial, sum[k]);
      double* out = dw + k * d + c;
      for (Eigen::Index t = 0; t < kWidth; ++t) {
        out[t] += RoundOntoGrid(static_cast<double>(partial[t]), round);
      }
    }
    c += kWidth;
  }
  for (; c < d; ++c) {  // less than a packet of columns left
    for (int k = 0; k < KT; ++k) {
      Scalar s = 0;
      for (Eigen::Index i = 0; i < rows; ++i) s += g[i * classes + k] * x[i][c];
      dw[k * d + c] += RoundOntoGrid(static_cast<double>(s), round);
    }
  }
}

// Calls tile<KT>(first_class) over the classes in tiles of kMaxTile, then one smaller tile.
template <template <int> class Tile, typename... Args>
void ForEachClassTile(Eigen::Index classes, Args&&... args) {
  Eigen::Index k = 0;
  for (; k + kMaxTile <= classes; k += kMaxTile) Tile<kMaxTile>::Run(k, args...);
  switch (classes - k) {
    case 0:
      break;
    case 1:
      Tile<1>::Run(k, args...);
      break;
    case 2:
      Tile<2>::Run(k, args...);
      break;
    case 3:
      Tile<3>::Run(k, args...);
      break;
    case 4:
      Tile<4>::Run(k, args...);
      break;
    case 5:
      Tile<5>::Run(k, args...);
      break;
    case 6:
      Tile<6>::Run(k, args...);
      break;
    case 7:
      Tile<7>::Run(k, args...);
      break;
    case 8:
      Tile<8>::Run(k, args...);
      break;
    case 9:
      Tile<9>::Run(k, args...);
      break;
    case 10:
      Tile<10>::Run(k, args...);
      break;
    case 11:
      Tile<11>::Run(k, args...);
      break;
    default:
      break;  // unreachable: the loop above leaves fewer than kMaxTile classes
  }
}

template <int KT>
struct LogitsOfTwoRows {
  template <typename Scalar>
  static void Run(Eigen::Index k, const Scalar* x0, const Scalar* x1, const Scalar* next0,
                  const Scalar* next1, const RowMajorOf<Scalar>& w, Scalar* z0, Scalar* z1) {
    LogitTile<KT>(x0, x1, next0, next1, w.data() + k * w.cols(), w.cols(), z0 + k, z1 + k);
  }
};

template <int KT>
struct WeightGradientOfRows {
  template <typename Scalar>
  static void Run(Eigen::Index k, const Scalar* const* x, Eigen::Index rows, Eigen::Index d,
                  const RowMajorOf<Scalar>& g, double* dw, double round) {
    WeightGradientTile<KT>(x, rows, d, g.data() + k, g.cols(), dw + k * d, round);
  }
};

// Features of one sub-block in the compute type: the stored rows themselves, or a converted
// copy. uint8 means ByteToUnit(value) (common/types.hpp), the reader's formula, so the values
// are those of a float32 shard read from the same file. With `aligned`, rows that do not start
// at Eigen's alignment are copied to a buffer that does: Eigen's products choose their code
// (peeling, GEMV for one row) by the address, so the same rows at another address could round
// differently; the register tiles read every address alike.
template <typename Scalar, typename Stored>
const Scalar* SubBlockAs(const Stored* data, Eigen::Index rows, Eigen::Index cols, bool aligned,
                         RowMajorOf<Scalar>* buffer);

// The same for rows [begin, begin + count) of `rows`: picked rows are first gathered into one
// contiguous buffer (in the stored type), then turned into the compute type as above.
template <typename Scalar, typename Stored>
const Scalar* SubBlockAs(DenseRows<Stored> rows, Eigen::Index begin, Eigen::Index count,
                         bool aligned, RowMajorOf<Stored>* gathered, RowMajorOf<Scalar>* buffer) {
  if (rows.picked == nullptr) {
    return SubBlockAs<Scalar>(rows.Row(begin), count, rows.cols, aligned, buffer);
  }
  gathered->resize(count, rows.cols);
  for (Eigen::Index i = 0; i < count; ++i) {
    std::copy_n(rows.Row(begin + i), rows.cols, gathered->data() + i * rows.cols);
  }
  if constexpr (std::is_same_v<Scalar, Stored>) {
    return gathered->data();  // Eigen's allocation is aligned
  } else {
    return SubBlockAs<Scalar>(gathered->data(), count, rows.cols, aligned, buffer);
  }
}

template <typename Scalar, typename Stored>
const Scalar* SubBlockAs(const Stored* data, Eigen::Index rows, Eigen::Index cols, bool aligned,
                         RowMajorOf<Scalar>* buffer) {
  if constexpr (std::is_same_v<Scalar, Stored>) {
    if (!aligned || reinterpret_cast<std::uintptr_t>(data) % EIGEN_MAX_ALIGN_BYTES == 0) {
      return data;
    }
    *buffer = Eigen::Map<const RowMajorOf<Stored>>(data, rows, cols);
    return buffer->data();
  } else if constexpr (std::is_same_v<Stored, std::uint8_t>) {
    buffer->resize(rows, cols);
    if constexpr (std::is_same_v<Scalar, float>) {
      ScaleBytesToUnit(data, rows * cols, buffer->data());
    } else {
      *buffer = (Eigen::Map<const RowMajorOf<std::uint8_t>>(data, rows, cols)
                     .unaryExpr([](std::uint8_t value) { return ByteToUnit(value); }))
                    .template cast<Scalar>();
    }
    return buffer->data();
  } else {
    *buffer = Eigen::Map<const RowMajorOf<Stored>>(data, rows, cols).template cast<Scalar>();
    return buffer->data();
  }
}

// Adds the bias to the logits (scratch->scores, in double), lets the loss turn them into
// w_i dl/dz_i, adds the loss and db, and leaves G in the compute type in scratch->gradient.
template <typename Scalar>
void ScoreSubBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& rows,
                   Scratch<Scalar>* scratch, GradientSums* sums) {
  scratch->scores.rowwise() += model.bias.transpose();
  sums->loss_sum() += loss.SumAndLogitGradient(&scratch->scores, rows);
  // Row by row: Eigen's vectorized column sums would add in an order that depends on where
  // the sums sit in memory.
  double* bias = sums->bias().data();
  for (Eigen::Index i = 0; i < scratch->scores.rows(); ++i) {
    for (Eigen::Index k = 0; k < scratch->scores.cols(); ++k) bias[k] += scratch->scores(i, k);
  }
  scratch->gradient = scratch->scores.template cast<Scalar>();
}

// x[i] is where row i of the sub-block starts: consecutive rows, or rows picked where they lie.
template <typename Scalar>
void FusedSubBlock(const Loss& loss, const SoftmaxModel& model, const Scalar* const* x,
                   const RowBlock& rows, double round, Scratch<Scalar>* scratch,
                   GradientSums* sums) {
  const Eigen::Index n = rows.rows();
  const Eigen::Index d = model.features();
  const Eigen::Index classes = model.classes();
  Eigen::Matrix<Scalar, 2, Eigen::Dynamic, Eigen::RowMajor> pair(2, classes);
  scratch->scores.resize(n, classes);
  for (Eigen::Index i = 0; i < n; i += 2) {
    // An odd last row is paired with itself; its twin is dropped.
    const Scalar* x0 = x[i];
    const Scalar* x1 = i + 1 < n ? x[i + 1] : x0;
    const Scalar* next0 = i + 2 < n ? x[i + 2] : x0;  // the next pair, while it exists
    const Scalar* next1 = i + 3 < n ? x[i + 3] : x0;
    ForEachClassTile<LogitsOfTwoRows>(classes, x0, x1, next0, next1, scratch->weights,
                                      pair.data(), pair.data() + classes);
    scratch->scores.row(i) = pair.row(0).template cast<double>();
    if (i + 1 < n) scratch->scores.row(i + 1) = pair.row(1).template cast<double>();
  }
  ScoreSubBlock(loss, model, rows, scratch, sums);
  // GradientSums keeps dW as one contiguous row-major K x D block.
  ForEachClassTile<WeightGradientOfRows>(classes, x, n, d, scratch->gradient,
                                         sums->weights().data(), round);
}

template <typename Scalar>
void GemmSubBlock(const Loss& loss, const SoftmaxModel& model, const Scalar* x,
                  const RowBlock& rows, double round, Scratch<Scalar>* scratch,
                  GradientSums* sums) {
  const Eigen::Map<const RowMajorOf<Scalar>> features(x, rows.rows(), model.features());
  scratch->logits.resize(rows.rows(), model.classes());
  scratch->logits.noalias() = features * scratch->weights.transpose();
  scratch->scores = scratch->logits.template cast<double>();
  ScoreSubBlock(loss, model, rows, scratch, sums);
  scratch->weight_gradient.resize(model.classes(), model.features());
  scratch->weight_gradient.noalias() = scratch->gradient.transpose() * features;
  if (round == 0.0) {
    sums->weights() += scratch->weight_gradient.template cast<double>();
  } else {  // RoundOntoGrid, as one Eigen expression
    sums->weights().array() +=
        (scratch->weight_gradient.template cast<double>().array() + round) - round;
  }
}

// Picked rows of one sub-block gathered in their stored type (one buffer per thread and type).
template <typename Stored>
RowMajorOf<Stored>& Gathered() {
  thread_local RowMajorOf<Stored> rows;
  return rows;
}

template <typename Scalar, typename Stored>
void AccumulateIn(const Loss& loss, const SoftmaxModel& model, DenseRows<Stored> rows,
                  const RowBlock& scoring, double round, GradientSums* sums) {
  Scratch<Scalar>& scratch = Scratch<Scalar>::OfThisThread();
  if (scratch.held_model != &model) scratch.weights = model.weights.template cast<Scalar>();
  // float64 products go through Eigen's GEMM: with half the lanes, the fused kernel's
  // register tiles gain nothing over it.
  const bool is_fused = std::is_same_v<Scalar, float> && model.classes() <= kFusedMaxClasses;
  const Eigen::Index step = is_fused ? kSubBlockRows : kGemmSubBlockRows;
  for (Eigen::Index begin = 0; begin < rows.rows; begin += step) {
    const Eigen::Index count = std::min(step, rows.rows - begin);
    const RowBlock part = SliceRows(scoring, begin, count);
    if (is_fused) {
      // Rows already in the compute type are read where they lie, picked or not.
      scratch.row_starts.resize(static_cast<std::size_t>(count));
      if constexpr (std::is_same_v<Scalar, Stored>) {
        for (Eigen::Index i = 0; i < count; ++i) {
          scratch.row_starts[static_cast<std::size_t>(i)] = rows.Row(begin + i);
        }
      } else {
        const Scalar* x = SubBlockAs<Scalar>(rows, begin, count, /*aligned=*/false,
                                             &Gathered<Stored>(), &scratch.features);
        for (Eigen::Index i = 0; i < count; ++i) {
          scratch.row_starts[static_cast<std::size_t>(i)] = x + i * rows.cols;
        }
      }
      FusedSubBlock(loss, model, scratch.row_starts.data(), part, round, &scratch, sums);
    } else {
      const Scalar* x = SubBlockAs<Scalar>(rows, begin, count, /*aligned=*/true,
                                           &Gathered<Stored>(), &scratch.features);
      GemmSubBlock(loss, model, x, part, round, &scratch, sums);
    }
  }
}

template <typename Scalar>
void HoldWeights(const SoftmaxModel* model) {
  Scratch<Scalar>& scratch = Scratch<Scalar>::OfThisThread();
  if (model != nullptr) scratch.weights = model->weights.template cast<Scalar>();
  scratch.held_model = model;
}

}  // namespace

HeldKernelWeights::HeldKernelWeights(const SoftmaxModel& model, Precision precision)
    : precision_(precision) {
  if (precision_ == Precision::kFloat32) {
    HoldWeights<float>(&model);
  } else {
    HoldWeights<double>(&model);
  }
}

HeldKernelWeights::~HeldKernelWeights() {
  if (precision_ == Precision::kFloat32) {
    HoldWeights<float>(nullptr);
  } else {
    HoldWeights<double>(nullptr);
  }
}

RowBlock SliceRows(const RowBlock& block, Eigen::Index begin, Eigen::Index count) {
  const auto first = static_cast<std::size_t>(begin);
  const auto size = static_cast<std::size_t>(count);
  const Eigen::Index label_columns = block.targets.cols();
  return RowBlock{
      Eigen::Map<const FeatureMatrix>(block.features.data() == nullptr
                                          ? nullptr
                                          : block.features.data() + begin * block.features.cols(),
                                      count, block.features.cols()),
      block.labels.empty() ? block.labels : block.labels.subspan(first, size),
      block.weights.empty() ? block.weights : block.weights.subspan(first, size),
      Eigen::Map<const TargetMatrix>(
          label_columns > 0 ? block.targets.data() + begin * label_columns : nullptr,
          label_columns > 0 ? count : 0, label_columns),
      {},
      block.first_row >= 0 ? block.first_row + begin : -1,
      block.bytes.is_set() ? ByteRows{block.bytes.data + begin * block.bytes.cols, block.bytes.cols}
                           : ByteRows{}};
}

template <typename T>
void AccumulateDenseRows(const Loss& loss, const SoftmaxModel& model, DenseRows<T> rows,
                         const RowBlock& scoring, GradientSums* sums, Precision precision,
                         const GridScale* weight_grid) {
  if (rows.rows == 0) return;
  const double round = weight_grid != nullptr ? weight_grid->round() : 0.0;
  if (precision == Precision::kFloat32) {
    AccumulateIn<float>(loss, model, rows, scoring, round, sums);
  } else {
    AccumulateIn<double>(loss, model, rows, scoring, round, sums);
  }
  sums->count() += scoring.WeightSum();
  sums->rows() += static_cast<double>(rows.rows);
}

template void AccumulateDenseRows<float>(const Loss&, const SoftmaxModel&, DenseRows<float>,
                                         const RowBlock&, GradientSums*, Precision,
                                         const GridScale*);
template void AccumulateDenseRows<double>(const Loss&, const SoftmaxModel&, DenseRows<double>,
                                          const RowBlock&, GradientSums*, Precision,
                                         const GridScale*);
template void AccumulateDenseRows<std::uint8_t>(const Loss&, const SoftmaxModel&,
                                                DenseRows<std::uint8_t>, const RowBlock&,
                                                GradientSums*, Precision, const GridScale*);

}  // namespace shardmax
