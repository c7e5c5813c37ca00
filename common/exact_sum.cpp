#include "common/exact_sum.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace shardmax {
namespace {

__extension__ using Wide = unsigned __int128;  // GCC and Clang on 64-bit targets

constexpr std::size_t kDigits = 66;
constexpr int kDigitBits = 32;
constexpr std::size_t kNanCount = kDigits;
constexpr std::size_t kPlusInfinityCount = kDigits + 1;
constexpr std::size_t kMinusInfinityCount = kDigits + 2;
constexpr int kLowestExponent = -1074;  // digit j stands for 2^(32 j - 1074)
// The top digit stands for 2^(32 * 65 - 1074) = 2^1006: 2^18 of it is beyond the double range.
constexpr std::int64_t kTopDigitOverflow = std::int64_t{1} << 18;

using Digits = std::array<std::int64_t, kDigits>;

// Carries every digit but the top into the next, leaving them in [0, 2^32).
void Normalize(Digits* digits) {
  for (std::size_t j = 0; j + 1 < kDigits; ++j) {
    const std::int64_t carry = (*digits)[j] >> kDigitBits;  // floor, also when negative
    (*digits)[j] -= carry * (std::int64_t{1} << kDigitBits);
    (*digits)[j + 1] += carry;
  }
}

// Grid sums: B < 2^e = 2^51 g.
constexpr int kGridBits = 51;

}  // namespace

void AddToExactScalar(double x, std::span<std::int64_t> limbs) {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const bool negative = (bits >> 63) != 0;
  const int biased_exponent = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  if (biased_exponent == 0x7ff) {
    ++limbs[mantissa != 0 ? kNanCount : negative ? kMinusInfinityCount : kPlusInfinityCount];
    return;
  }
  // x = mantissa 2^(position - 1074): subnormals have position 0, normal numbers an implicit bit.
  int position = 0;
  if (biased_exponent != 0) {
    mantissa |= std::uint64_t{1} << 52;
    position = biased_exponent - 1;
  }
  if (mantissa == 0) return;
  const auto digit = static_cast<std::size_t>(position / kDigitBits);
  const Wide shifted = static_cast<Wide>(mantissa) << (position % kDigitBits);
  for (std::size_t part = 0; part < 3; ++part) {
    const auto value = static_cast<std::int64_t>((shifted >> (kDigitBits * part)) & 0xffffffffU);
    limbs[digit + part] += negative ? -value : value;
  }
}

double ExactScalarValue(std::span<const std::int64_t> limbs) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  const bool plus_infinity = limbs[kPlusInfinityCount] > 0;
  const bool minus_infinity = limbs[kMinusInfinityCount] > 0;
  if (limbs[kNanCount] > 0 || (plus_infinity && minus_infinity)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (plus_infinity) return kInfinity;
  if (minus_infinity) return -kInfinity;

  Digits digits;
  std::copy_n(limbs.begin(), kDigits, digits.begin());
  Normalize(&digits);
  const bool negative = digits.back() < 0;
  if (negative) {
    for (std::int64_t& digit : digits) digit = -digit;
    Normalize(&digits);
  }
  if (digits.back() >= kTopDigitOverflow) return negative ? -kInfinity : kInfinity;
  std::size_t top = kDigits;
  while (top > 0 && digits[top - 1] == 0) --top;
  if (top == 0) return 0.0;
  // The top four digits (at least 97 significant bits), with a sticky bit for any below, round
  // to the same double as the whole exact value.
  const std::size_t lowest = top >= 4 ? top - 4 : 0;
  Wide value = 0;
  for (std::size_t j = top; j > lowest; --j) {
    value = (value << kDigitBits) | static_cast<Wide>(digits[j - 1]);
  }
  if (std::any_of(digits.begin(), digits.begin() + static_cast<std::ptrdiff_t>(lowest),
                  [](std::int64_t digit) { return digit != 0; })) {
    value |= 1;
  }
  const double magnitude = std::ldexp(static_cast<double>(value),
                                      kDigitBits * static_cast<int>(lowest) + kLowestExponent);
  return negative ? -magnitude : magnitude;
}

GridScale GridScale::ForBound(double bound) {
  // No finite bound: NaN sums, which training reports as a non-finite gradient.
  if (!std::isfinite(bound)) return GridScale{std::numeric_limits<double>::quiet_NaN()};
  int exponent = -1074 + kGridBits;  // a zero bound: the finest grid, only zeros fit
  if (bound != 0.0) std::frexp(bound, &exponent);  // |bound| < 2^exponent
  // Clamped so that g is a double (subnormal at worst) and 1.5 2^52 g stays finite.
  return GridScale{std::ldexp(1.0, std::clamp(exponent - kGridBits, -1074, 970))};
}

std::int64_t AddOnGrid(std::span<const double> values, GridScale scale,
                       std::span<std::int64_t> sums) {
  const double round = scale.round();
  const double limit = 0x1p51 * scale.grid;
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  std::int64_t beyond = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double magnitude = std::abs(values[i]);
    beyond += magnitude > limit && magnitude < kInfinity ? 1 : 0;
    AddWrapping(GridBits(values[i], round), &sums[i]);
  }
  return beyond;
}

namespace {

// finish(i, value) for each entry of a grid sum read back: its steps, the wrapping sum less
// `added` times bits(R), times g. GridBits backwards: R + n g is a double for |n| <= 2^51,
// and so is n g; integer operations and one subtraction, which the compiler vectorizes with
// `finish`. A larger |n| ((n + 2^51) >> 52 unsigned is not zero) is left to the loop below,
// which counts the entries beyond the bound plus half a step from each of at most 2^12 parts.
template <typename Finish>
std::int64_t ReadGridSum(std::span<const std::int64_t> sums, std::int64_t added,
                         GridScale scale, const Finish& finish) {
  constexpr std::uint64_t kHalfBinade = std::uint64_t{1} << 51;
  const double round = scale.round();
  const auto origin = std::bit_cast<std::uint64_t>(round);
  const std::uint64_t offset = static_cast<std::uint64_t>(added) * origin;
  std::uint64_t far = 0;
  for (std::size_t i = 0; i < sums.size(); ++i) {
    const std::uint64_t steps = static_cast<std::uint64_t>(sums[i]) - offset;
    finish(i, std::bit_cast<double>(origin + steps) - round);
    far |= (steps + kHalfBinade) >> 52;
  }
  if (far == 0 || std::isnan(round)) return 0;
  constexpr std::uint64_t kLimit = kHalfBinade + (std::uint64_t{1} << 11);
  std::int64_t beyond = 0;
  for (std::size_t i = 0; i < sums.size(); ++i) {
    const std::uint64_t steps = static_cast<std::uint64_t>(sums[i]) - offset;
    if (steps + kHalfBinade <= 2 * kHalfBinade) continue;
    finish(i, static_cast<double>(static_cast<std::int64_t>(steps)) * scale.grid);  // exact
    beyond += steps + kLimit > 2 * kLimit ? 1 : 0;  // |steps| > kLimit, without overflow
  }
  return beyond;
}

}  // namespace

std::int64_t GridStepsToValues(std::span<const std::int64_t> sums, std::int64_t added,
                               GridScale scale, std::span<double> values) {
  return ReadGridSum(sums, added, scale, [&](std::size_t i, double value) { values[i] = value; });
}

std::int64_t GridStepsToScaledValues(std::span<const std::int64_t> sums, std::int64_t added,
                                     GridScale scale, double factor, double term_factor,
                                     std::span<const double> term, std::span<double> values) {
  return ReadGridSum(sums, added, scale, [&](std::size_t i, double value) {
    values[i] = value * factor + term_factor * term[i];
  });
}

}  // namespace shardmax
