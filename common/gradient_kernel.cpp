#include "common/gradient_kernel.hpp"

#include <algorithm>
#include <vector>

namespace shardmax {
namespace {

namespace ei = Eigen::internal;
using Packet = ei::packet_traits<float>::type;
constexpr Eigen::Index kWidth = ei::packet_traits<float>::size;
// Classes per register tile: 2 rows x 12 logits, or 12 classes x 2 packets of dW, plus the
// operands, fit the 32 vector registers of AVX-512 (and spill little with 16).
constexpr int kMaxTile = 12;
// Many classes: rows per float32 dW sum before it goes into the double sums, so that adding
// K x D doubles costs little beside the products.
constexpr Eigen::Index kGemmSubBlockRows = 512;

using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Buffers reused from block to block (one set per thread).
struct Scratch {
  FloatMatrix weights;   // W rounded to float, K x D
  FloatMatrix features;  // one sub-block as float (when not stored as float)
  FloatMatrix logits;    // float logits of one sub-block (GEMM path)
  Matrix scores;         // logits, then w_i dl/dz_i, in double
  FloatMatrix gradient;  // the same in float
  FloatMatrix weight_gradient;  // dW of one sub-block (GEMM path)
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// z0 = W_tile x0 and z1 = W_tile x1 for KT classes (rows of w, stride d).
template <int KT>
void LogitTile(const float* x0, const float* x1, const float* w, Eigen::Index d, float* z0,
               float* z1) {
  Packet sum0[KT];
  Packet sum1[KT];
#pragma GCC unroll 12
  for (int k = 0; k < KT; ++k) sum0[k] = sum1[k] = ei::pset1<Packet>(0.0f);
  Eigen::Index c = 0;
  for (; c + kWidth <= d; c += kWidth) {
    // The next two rows come from memory: ask for them a pair ahead.
    __builtin_prefetch(x0 + 2 * d + c);
    __builtin_prefetch(x1 + 2 * d + c);
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
    float s0 = ei::predux(sum0[k]);
    float s1 = ei::predux(sum1[k]);
    for (Eigen::Index t = c; t < d; ++t) {
      s0 += x0[t] * w[k * d + t];
      s1 += x1[t] * w[k * d + t];
    }
    z0[k] = s0;
    z1[k] = s1;
  }
}

// dW_tile += G_tile^T X over `rows` rows of x (stride d) and g (stride classes), the float
// partial sums added into the double rows of dw (stride d).
template <int KT>
void WeightGradientTile(const float* x, Eigen::Index rows, Eigen::Index d, const float* g,
                        Eigen::Index classes, double* dw) {
  Eigen::Index c = 0;
  for (; c + 2 * kWidth <= d; c += 2 * kWidth) {
    Packet sum[KT][2];
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) sum[k][0] = sum[k][1] = ei::pset1<Packet>(0.0f);
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Packet a = ei::ploadu<Packet>(x + i * d + c);
      const Packet b = ei::ploadu<Packet>(x + i * d + c + kWidth);
#pragma GCC unroll 12
      for (int k = 0; k < KT; ++k) {
        const Packet scale = ei::pset1<Packet>(g[i * classes + k]);
        sum[k][0] = ei::pmadd(scale, a, sum[k][0]);
        sum[k][1] = ei::pmadd(scale, b, sum[k][1]);
      }
    }
    for (int k = 0; k < KT; ++k) {
      alignas(64) float partial[2 * kWidth];
      ei::pstoreu(partial, sum[k][0]);
      ei::pstoreu(partial + kWidth, sum[k][1]);
      double* out = dw + k * d + c;
      for (Eigen::Index t = 0; t < 2 * kWidth; ++t) out[t] += static_cast<double>(partial[t]);
    }
  }
  if (c + kWidth <= d) {  // one packet of columns left
    Packet sum[KT];
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) sum[k] = ei::pset1<Packet>(0.0f);
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Packet a = ei::ploadu<Packet>(x + i * d + c);
#pragma GCC unroll 12
      for (int k = 0; k < KT; ++k) {
        sum[k] = ei::pmadd(ei::pset1<Packet>(g[i * classes + k]), a, sum[k]);
      }
    }
    for (int k = 0; k < KT; ++k) {
      alignas(64) float partial[kWidth];
      ei::pstoreu(partial, sum[k]);
      double* out = dw + k * d + c;
      for (Eigen::Index t = 0; t < kWidth; ++t) out[t] += static_cast<double>(partial[t]);
    }
    c += kWidth;
  }
  for (; c < d; ++c) {  // less than a packet of columns left
    for (int k = 0; k < KT; ++k) {
      float s = 0.0f;
      for (Eigen::Index i = 0; i < rows; ++i) s += g[i * classes + k] * x[i * d + c];
      dw[k * d + c] += static_cast<double>(s);
    }
  }
}

// Calls tile<KT>(first_class) over the classes in tiles of kMaxTile, then one smaller tile.
template <template <int> class Tile, typename... Args>
void ForEachClassTile(Eigen::Index classes, Args&&... args) {
  Eigen::Index k = 0;
  for (; k + kMaxTile <= classes; k += kMaxTile) Tile<kMaxTile>::Run(k, args...);
  switch (classes - k) {
    case 0: break;
    case 1: Tile<1>::Run(k, args...); break;
    case 2: Tile<2>::Run(k, args...); break;
    case 3: Tile<3>::Run(k, args...); break;
    case 4: Tile<4>::Run(k, args...); break;
    case 5: Tile<5>::Run(k, args...); break;
    case 6: Tile<6>::Run(k, args...); break;
    case 7: Tile<7>::Run(k, args...); break;
    case 8: Tile<8>::Run(k, args...); break;
    case 9: Tile<9>::Run(k, args...); break;
    case 10: Tile<10>::Run(k, args...); break;
    case 11: Tile<11>::Run(k, args...); break;
    default: break;  // unreachable: the loop above leaves fewer than kMaxTile classes
  }
}

template <int KT>
struct LogitsOfTwoRows {
  static void Run(Eigen::Index k, const float* x0, const float* x1, const FloatMatrix& w,
                  float* z0, float* z1) {
    LogitTile<KT>(x0, x1, w.data() + k * w.cols(), w.cols(), z0 + k, z1 + k);
  }
};

template <int KT>
struct WeightGradientOfRows {
  static void Run(Eigen::Index k, const float* x, Eigen::Index rows, Eigen::Index d,
                  const FloatMatrix& g, double* dw) {
    WeightGradientTile<KT>(x, rows, d, g.data() + k, g.cols(), dw + k * d);
  }
};

// Features of one sub-block as float32: the stored rows themselves, or a converted copy.
const float* SubBlockAsFloat(const float* data, Eigen::Index rows, Eigen::Index cols,
                             FloatMatrix* /*buffer*/) {
  static_cast<void>(rows);
  static_cast<void>(cols);
  return data;
}
const float* SubBlockAsFloat(const double* data, Eigen::Index rows, Eigen::Index cols,
                             FloatMatrix* buffer) {
  buffer->resize(rows, cols);
  *buffer = Eigen::Map<const Matrix>(data, rows, cols).cast<float>();
  return buffer->data();
}
const float* SubBlockAsFloat(const std::uint8_t* data, Eigen::Index rows, Eigen::Index cols,
                             FloatMatrix* buffer) {
  using ByteMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  buffer->resize(rows, cols);
  // The reader's own formula: float(value) * (1/255), so the bits match a float32 shard.
  *buffer = Eigen::Map<const ByteMatrix>(data, rows, cols).cast<float>() * (1.0f / 255.0f);
  return buffer->data();
}

// Logits in double with the bias, then the loss turns them into w_i dl/dz_i; adds the loss
// and db, and leaves the float copy of G in scratch->gradient.
void ScoreSubBlock(const Loss& loss, const SoftmaxModel& model, const RowBlock& rows,
                   Scratch* scratch, GradientSums* sums) {
  scratch->scores.rowwise() += model.bias.transpose();
  sums->loss_sum() += loss.SumAndLogitGradient(&scratch->scores, rows);
  // Row by row: Eigen's vectorized column sums would add in an order that depends on where
  // the sums sit in memory.
  double* bias = sums->bias().data();
  for (Eigen::Index i = 0; i < scratch->scores.rows(); ++i) {
    for (Eigen::Index k = 0; k < scratch->scores.cols(); ++k) bias[k] += scratch->scores(i, k);
  }
  scratch->gradient = scratch->scores.cast<float>();
}

void FusedSubBlock(const Loss& loss, const SoftmaxModel& model, const float* x,
                   const RowBlock& rows, Scratch* scratch, GradientSums* sums) {
  const Eigen::Index n = rows.rows();
  const Eigen::Index d = model.features();
  const Eigen::Index classes = model.classes();
  Eigen::Matrix<float, 2, Eigen::Dynamic, Eigen::RowMajor> pair(2, classes);
  scratch->scores.resize(n, classes);
  for (Eigen::Index i = 0; i < n; i += 2) {
    // An odd last row is paired with itself; its twin is dropped.
    const float* x0 = x + i * d;
    const float* x1 = i + 1 < n ? x0 + d : x0;
    ForEachClassTile<LogitsOfTwoRows>(classes, x0, x1, scratch->weights, pair.data(),
                                      pair.data() + classes);
    scratch->scores.row(i) = pair.row(0).cast<double>();
    if (i + 1 < n) scratch->scores.row(i + 1) = pair.row(1).cast<double>();
  }
  ScoreSubBlock(loss, model, rows, scratch, sums);
  // GradientSums keeps dW as one contiguous row-major K x D block.
  ForEachClassTile<WeightGradientOfRows>(classes, x, n, d, scratch->gradient,
                                         sums->weights().data());
}

void GemmSubBlock(const Loss& loss, const SoftmaxModel& model, const float* x,
                  const RowBlock& rows, Scratch* scratch, GradientSums* sums) {
  const Eigen::Map<const FloatMatrix> features(x, rows.rows(), model.features());
  scratch->logits.resize(rows.rows(), model.classes());
  scratch->logits.noalias() = features * scratch->weights.transpose();
  scratch->scores = scratch->logits.cast<double>();
  ScoreSubBlock(loss, model, rows, scratch, sums);
  scratch->weight_gradient.resize(model.classes(), model.features());
  scratch->weight_gradient.noalias() = scratch->gradient.transpose() * features;
  sums->weights() += scratch->weight_gradient.cast<double>();
}

}  // namespace

RowBlock SliceRows(const RowBlock& block, Eigen::Index begin, Eigen::Index count) {
  const auto first = static_cast<std::size_t>(begin);
  const auto size = static_cast<std::size_t>(count);
  const Eigen::Index label_columns = block.targets.cols();
  return RowBlock{
      Eigen::Map<const FeatureMatrix>(
          block.features.data() == nullptr ? nullptr
                                           : block.features.data() + begin * block.features.cols(),
          count, block.features.cols()),
      block.labels.empty() ? block.labels : block.labels.subspan(first, size),
      block.weights.empty() ? block.weights : block.weights.subspan(first, size),
      Eigen::Map<const TargetMatrix>(
          label_columns > 0 ? block.targets.data() + begin * label_columns : nullptr,
          label_columns > 0 ? count : 0, label_columns)};
}

template <typename T>
void AccumulateDenseRows(const Loss& loss, const SoftmaxModel& model, DenseRows<T> rows,
                         const RowBlock& scoring, GradientSums* sums) {
  if (rows.rows == 0) return;
  Scratch& scratch = ThreadScratch();
  scratch.weights = model.weights.cast<float>();
  const bool is_fused = model.classes() <= kFusedMaxClasses;
  const Eigen::Index step = is_fused ? kSubBlockRows : kGemmSubBlockRows;
  for (Eigen::Index begin = 0; begin < rows.rows; begin += step) {
    const Eigen::Index count = std::min(step, rows.rows - begin);
    const float* x =
        SubBlockAsFloat(rows.data + begin * rows.cols, count, rows.cols, &scratch.features);
    const RowBlock part = SliceRows(scoring, begin, count);
    if (is_fused) {
      FusedSubBlock(loss, model, x, part, &scratch, sums);
    } else {
      GemmSubBlock(loss, model, x, part, &scratch, sums);
    }
  }
  sums->count() += scoring.WeightSum();
  sums->rows() += static_cast<double>(rows.rows);
}

template void AccumulateDenseRows<float>(const Loss&, const SoftmaxModel&, DenseRows<float>,
                                         const RowBlock&, GradientSums*);
template void AccumulateDenseRows<double>(const Loss&, const SoftmaxModel&, DenseRows<double>,
                                          const RowBlock&, GradientSums*);
template void AccumulateDenseRows<std::uint8_t>(const Loss&, const SoftmaxModel&,
                                                DenseRows<std::uint8_t>, const RowBlock&,
                                                GradientSums*);

}  // namespace shardmax
