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
//   g = 2^(e - 51),  2^(e-1) <= B < 2^e,
// by one addition, and counted in grid steps in an int64:
//   bits(x + R) = bits(R) + steps(x),   R = 1.5 2^52 g
// For |x| <= 2^51 g, x + R lies in [2^52 g, 2^53 g], where doubles are g apart: the addition
// rounds x to the nearest multiple of g (ties to even), steps(x) = x / g so rounded. A grid sum
// adds the bits as they come, one integer addition per value (wrapping); every entry of it
// takes the same number of values, counted apart, so that bits(R) is taken off once per value
// at the end, when the sum is read back as steps * g, exactly. Integer addition is
// associative: partial sums in any order, and an integer MPI_SUM, give the same bits; the
// total is at most B + 2^11 g from at most 2^12 parts (the virtual shards). One addition and
// one integer addition per value is the cost that matters when every virtual shard adds K x D
// values per step (a double grid sum, (x + R) - R added as a double, took two floating-point
// additions more). The resolution g <= 2^-50 B matches a double sum's own error
// (2^-53 sum |x|) once the values reach a few thousandths of their bound.
#pragma once

#include <bit>
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
  // R = 1.5 2^52 g, the constant of GridBits.
  double round() const { return 0x1.8p52 * grid; }
};

// bits(x + round), round = GridScale::round(): bits(round) plus x / g rounded to the nearest
// integer, for |x| <= 2^51 g (beyond, or for a NaN or infinity, meaningless).
inline std::int64_t GridBits(double x, double round) {
  return std::bit_cast<std::int64_t>(x + round);
}

// *sum += value, wrapping as the vector additions do: a grid sum's entries carry bits(R) per
// value added until GridStepsToValues takes them off, so they pass 2^63 on the way.
inline void AddWrapping(std::int64_t value, std::int64_t* sum) {
  *sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(*sum) +
                                   static_cast<std::uint64_t>(value));
}

// sums[i] += GridBits(values[i]): one value more in every entry of the grid sum. Returns how
// many finite values were beyond the bound, which were then counted wrongly (the bound is
// broken: a bug). A NaN or infinity adds meaningless steps: the caller learns of it from the
// loss, computed from the same logits.
std::int64_t AddOnGrid(std::span<const double> values, GridScale scale,
                       std::span<std::int64_t> sums);

// values[i] = (sums[i] - added bits(R)) g, exactly: the grid sum read back, `added` values in
// every entry (at most 2^12 parts; NaN with a NaN grid). Returns how many entries are beyond
// the bound plus half a step per part, which no sum of parts within the bound reaches (the
// bound is broken: a bug).
std::int64_t GridStepsToValues(std::span<const std::int64_t> sums, std::int64_t added,
                               GridScale scale, std::span<double> values);

// values[i] = (GridStepsToValues' value i) * factor + term_factor * term[i], in one pass: a grid
// sum read back straight into its use (the gradient, dW / S + lambda W). The same count.
std::int64_t GridStepsToScaledValues(std::span<const std::int64_t> sums, std::int64_t added,
                                     GridScale scale, double factor, double term_factor,
                                     std::span<const double> term, std::span<double> values);

}  // namespace shardmax
