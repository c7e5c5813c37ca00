#include "common/gradient_kernel.hpp"

#include <algorithm>
#include <bit>
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
// Classes per register tile of dW: 12 classes x 2 packets of columns, plus the operands, fit
// the 32 vector registers of AVX-512; half as many classes fit 16 (SSE, AVX2).
constexpr int kMaxTile = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 12 : 6;
// Logits: kLogitRows rows x up to kMaxLogitTile classes per register tile (4 x 6 sums with
// AVX-512, 2 x 6 with 16 registers). Few classes per tile keep a tile's rows of W and the
// rows of x in L1 together (32 KiB on Zen 4, where 10 classes of W at D = 784 alone fill it).
constexpr int kLogitRows = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 4 : 2;
constexpr int kMaxLogitTile = 6;
constexpr Eigen::Index kCacheLine = 64;  // bytes, what one prefetch brings in
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
  Matrix group_logits;                 // logits of a sub-block of whole parts (fused path)
  RowMajorOf<Scalar> gradient;         // the same in the compute type
  RowMajorOf<Scalar> weight_gradient;  // dW of one sub-block (GEMM path)
  RowMajorOf<Scalar> step_features;    // a step's rows, a cache line per row start (parts)
  RowMajorOf<Scalar> step_gradient;    // their G, the same way
  std::vector<std::int64_t> block_grid;  // a block of columns of dW on the grid (long parts)
  RowMajorOf<Scalar> packed_gradient;  // a step's G, class tile by class tile (parts)
  RowMajorOf<Scalar> packed_features;  // a block of panels of its rows, panel by panel (parts)
  std::vector<const Scalar*> row_starts;  // where each row of a sub-block starts (fused path)
  const SoftmaxModel* held_model = nullptr;  // whose weights `weights` holds (HeldKernelWeights)

  static Scratch& OfThisThread() {
    thread_local Scratch scratch;
    return scratch;
  }
  // This thread's scratch, `weights` holding the model's W in the compute type.
  static Scratch& WithWeightsOf(const SoftmaxModel& model) {
    Scratch& scratch = OfThisThread();
    if (scratch.held_model != &model) scratch.weights = model.weights.template cast<Scalar>();
    return scratch;
  }
};

// Makes the compiler hold `packet` in a register, where it would fold the load into each use.
template <typename Packet>
inline void KeepInRegister(Packet& packet) {
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+v"(packet));
#else
  (void)packet;
#endif
}

// What the first class tile of a group of rows prefetches while it computes: the rows of the
// next group (next[r]), and a share of the next sub-block's stored rows when those are
// converted before use (`lines` >= 1 cache lines from `ahead`, one per packet of columns as
// far as they go). Without the latter, every line the conversion read waited on memory: the
// hardware prefetchers stop at each page and fall silent while the products run (a fifth of
// a pass over uint8 rows); all at once, the prefetches themselves stalled.
template <typename Scalar>
struct RowPrefetch {
  const Scalar* const* next;
  const char* ahead;
  Eigen::Index lines;
};

// z_r = W_tile x_r for kLogitRows rows x_r and KT classes (rows of w, stride d; z_r at
// z + r * z_stride), with kPrefetch prefetching as `prefetch` says. Each W packet is loaded
// once for all the rows: folded into every multiply-add, it would cost a load each and the
// loads, not the multiply-adds, would set the pace.
// Not inlined: inside its caller, the compiler kept the sums on the stack.
template <int KT, bool kPrefetch, typename Scalar>
__attribute__((noinline)) void LogitTile(const Scalar* const* x,
                                         const RowPrefetch<Scalar>& prefetch, const Scalar* w,
                                         Eigen::Index d, Scalar* z, Eigen::Index z_stride) {
  using Packet = PacketOf<Scalar>;
  constexpr Eigen::Index kWidth = kWidthOf<Scalar>;
  constexpr int kRows = kLogitRows;
  Packet sum[kRows][KT];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 6
    for (int k = 0; k < KT; ++k) sum[r][k] = ei::pset1<Packet>(Scalar(0));
  }
  // Branch-free (a branch here cost the sums their registers): once the lines are done, the
  // last one again, already in cache.
  const char* ahead = prefetch.ahead;
  const char* const ahead_last = ahead + (prefetch.lines - 1) * kCacheLine;
  Eigen::Index c = 0;
  for (; c + kWidth <= d; c += kWidth) {
    if constexpr (kPrefetch) {
      __builtin_prefetch(ahead);
      ahead = std::min(ahead + kCacheLine, ahead_last);
    }
    Packet a[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      if constexpr (kPrefetch) __builtin_prefetch(prefetch.next[r] + c);
      a[r] = ei::ploadu<Packet>(x[r] + c);
    }
#pragma GCC unroll 6
    for (int k = 0; k < KT; ++k) {
      Packet weight = ei::ploadu<Packet>(w + k * d + c);
      KeepInRegister(weight);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) sum[r][k] = ei::pmadd(a[r], weight, sum[r][k]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int k = 0; k < KT; ++k) {
      Scalar total = ei::predux(sum[r][k]);
      for (Eigen::Index t = c; t < d; ++t) total += x[r][t] * w[k * d + t];
      z[r * z_stride + k] = total;
    }
  }
}

// The two halves of a packet of floats, widened to packets of doubles (exactly) in registers.
inline void WidenPacket(const PacketOf<float>& values, PacketOf<double>* low,
                        PacketOf<double>* high) {
#if defined(EIGEN_VECTORIZE_AVX512)
  *low = _mm512_cvtps_pd(_mm512_castps512_ps256(values));
  *high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(values), 1)));
#elif defined(EIGEN_VECTORIZE_AVX)
  *low = _mm256_cvtps_pd(_mm256_castps256_ps128(values));
  *high = _mm256_cvtps_pd(_mm256_extractf128_ps(values, 1));
#elif defined(EIGEN_VECTORIZE_SSE2)
  *low = _mm_cvtps_pd(values);
  *high = _mm_cvtps_pd(_mm_movehl_ps(values, values));
#else
  static_assert(kWidthOf<float> == 1, "a vector ISA without a float-to-double widening here");
  *low = static_cast<double>(values);
  *high = *low;  // unused: one float per packet widens to one double
#endif
}

// Where a block's dW goes: added into double sums (the default mode), or rounded onto a grid
// and added into its grid sum (WeightGridSum, --reproducible), K x D entries either way.
struct WeightSink {
  double* sums = nullptr;
  std::int64_t* grid = nullptr;  // the grid sum's entries, when on a grid
  double round = 0.0;            // its GridScale::round()

  bool on_grid() const { return grid != nullptr; }
  // The sink of the entries from `offset` on.
  WeightSink At(Eigen::Index offset) const {
    return on_grid() ? WeightSink{nullptr, grid + offset, round} : WeightSink{sums + offset};
  }
};

// grid[t] += bits(value[t] + shift[t]) (GridBits) for one packet of doubles, in registers.
inline void AddGridBits(const PacketOf<double>& value, const PacketOf<double>& shift,
                        std::int64_t* grid) {
  const PacketOf<double> bits = ei::padd(value, shift);
#if defined(EIGEN_VECTORIZE_AVX512)
  _mm512_storeu_si512(grid, _mm512_add_epi64(_mm512_loadu_si512(grid), _mm512_castpd_si512(bits)));
#elif defined(EIGEN_VECTORIZE_AVX2)
  auto* at = reinterpret_cast<__m256i*>(grid);
  _mm256_storeu_si256(at, _mm256_add_epi64(_mm256_loadu_si256(at), _mm256_castpd_si256(bits)));
#elif defined(EIGEN_VECTORIZE_AVX)  // 256-bit doubles, but integers in 128 bits
  auto* at = reinterpret_cast<__m128i*>(grid);
  _mm_storeu_si128(at, _mm_add_epi64(_mm_loadu_si128(at),
                                     _mm_castpd_si128(_mm256_castpd256_pd128(bits))));
  _mm_storeu_si128(at + 1, _mm_add_epi64(_mm_loadu_si128(at + 1),
                                         _mm_castpd_si128(_mm256_extractf128_pd(bits, 1))));
#elif defined(EIGEN_VECTORIZE_SSE2)
  auto* at = reinterpret_cast<__m128i*>(grid);
  _mm_storeu_si128(at, _mm_add_epi64(_mm_loadu_si128(at), _mm_castpd_si128(bits)));
#else
  double lanes[kWidthOf<double>];
  ei::pstoreu(lanes, bits);
  for (Eigen::Index t = 0; t < kWidthOf<double>; ++t) {
    AddWrapping(std::bit_cast<std::int64_t>(lanes[t]), grid + t);
  }
#endif
}

// The kWidthOf<Scalar> values of one packet into the sink at `at`: added to the double sums,
// or (kOnGrid, with shift = pset1(round)) as GridBits to the grid sum, widened in registers
// either way. With few rows per call (--reproducible's parts of a step), adding a value at a
// time cost as much as the products.
template <bool kOnGrid, typename Scalar>
inline void AddPacketTo(const PacketOf<Scalar>& values, WeightSink sink, Eigen::Index at,
                        const PacketOf<double>& shift) {
  using Packet = PacketOf<double>;
  const auto add = [&](const Packet& value, Eigen::Index offset) {
    if constexpr (kOnGrid) {
      AddGridBits(value, shift, sink.grid + at + offset);
    } else {
      double* sums = sink.sums + at + offset;
      ei::pstoreu(sums, ei::padd(ei::ploadu<Packet>(sums), value));
    }
  };
  if constexpr (std::is_same_v<Scalar, double>) {
    add(values, 0);
  } else {
    Packet low;
    Packet high;
    WidenPacket(values, &low, &high);
    add(low, 0);
    if constexpr (kWidthOf<float> > 1) add(high, kWidthOf<double>);
  }
}

// One value into the sink at `at`, as AddPacketTo.
template <bool kOnGrid>
inline void AddValueTo(double value, WeightSink sink, Eigen::Index at) {
  if constexpr (kOnGrid) {
    AddWrapping(GridBits(value, sink.round), sink.grid + at);
  } else {
    sink.sums[at] += value;
  }
}

// `count` values of partial into the sink: packet by packet, then value by value.
template <bool kOnGrid, typename Scalar>
void AddRowTo(const Scalar* partial, Eigen::Index count, WeightSink sink) {
  const PacketOf<double> shift = ei::pset1<PacketOf<double>>(sink.round);
  Eigen::Index t = 0;
  for (; t + kWidthOf<Scalar> <= count; t += kWidthOf<Scalar>) {
    AddPacketTo<kOnGrid, Scalar>(ei::ploadu<PacketOf<Scalar>>(partial + t), sink, t, shift);
  }
  for (; t < count; ++t) AddValueTo<kOnGrid>(static_cast<double>(partial[t]), sink, t);
}

template <typename Scalar>
void AddRowTo(const Scalar* partial, Eigen::Index count, WeightSink sink) {
  if (sink.on_grid()) {
    AddRowTo<true>(partial, count, sink);
  } else {
    AddRowTo<false>(partial, count, sink);
  }
}

// dW_tile += G_tile^T X over the `rows` rows x[i] (d values each) and g (stride classes), the
// partial sums (over these rows only) added into the sink's rows (stride d): into double sums,
// or (kOnGrid) rounded onto the grid and added to the grid sum, one value more in each entry.
template <int KT, bool kOnGrid, typename Scalar>
void WeightGradientTile(const Scalar* const* x, Eigen::Index rows, Eigen::Index d,
                        const Scalar* g, Eigen::Index classes, WeightSink dw) {
  using Packet = PacketOf<Scalar>;
  constexpr Eigen::Index kWidth = kWidthOf<Scalar>;
  const PacketOf<double> shift = ei::pset1<PacketOf<double>>(dw.round);
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
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) {
      AddPacketTo<kOnGrid, Scalar>(sum[k][0], dw, k * d + c, shift);
      AddPacketTo<kOnGrid, Scalar>(sum[k][1], dw, k * d + c + kWidth, shift);
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
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) AddPacketTo<kOnGrid, Scalar>(sum[k], dw, k * d + c, shift);
    c += kWidth;
  }
  for (; c < d; ++c) {  // less than a packet of columns left
    for (int k = 0; k < KT; ++k) {
      Scalar s = 0;
      for (Eigen::Index i = 0; i < rows; ++i) s += g[i * classes + k] * x[i][c];
      AddValueTo<kOnGrid>(static_cast<double>(s), dw, k * d + c);
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

// LogitTile for a tile of `size` classes (1 to kMaxLogitTile).
template <bool kPrefetch, typename Scalar>
void LogitTileOfSize(int size, const Scalar* const* x, const RowPrefetch<Scalar>& prefetch,
                     const Scalar* w, Eigen::Index d, Scalar* z, Eigen::Index z_stride) {
  switch (size) {
    case 1:
      return LogitTile<1, kPrefetch>(x, prefetch, w, d, z, z_stride);
    case 2:
      return LogitTile<2, kPrefetch>(x, prefetch, w, d, z, z_stride);
    case 3:
      return LogitTile<3, kPrefetch>(x, prefetch, w, d, z, z_stride);
    case 4:
      return LogitTile<4, kPrefetch>(x, prefetch, w, d, z, z_stride);
    case 5:
      return LogitTile<5, kPrefetch>(x, prefetch, w, d, z, z_stride);
    default:
      return LogitTile<kMaxLogitTile, kPrefetch>(x, prefetch, w, d, z, z_stride);
  }
}

// The logits of kLogitRows rows x (z: kLogitRows x K), over the classes in tiles of at most
// kMaxLogitTile, as even as can be; the first tile prefetches.
template <typename Scalar>
void LogitsOfRows(const Scalar* const* x, const RowPrefetch<Scalar>& prefetch,
                  const RowMajorOf<Scalar>& w, Scalar* z) {
  const int classes = static_cast<int>(w.rows());
  const int tiles = (classes + kMaxLogitTile - 1) / kMaxLogitTile;
  for (int tile = 0, k = 0; tile < tiles; ++tile) {
    const int size = classes / tiles + (tile < classes % tiles ? 1 : 0);
    const Scalar* w_tile = w.data() + k * w.cols();
    if (tile == 0) {
      LogitTileOfSize<true>(size, x, prefetch, w_tile, w.cols(), z + k, classes);
    } else {
      LogitTileOfSize<false>(size, x, prefetch, w_tile, w.cols(), z + k, classes);
    }
    k += size;
  }
}

template <int KT>
struct WeightGradientOfRows {
  template <typename Scalar>
  static void Run(Eigen::Index k, const Scalar* const* x, Eigen::Index rows, Eigen::Index d,
                  const RowMajorOf<Scalar>& g, WeightSink dw) {
    if (dw.on_grid()) {
      WeightGradientTile<KT, true>(x, rows, d, g.data() + k, g.cols(), dw.At(k * d));
    } else {
      WeightGradientTile<KT, false>(x, rows, d, g.data() + k, g.cols(), dw.At(k * d));
    }
  }
};

// `count` stored values in the compute type: uint8 as ByteToUnit, the reader's formula.
template <typename Scalar, typename Stored>
void ConvertValues(const Stored* values, Eigen::Index count, Scalar* out) {
  if constexpr (std::is_same_v<Scalar, float> && std::is_same_v<Stored, std::uint8_t>) {
    ScaleBytesToUnit(values, count, out);
  } else if constexpr (std::is_same_v<Stored, std::uint8_t>) {
    for (Eigen::Index j = 0; j < count; ++j) out[j] = static_cast<Scalar>(ByteToUnit(values[j]));
  } else {  // Eigen's cast runs in packets
    Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>(out, count) =
        Eigen::Map<const Eigen::Array<Stored, Eigen::Dynamic, 1>>(values, count)
            .template cast<Scalar>();
  }
}

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
  } else {
    buffer->resize(rows, cols);
    ConvertValues(data, rows * cols, buffer->data());
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

// Stored bytes to prefetch while a sub-block is computed (RowPrefetch).
struct PrefetchSpan {
  const char* begin = nullptr;
  std::size_t bytes = 0;
};

// The logits of the n rows x[i] (consecutive rows, or rows picked where they lie) into
// *logits (n x K, in double), the stored bytes of `ahead` prefetched along the way. Each row's
// logits are its own: which rows share a call changes no bit.
template <typename Scalar>
void LogitsOfSubBlock(const Scalar* const* x, Eigen::Index n, PrefetchSpan ahead,
                      const RowMajorOf<Scalar>& weights, Matrix* logits) {
  const Eigen::Index classes = weights.rows();
  Eigen::Matrix<Scalar, kLogitRows, Eigen::Dynamic, Eigen::RowMajor> group_logits(kLogitRows,
                                                                                  classes);
  logits->resize(n, classes);
  // The span spread over the groups of rows, a share each.
  const std::size_t groups = static_cast<std::size_t>((n + kLogitRows - 1) / kLogitRows);
  const std::size_t share = (ahead.bytes + groups - 1) / groups;
  for (Eigen::Index i = 0; i < n; i += kLogitRows) {
    const std::size_t from = static_cast<std::size_t>(i / kLogitRows) * share;
    const std::size_t bytes = std::min(share, ahead.bytes - std::min(from, ahead.bytes));
    // A last group short of rows repeats its last row; the repeats' logits are dropped.
    const Scalar* group[kLogitRows];
    const Scalar* next[kLogitRows];
    for (Eigen::Index r = 0; r < kLogitRows; ++r) {
      group[r] = x[std::min(i + r, n - 1)];
      next[r] = i + kLogitRows + r < n ? x[i + kLogitRows + r] : group[r];
    }
    // With nothing ahead, one line of this group's first row stands in (RowPrefetch).
    const auto lines = static_cast<Eigen::Index>(bytes + kCacheLine - 1) / kCacheLine;
    const RowPrefetch<Scalar> prefetch =
        bytes > 0 ? RowPrefetch<Scalar>{next, ahead.begin + from, lines}
                  : RowPrefetch<Scalar>{next, reinterpret_cast<const char*>(group[0]), 1};
    LogitsOfRows(group, prefetch, weights, group_logits.data());
    for (Eigen::Index r = 0; r < kLogitRows && i + r < n; ++r) {
      logits->row(i + r) = group_logits.row(r).template cast<double>();
    }
  }
}

// The rest of a fused sub-block once its logits are in scratch->scores: the loss, db and dW of
// its rows x[i], dW into the sink.
template <typename Scalar>
void ScoreAndWeightGradient(const Loss& loss, const SoftmaxModel& model, const Scalar* const* x,
                            const RowBlock& rows, WeightSink dw, Scratch<Scalar>* scratch,
                            GradientSums* sums) {
  ScoreSubBlock(loss, model, rows, scratch, sums);
  // GradientSums keeps dW as one contiguous row-major K x D block.
  ForEachClassTile<WeightGradientOfRows>(model.classes(), x, rows.rows(), model.features(),
                                         scratch->gradient, dw);
}

template <typename Scalar>
void FusedSubBlock(const Loss& loss, const SoftmaxModel& model, const Scalar* const* x,
                   const RowBlock& rows, WeightSink dw, PrefetchSpan ahead,
                   Scratch<Scalar>* scratch, GradientSums* sums) {
  LogitsOfSubBlock(x, rows.rows(), ahead, scratch->weights, &scratch->scores);
  ScoreAndWeightGradient(loss, model, x, rows, dw, scratch, sums);
}

template <typename Scalar>
void GemmSubBlock(const Loss& loss, const SoftmaxModel& model, const Scalar* x,
                  const RowBlock& rows, WeightSink dw, Scratch<Scalar>* scratch,
                  GradientSums* sums) {
  const Eigen::Map<const RowMajorOf<Scalar>> features(x, rows.rows(), model.features());
  scratch->logits.resize(rows.rows(), model.classes());
  scratch->logits.noalias() = features * scratch->weights.transpose();
  scratch->scores = scratch->logits.template cast<double>();
  ScoreSubBlock(loss, model, rows, scratch, sums);
  scratch->weight_gradient.resize(model.classes(), model.features());
  scratch->weight_gradient.noalias() = scratch->gradient.transpose() * features;
  AddRowTo(scratch->weight_gradient.data(), scratch->weight_gradient.size(), dw);
}

// Picked rows of one sub-block gathered in their stored type (one buffer per thread and type).
template <typename Stored>
RowMajorOf<Stored>& Gathered() {
  thread_local RowMajorOf<Stored> rows;
  return rows;
}

// The stored bytes of rows [begin, begin + count) of `rows`, clipped to its end; none when the
// rows are picked (scattered: nothing to stream).
template <typename Stored>
PrefetchSpan NextStoredRows(DenseRows<Stored> rows, Eigen::Index begin, Eigen::Index count) {
  if (rows.picked != nullptr || begin >= rows.rows) return {};
  count = std::min(count, rows.rows - begin);
  return {reinterpret_cast<const char*>(rows.Row(begin)),
          static_cast<std::size_t>(count * rows.cols) * sizeof(Stored)};
}

// scratch->row_starts: where each of rows [begin, begin + count) starts in the compute type.
// Rows already in it are read where they lie, picked or not; others are converted.
template <typename Scalar, typename Stored>
void FindRowStarts(DenseRows<Stored> rows, Eigen::Index begin, Eigen::Index count,
                   Scratch<Scalar>* scratch) {
  scratch->row_starts.resize(static_cast<std::size_t>(count));
  if constexpr (std::is_same_v<Scalar, Stored>) {
    for (Eigen::Index i = 0; i < count; ++i) {
      scratch->row_starts[static_cast<std::size_t>(i)] = rows.Row(begin + i);
    }
  } else {
    const Scalar* x = SubBlockAs<Scalar>(rows, begin, count, /*aligned=*/false,
                                         &Gathered<Stored>(), &scratch->features);
    for (Eigen::Index i = 0; i < count; ++i) {
      scratch->row_starts[static_cast<std::size_t>(i)] = x + i * rows.cols;
    }
  }
}

// Returns how many values each entry of dW took: one per sub-block.
template <typename Scalar, typename Stored>
Eigen::Index AccumulateIn(const Loss& loss, const SoftmaxModel& model, DenseRows<Stored> rows,
                          const RowBlock& scoring, WeightSink dw, GradientSums* sums) {
  Scratch<Scalar>& scratch = Scratch<Scalar>::WithWeightsOf(model);
  // float64 products go through Eigen's GEMM: with half the lanes, the fused kernel's
  // register tiles gain nothing over it.
  const bool is_fused = std::is_same_v<Scalar, float> && model.classes() <= kFusedMaxClasses;
  const Eigen::Index step = is_fused ? kSubBlockRows : kGemmSubBlockRows;
  for (Eigen::Index begin = 0; begin < rows.rows; begin += step) {
    const Eigen::Index count = std::min(step, rows.rows - begin);
    const RowBlock part = SliceRows(scoring, begin, count);
    if (is_fused) {
      FindRowStarts(rows, begin, count, &scratch);
      // Rows read in place are prefetched a group ahead (RowPrefetch::next); converted rows
      // are also prefetched a sub-block ahead, for their conversion.
      const PrefetchSpan ahead = std::is_same_v<Scalar, Stored>
                                     ? PrefetchSpan{}
                                     : NextStoredRows(rows, begin + count, step);
      FusedSubBlock(loss, model, scratch.row_starts.data(), part, dw, ahead, &scratch, sums);
    } else {
      const Scalar* x = SubBlockAs<Scalar>(rows, begin, count, /*aligned=*/true,
                                           &Gathered<Stored>(), &scratch.features);
      GemmSubBlock(loss, model, x, part, dw, &scratch, sums);
    }
  }
  return (rows.rows + step - 1) / step;
}

// n rounded up to a multiple of m.
constexpr Eigen::Index RoundUp(Eigen::Index n, Eigen::Index m) { return (n + m - 1) / m * m; }

// Values of Scalar per cache line: a row stride that is a multiple of it starts every row at
// the same alignment, so a part's rows are laid out alike wherever the part sits in the step.
template <typename Scalar>
constexpr Eigen::Index kLineOf = kCacheLine / static_cast<Eigen::Index>(sizeof(Scalar));

// Parts of at most kShortPartRows rows run inside out (AddPartsWeightGradient), in runs of
// whole parts of at most kRunRows rows: the packed gradients of a run then stay within a few
// MiB (K = 1000: 4 MiB with SSE, where each value is stored as a packet), read once per block
// of panels, and a 256-row step on one rank is one run (each run adds its grid tiles into
// the K x D sums once). Longer parts, whose products outweigh their rounding, take Eigen's
// product alone.
constexpr Eigen::Index kShortPartRows = 128;
constexpr Eigen::Index kRunRows = 256;

// Columns per panel of the parts' dW: two packets, as in WeightGradientTile.
template <typename Scalar>
constexpr Eigen::Index kPanelOf = 2 * kWidthOf<Scalar>;

// With 16 vector registers (SSE, AVX2) the packed gradients are stored broadcast, a packet per
// value: a broadcast from memory would take two instructions there (SSE) and the sums leave no
// register for a shuffle. AVX-512 broadcasts as it loads.
template <typename Scalar>
constexpr Eigen::Index kPackedWidthOf =
    EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 1 : kWidthOf<Scalar>;

// Packed gradient `index` (row i, class k: i KT + k) as a packet of that value.
template <typename Scalar>
inline PacketOf<Scalar> PackedGradient(const Scalar* g, Eigen::Index index) {
  if constexpr (kPackedWidthOf<Scalar> == 1) {
    return ei::pset1<PacketOf<Scalar>>(g[index]);
  } else {
    return ei::pload<PacketOf<Scalar>>(g + index * kPackedWidthOf<Scalar>);
  }
}

// tile (KT x kPanel grid sum entries, row-major) += GridBits(p) for each part's
//   p[k][t] = sum over the part's rows i, in order, of g[i][k] x[i][t]
// with x the step's rows of one panel of columns (rows x kPanel, contiguous) and g their
// gradients for KT classes (rows x KT values, contiguous, each stored kPackedWidthOf times).
// A part's sums live in registers from its first row to its rounding, so its bits depend on
// its own rows only, and the tile stays in L1 across the parts: rounding K x D values per part
// costs no traffic beyond L1. Each entry takes one value per part with rows.
template <int KT, typename Scalar>
void PartsPanelTile(const Scalar* x, const Scalar* g, std::span<const std::int64_t> part_rows,
                    double round, std::int64_t* tile) {
  const WeightSink sink{nullptr, tile, round};
  const PacketOf<double> shift = ei::pset1<PacketOf<double>>(round);
  using Packet = PacketOf<Scalar>;
  constexpr Eigen::Index kWidth = kWidthOf<Scalar>;
  constexpr Eigen::Index kPanel = kPanelOf<Scalar>;
  Eigen::Index i = 0;
  for (const std::int64_t count : part_rows) {
    if (count == 0) continue;
    Packet sum[KT][2];
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) sum[k][0] = sum[k][1] = ei::pset1<Packet>(Scalar(0));
    for (const Eigen::Index end = i + count; i < end; ++i) {
      const Packet a = ei::ploadu<Packet>(x + i * kPanel);
      const Packet b = ei::ploadu<Packet>(x + i * kPanel + kWidth);
#pragma GCC unroll 12
      for (int k = 0; k < KT; ++k) {
        const Packet scale = PackedGradient<Scalar>(g, i * KT + k);
        sum[k][0] = ei::pmadd(scale, a, sum[k][0]);
        sum[k][1] = ei::pmadd(scale, b, sum[k][1]);
      }
    }
#pragma GCC unroll 12
    for (int k = 0; k < KT; ++k) {
      AddPacketTo<true, Scalar>(sum[k][0], sink, k * kPanel, shift);
      AddPacketTo<true, Scalar>(sum[k][1], sink, k * kPanel + kWidth, shift);
    }
  }
}

// Bytes of packed rows per block of panels: the block stays in L2 while every class tile
// sweeps it (32 panels of 8 float columns at kRunRows rows).
constexpr Eigen::Index kPanelBlockBytes = Eigen::Index{256} << 10;

// dw (a grid sum, K x D) += every part's dW = G_part^T X_part, each rounded onto the grid
// once (PartsPanelTile: one value per part with rows), for the step's `rows` rows x (stride
// x_stride) and their gradients g (stride g_stride). g is packed tile by tile (kMaxTile
// classes, zeros past K) and x block by block of panels (zeros past D), so the products read
// contiguous memory: rows a power-of-two stride apart would share a few cache sets.
template <typename Scalar>
void AddPartsWeightGradient(const Scalar* x, Eigen::Index x_stride, const Scalar* g,
                            Eigen::Index g_stride, Eigen::Index rows, Eigen::Index classes,
                            Eigen::Index d, std::span<const std::int64_t> part_rows,
                            WeightSink dw, Scratch<Scalar>* scratch) {
  constexpr int kTile = kMaxTile;
  constexpr Eigen::Index kPanel = kPanelOf<Scalar>;
  const Eigen::Index tiles = (classes + kTile - 1) / kTile;
  RowMajorOf<Scalar>& packed_g = scratch->packed_gradient;
  constexpr Eigen::Index kCopies = kPackedWidthOf<Scalar>;
  packed_g.resize(tiles, rows * kTile * kCopies);
  for (Eigen::Index t = 0; t < tiles; ++t) {
    const Eigen::Index size = std::min<Eigen::Index>(kTile, classes - t * kTile);
    Scalar* out = packed_g.row(t).data();
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index k = 0; k < kTile; ++k) {
        std::fill_n(out + (i * kTile + k) * kCopies, kCopies,
                    k < size ? g[i * g_stride + t * kTile + k] : Scalar(0));
      }
    }
  }
  const Eigen::Index panels = (d + kPanel - 1) / kPanel;
  const Eigen::Index block_panels = std::max<Eigen::Index>(
      1, kPanelBlockBytes / (std::max<Eigen::Index>(rows, 1) * kPanel *
                             static_cast<Eigen::Index>(sizeof(Scalar))));
  RowMajorOf<Scalar>& packed_x = scratch->packed_features;
  for (Eigen::Index first = 0; first < panels; first += block_panels) {
    const Eigen::Index count = std::min(block_panels, panels - first);
    packed_x.resize(count, rows * kPanel);
    for (Eigen::Index p = 0; p < count; ++p) {
      const Eigen::Index c = (first + p) * kPanel;
      const Eigen::Index width = std::min(kPanel, d - c);
      Scalar* out = packed_x.row(p).data();
      for (Eigen::Index i = 0; i < rows; ++i) {
        std::copy_n(x + i * x_stride + c, width, out + i * kPanel);
        std::fill(out + i * kPanel + width, out + (i + 1) * kPanel, Scalar(0));
      }
    }
    for (Eigen::Index t = 0; t < tiles; ++t) {
      const Eigen::Index size = std::min<Eigen::Index>(kTile, classes - t * kTile);
      for (Eigen::Index p = 0; p < count; ++p) {
        alignas(64) std::int64_t tile[kTile * kPanel] = {};
        PartsPanelTile<kTile>(packed_x.row(p).data(), packed_g.row(t).data(), part_rows,
                              dw.round, tile);
        // Grid sums: adding them is exact, in any order.
        const Eigen::Index c = (first + p) * kPanel;
        const Eigen::Index width = std::min(kPanel, d - c);
        for (Eigen::Index k = 0; k < size; ++k) {
          std::int64_t* row = dw.grid + (t * kTile + k) * d + c;
          for (Eigen::Index j = 0; j < width; ++j) AddWrapping(tile[k * kPanel + j], row + j);
        }
      }
    }
  }
}

template <typename Scalar>
using StridedRows = Eigen::Map<const RowMajorOf<Scalar>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Columns per block of a long part's dW: about 256 KiB of it in the compute type (K = 1000,
// float: 64), so that it and the grid sum entries it goes into stay in L2.
template <typename Scalar>
Eigen::Index ColumnsPerBlock(Eigen::Index classes, Eigen::Index features) {
  constexpr Eigen::Index kBlockBytes = Eigen::Index{256} << 10;
  const Eigen::Index columns = kBlockBytes / (std::max<Eigen::Index>(classes, 1) *
                                              static_cast<Eigen::Index>(sizeof(Scalar)));
  return std::min(features,
                  std::max(kLineOf<Scalar>, columns / kLineOf<Scalar> * kLineOf<Scalar>));
}

// dw (a grid sum) += G^T X rounded onto its grid, one value per entry, for one long part (more
// than kShortPartRows rows x, stride x_stride,
// and their gradients g, stride g_stride), by Eigen's product in blocks of columns, each
// block's grid sum in a contiguous buffer: columns of dW itself lie a row (D doubles, often a
// power of two) apart and would share a few cache sets. A long part's products outweigh its
// rounding, and Eigen's blocking keeps its rows in cache where PartsPanelTile's packing would
// not.
template <typename Scalar>
void AddLongPartWeightGradient(const Scalar* x, Eigen::Index x_stride, const Scalar* g,
                               Eigen::Index g_stride, Eigen::Index rows, Eigen::Index classes,
                               Eigen::Index d, WeightSink dw,
                               Scratch<Scalar>* scratch) {
  const Eigen::Index block_columns = ColumnsPerBlock<Scalar>(classes, d);
  const StridedRows<Scalar> gradient(g, rows, classes, Eigen::OuterStride<>(g_stride));
  for (Eigen::Index c = 0; c < d; c += block_columns) {
    const Eigen::Index columns = std::min(block_columns, d - c);
    const StridedRows<Scalar> features(x + c, rows, columns, Eigen::OuterStride<>(x_stride));
    scratch->weight_gradient.resize(classes, columns);
    scratch->weight_gradient.noalias() = gradient.transpose() * features;
    scratch->block_grid.assign(static_cast<std::size_t>(classes * columns), 0);
    AddRowTo<true>(scratch->weight_gradient.data(), classes * columns,
                   WeightSink{nullptr, scratch->block_grid.data(), dw.round});
    for (Eigen::Index k = 0; k < classes; ++k) {
      for (Eigen::Index j = 0; j < columns; ++j) {
        AddWrapping(scratch->block_grid[static_cast<std::size_t>(k * columns + j)],
                    dw.grid + k * d + c + j);
      }
    }
  }
}

// Cuts a step's parts (part_rows, in order) into what is computed together: consecutive parts
// of at most `alone_above` rows each in runs of at most `run_rows` rows in all, a longer part
// alone; on_run(first_row, rows, parts) for each, first_row counted from the step's first
// row, runs without rows left out. Which way a part goes depends on its own row count only,
// and how parts are grouped changes no bit, so neither depends on the rank count.
template <typename OnRun>
void ForEachRunOfParts(std::span<const std::int64_t> part_rows, Eigen::Index alone_above,
                       Eigen::Index run_rows, const OnRun& on_run) {
  Eigen::Index first = 0;
  for (std::size_t begin = 0; begin < part_rows.size();) {
    std::size_t end = begin + 1;
    Eigen::Index rows = part_rows[begin];
    if (rows <= alone_above) {
      while (end < part_rows.size() && part_rows[end] <= alone_above &&
             rows + part_rows[end] <= run_rows) {
        rows += part_rows[end++];
      }
    }
    if (rows > 0) on_run(first, rows, part_rows.subspan(begin, end - begin));
    first += rows;
    begin = end;
  }
}

// AccumulateDenseParts for many classes or float64 products: the logits from one Eigen
// product, dW from AddPartsWeightGradient (short parts) and AddLongPartWeightGradient
// (gradient_kernel.hpp says why this order), one value per part with rows in each entry.
template <typename Scalar, typename Stored>
void AccumulatePartsWithGemm(const Loss& loss, const SoftmaxModel& model, DenseRows<Stored> rows,
                             const RowBlock& scoring, std::span<const std::int64_t> part_rows,
                             WeightGridSum* weight_grid,
                             const std::function<void(GradientSums*)>& take_small_sums,
                             GradientSums* sums) {
  Scratch<Scalar>& scratch = Scratch<Scalar>::WithWeightsOf(model);
  const Eigen::Index n = rows.rows;
  const Eigen::Index d = model.features();
  const Eigen::Index classes = model.classes();
  const Eigen::Index padded_rows = RoundUp(n, kGemmRowMultiple);
  const Eigen::Index row_stride = RoundUp(d, kLineOf<Scalar>);
  const Eigen::Index gradient_stride = RoundUp(classes, kLineOf<Scalar>);

  scratch.step_features.resize(padded_rows, row_stride);
  for (Eigen::Index i = 0; i < n; ++i) {
    ConvertValues(rows.Row(i), d, scratch.step_features.row(i).data());
  }
  scratch.step_features.bottomRows(padded_rows - n).setZero();  // logits computed, not used
  const StridedRows<Scalar> features(scratch.step_features.data(), padded_rows, d,
                                     Eigen::OuterStride<>(row_stride));
  scratch.logits.resize(padded_rows, classes);
  scratch.logits.noalias() = features * scratch.weights.transpose();

  scratch.step_gradient.resize(n, gradient_stride);
  Eigen::Index first = 0;
  for (const std::int64_t count : part_rows) {
    if (count == 0) continue;
    const RowBlock part = SliceRows(scoring, first, count);
    scratch.scores = scratch.logits.middleRows(first, count).template cast<double>();
    ScoreSubBlock(loss, model, part, &scratch, sums);
    scratch.step_gradient.block(first, 0, count, classes) = scratch.gradient;
    sums->count() += part.WeightSum();
    sums->rows() += static_cast<double>(count);
    take_small_sums(sums);
    first += count;
    ++weight_grid->added;
  }

  // Short parts in runs of whole parts of at most kRunRows rows, each run inside out;
  // long parts alone. Which way a part goes depends on its own rows only, so its bits do
  // not depend on the rank count.
  const auto x_at = [&](Eigen::Index row) {
    return scratch.step_features.data() + row * row_stride;
  };
  const auto g_at = [&](Eigen::Index row) {
    return scratch.step_gradient.data() + row * gradient_stride;
  };
  const WeightSink dw{nullptr, weight_grid->sums.data(), weight_grid->scale.round()};
  ForEachRunOfParts(part_rows, kShortPartRows, kRunRows,
                    [&](Eigen::Index from, Eigen::Index run_rows,
                        std::span<const std::int64_t> parts) {
                      if (parts.front() > kShortPartRows) {
                        AddLongPartWeightGradient(x_at(from), row_stride, g_at(from),
                                                  gradient_stride, run_rows, classes, d, dw,
                                                  &scratch);
                      } else {
                        AddPartsWeightGradient(x_at(from), row_stride, g_at(from),
                                               gradient_stride, run_rows, classes, d, parts,
                                               dw, &scratch);
                      }
                    });
}

// AccumulateDenseParts for few classes in float32, on a run of whole parts of at most
// kSubBlockRows rows in all: the run's rows converted and their logits computed together, then
// each part scored and its dW rounded alone, as FusedSubBlock would on the part by itself (the
// same bits). Part by part, every part paid for a sub-block's fixed costs and for its last
// group of logit rows, repeated up to kLogitRows (Fashion-MNIST at batch 256, 12 parts of 10
// to 32 rows: 1.110 to 1.087 of the default step on the SSE2 build, 10 runs; no change seen
// with AVX-512). What stays per part is rounding its K x D values onto the grid, one value
// per part with rows in each entry of the grid sum.
template <typename Stored>
void FusedRunOfParts(const Loss& loss, const SoftmaxModel& model, DenseRows<Stored> rows,
                     const RowBlock& scoring, std::span<const std::int64_t> part_rows,
                     WeightGridSum* weight_grid, PrefetchSpan ahead,
                     const std::function<void(GradientSums*)>& take_small_sums,
                     GradientSums* sums) {
  Scratch<float>& scratch = Scratch<float>::WithWeightsOf(model);
  const Eigen::Index n = rows.rows;
  FindRowStarts(rows, 0, n, &scratch);
  LogitsOfSubBlock(scratch.row_starts.data(), n, ahead, scratch.weights, &scratch.group_logits);
  const WeightSink dw{nullptr, weight_grid->sums.data(), weight_grid->scale.round()};
  Eigen::Index first = 0;
  for (const std::int64_t count : part_rows) {
    if (count == 0) continue;
    const RowBlock part = SliceRows(scoring, first, count);
    scratch.scores = scratch.group_logits.middleRows(first, count);
    ScoreAndWeightGradient(loss, model, scratch.row_starts.data() + first, part, dw, &scratch,
                           sums);
    sums->count() += part.WeightSum();
    sums->rows() += static_cast<double>(count);
    take_small_sums(sums);
    first += count;
    ++weight_grid->added;
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
                         WeightGridSum* weight_grid) {
  if (rows.rows == 0) return;
  const WeightSink dw =
      weight_grid != nullptr
          ? WeightSink{nullptr, weight_grid->sums.data(), weight_grid->scale.round()}
          : WeightSink{sums->weights().data()};
  const Eigen::Index added = precision == Precision::kFloat32
                                 ? AccumulateIn<float>(loss, model, rows, scoring, dw, sums)
                                 : AccumulateIn<double>(loss, model, rows, scoring, dw, sums);
  if (weight_grid != nullptr) weight_grid->added += added;
  sums->count() += scoring.WeightSum();
  sums->rows() += static_cast<double>(rows.rows);
}

template <typename T>
void AccumulateDenseParts(const Loss& loss, const SoftmaxModel& model, DenseRows<T> rows,
                          const RowBlock& scoring, std::span<const std::int64_t> part_rows,
                          WeightGridSum* weight_grid,
                          const std::function<void(GradientSums*)>& take_small_sums,
                          GradientSums* sums, Precision precision) {
  if (precision == Precision::kFloat32 && model.classes() <= kFusedMaxClasses) {
    // Runs of whole parts of at most kSubBlockRows rows in all; a longer part alone, in
    // sub-blocks from its first row.
    ForEachRunOfParts(
        part_rows, kSubBlockRows, kSubBlockRows,
        [&](Eigen::Index first, Eigen::Index run_rows, std::span<const std::int64_t> parts) {
          const DenseRows<T> run = rows.Slice(first, run_rows);
          const RowBlock run_scoring = SliceRows(scoring, first, run_rows);
          if (parts.front() > kSubBlockRows) {
            AccumulateDenseRows(loss, model, run, run_scoring, sums, precision, weight_grid);
            take_small_sums(sums);
          } else {
            FusedRunOfParts(loss, model, run, run_scoring, parts, weight_grid,
                            NextStoredRows(rows, first + run_rows, kSubBlockRows),
                            take_small_sums, sums);
          }
        });
    return;
  }
  // Whole parts in groups of at most kGemmGroupRows rows (a larger part alone), so that the
  // step's copy in the compute type stays bounded whatever the batch; the grouping changes no
  // bit (each row's logits do not depend on the row count).
  ForEachRunOfParts(
      part_rows, kGemmGroupRows, kGemmGroupRows,
      [&](Eigen::Index first, Eigen::Index group_rows, std::span<const std::int64_t> parts) {
        const DenseRows<T> group = rows.Slice(first, group_rows);
        const RowBlock group_scoring = SliceRows(scoring, first, group_rows);
        if (precision == Precision::kFloat32) {
          AccumulatePartsWithGemm<float>(loss, model, group, group_scoring, parts, weight_grid,
                                         take_small_sums, sums);
        } else {
          AccumulatePartsWithGemm<double>(loss, model, group, group_scoring, parts, weight_grid,
                                          take_small_sums, sums);
        }
      });
}

template void AccumulateDenseParts<float>(const Loss&, const SoftmaxModel&, DenseRows<float>,
                                          const RowBlock&, std::span<const std::int64_t>,
                                          WeightGridSum*,
                                          const std::function<void(GradientSums*)>&,
                                          GradientSums*, Precision);
template void AccumulateDenseParts<std::uint8_t>(const Loss&, const SoftmaxModel&,
                                                 DenseRows<std::uint8_t>, const RowBlock&,
                                                 std::span<const std::int64_t>, WeightGridSum*,
                                                 const std::function<void(GradientSums*)>&,
                                                 GradientSums*, Precision);

template void AccumulateDenseRows<float>(const Loss&, const SoftmaxModel&, DenseRows<float>,
                                         const RowBlock&, GradientSums*, Precision,
                                         WeightGridSum*);
template void AccumulateDenseRows<double>(const Loss&, const SoftmaxModel&, DenseRows<double>,
                                          const RowBlock&, GradientSums*, Precision,
                                          WeightGridSum*);
template void AccumulateDenseRows<std::uint8_t>(const Loss&, const SoftmaxModel&,
                                                DenseRows<std::uint8_t>, const RowBlock&,
                                                GradientSums*, Precision, WeightGridSum*);

}  // namespace shardmax
