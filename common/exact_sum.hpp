// Sums of doubles whose bits do not depend on the rank count or on the order in which partial
// sums meet (README, "Reproducibility"). Floating-point addition is not associative unless
// no addition rounds: exact scalars are held in int64 limbs (integer addition is associative)
// and read back with one rounding; grid sums round each part once, onto a grid coarse enough
// that no later addition rounds.
//
// Exact scalars (losses, weight sums, feature moments): x = m 2^e (|m| < 2^53, e >= -1074,
// from the bits of x) is added without any rounding into 66 limbs of 32 bits each, limb j
// standing for 2^(32 j - 1074), so the whole double range fits; m 2^(e mod 32) spans three
// limbs. A limb takes at most 2^32 per addition, so 2^31 additions cannot overflow it. Three
// more limbs count NaN, +inf and -inf, which make the sum NaN or +-inf as IEEE addition would.
//
// Grid sums (gradients, K*D entries: 66 limbs each would cost too much): with a bound B on
// |x| and on every partial sum, agreed by all ranks, each part is rounded to the grid
//   g = 2^(e - 51),  2^(e-1) <= B < 2^e,    round_g(x) = (x + 1.5 2^52 g) - 1.5 2^52 g
// (for |x| <= 2^51 g the sum's unit in the last place is g, so this is round to nearest).
// Multiples of g below 2^53 g in magnitude are doubles, and at most 2^12 parts (the virtual
// shards) of at most B + g/2 each stay below 2^52 g: every partial sum of rounded parts is
// exact, so plain double additions, in any order, and a plain double MPI_SUM give the same
// bits. The resolution g <= 2^-50 B matches a double sum's own error (2^-53 sum |x|) once the
// values reach a few thousandths of their bound. Rounding is two additions per value: the
// cost that matters when every virtual shard adds K x D values per step.
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

// The grid of a grid sum whose values and partial sums stay within `bound`; a bound that is
// not finite gives a NaN grid, so the sums come out NaN rather than silently coarse.
struct GridScale {
  double grid = 0.0;  // g
  static GridScale ForBound(double bound);
  // The constant of RoundOntoGrid: 1.5 2^52 g.
  double round() const { return 0x1.8p52 * grid; }
};

// round_g(x) = (x + round) - round with round = GridScale::round(); x itself for round = 0.
// Without -ffast-math the compiler keeps the two additions as written.
inline double RoundOntoGrid(double x, double round) { return (x + round) - round; }

// sums[i] += round_g(values[i]). Returns how many finite values were beyond the bound, which
// were then rounded wrongly (the bound is broken: a bug). A NaN or infinity is added as it
// is, so the sums become NaN or infinite as with IEEE addition (with a NaN among the values
// the count may miss some: the sums are NaN anyway).
std::int64_t AddOnGrid(std::span<const double> values, GridScale scale, std::span<double> sums);

// How many finite values are beyond the bound of `scale`: AddOnGrid's count, for a grid sum
// that is checked where it was summed.
std::int64_t CountBeyondGrid(std::span<const double> values, GridScale scale);

}  // namespace shardmax
