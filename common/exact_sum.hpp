// Exact sums of doubles in integers, so a sum over ranks has the same bits whatever the rank
// count and the order in which partial sums meet (README, "Reproducibility"). Integer
// addition is associative; floating-point addition is not. Both forms live in int64 limbs
// that MPI sums with a plain integer MPI_SUM, and both are read back with one rounding.
//
// Exact scalars (losses, weight sums, feature moments): x = m 2^e (|m| < 2^53, e >= -1074,
// from the bits of x) is added without any rounding into 66 limbs of 32 bits each, limb j
// standing for 2^(32 j - 1074), so the whole double range fits; m 2^(e mod 32) spans three
// limbs. A limb takes at most 2^32 per addition, so 2^31 additions cannot overflow it. Three
// more limbs count NaN, +inf and -inf, which make the sum NaN or +-inf as IEEE addition would.
//
// Fixed-point vectors (gradients, K*D entries: 66 limbs each would cost too much): with a
// bound B on |x| and on every partial sum, agreed by all ranks, f such that B 2^f < 2^100, and
//   x 2^f ~= hi 2^50 + lo,   hi = round(x 2^(f - 50)),   lo = round(x 2^f - hi 2^50)
// (|hi| <= 2^50, |lo| <= 2^49; hi and lo are summed separately, carry-save, so the 2^12
// additions of kMaxVirtualShards stay far from int64 overflow; a value whose |x 2^f| reaches
// 2^101 is counted as beyond the bound). The resolution is 2^-f ~= 2^-100 B: better than a
// double sum of the same values, whose error grows like 2^-53 sum |x|, unless the values are
// some 2^-47 times smaller than their bound. Two counters follow the limbs: values that were not
// finite, and finite values beyond the bound (a wrong bound: reading the sum then throws).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shardmax {

// Limbs of one exact scalar: 66 digits and the NaN, +inf and -inf counts.
inline constexpr std::size_t kExactScalarLimbs = 69;

// Adds x exactly to the exact scalar held in limbs (kExactScalarLimbs of them).
void AddToExactScalar(double x, std::span<std::int64_t> limbs);

// The exact scalar's value rounded once to the nearest double (ties to even); NaN if a NaN
// or both infinities were added, else +-inf if one of them was; a result beyond the double
// range is +-inf.
double ExactScalarValue(std::span<const std::int64_t> limbs);

// The scale 2^f of a fixed-point vector whose values and partial sums stay within `bound`.
struct FixedPointScale {
  int exponent = 0;  // f
  static FixedPointScale ForBound(double bound);
};

// Limbs of a fixed-point vector of n values: n his, n los, then the two counters.
inline constexpr std::size_t FixedPointLimbs(std::size_t values) { return 2 * values + 2; }

// Adds values[i] to entry i of the fixed-point vector in limbs.
void AddToFixedPoint(std::span<const double> values, FixedPointScale scale,
                     std::span<std::int64_t> limbs);

enum class FixedPointStatus { kExact, kNotFinite, kBeyondBound };

// Writes each entry's value, rounded once, to values; kNotFinite (every value NaN) if a
// non-finite value was added, kBeyondBound (values unset) if a value exceeded the bound.
FixedPointStatus FixedPointValues(std::span<const std::int64_t> limbs, FixedPointScale scale,
                                  std::span<double> values);

}  // namespace shardmax
