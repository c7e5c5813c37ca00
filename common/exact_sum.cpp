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

// Fixed point: x + kRound - kRound rounds x to an integer (ties to even) for |x| <= 2^51.
constexpr double kRound = 0x1.8p52;
constexpr int kLowBits = 50;                             // x 2^f = hi 2^50 + lo
constexpr int kBoundBits = 100;                          // B 2^f <= 2^100
constexpr double kFixedLimit = 0x1p101;                  // |x 2^f| from here on is beyond the bound
constexpr std::uint64_t kRejectedExponent = 1023 + 101;  // the biased exponent of kFixedLimit

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

FixedPointScale FixedPointScale::ForBound(double bound) {
  if (!(bound > 0.0) || !std::isfinite(bound)) return FixedPointScale{0};
  int exponent = 0;
  std::frexp(bound, &exponent);  // bound < 2^exponent
  // Clamped so that 2^f and 2^-f stay normal doubles (bounds beyond 2^+-800 do not occur).
  return FixedPointScale{std::clamp(kBoundBits - exponent, -900, 900)};
}

void AddToFixedPoint(std::span<const double> values, FixedPointScale scale,
                     std::span<std::int64_t> limbs) {
  const double to_fixed = std::ldexp(1.0, scale.exponent);
  const std::size_t n = values.size();
  std::int64_t* const high = limbs.data();
  std::int64_t* const low = limbs.data() + n;
  const auto round_bits = std::bit_cast<std::uint64_t>(kRound);
  std::int64_t rejected = 0;
  // Integer and floating-point operations only, no branch, no comparison and no conversion
  // (the integers are read from the bits of kRound + n, which is n for |n| <= 2^51), so the
  // compiler vectorizes the loop even with SSE2 alone. A value not below 2^101 (its biased
  // exponent 1124 or more: too large, infinite or NaN) adds garbage, but is counted.
  for (std::size_t i = 0; i < n; ++i) {
    const double x = values[i] * to_fixed;
    const auto bits = std::bit_cast<std::uint64_t>(x);
    rejected +=
        static_cast<std::int64_t>((((bits >> 52) & 0x7ff) + (2048 - kRejectedExponent)) >> 11);
    const double hi_plus_round = x * 0x1p-50 + kRound;
    const double hi = hi_plus_round - kRound;
    const double lo_plus_round = (x - hi * 0x1p50) + kRound;  // x - hi 2^50 is exact
    // In unsigned (wrapping) arithmetic, so a rejected value's garbage cannot overflow.
    high[i] = static_cast<std::int64_t>(static_cast<std::uint64_t>(high[i]) +
                                        (std::bit_cast<std::uint64_t>(hi_plus_round) - round_bits));
    low[i] = static_cast<std::int64_t>(static_cast<std::uint64_t>(low[i]) +
                                       (std::bit_cast<std::uint64_t>(lo_plus_round) - round_bits));
  }
  if (rejected == 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      ++limbs[2 * n];
    } else if (std::abs(values[i] * to_fixed) >= kFixedLimit) {
      ++limbs[2 * n + 1];
    }
  }
}

FixedPointStatus FixedPointValues(std::span<const std::int64_t> limbs, FixedPointScale scale,
                                  std::span<double> values) {
  const std::size_t n = values.size();
  if (limbs[2 * n + 1] > 0) return FixedPointStatus::kBeyondBound;
  if (limbs[2 * n] > 0) {
    std::fill(values.begin(), values.end(), std::numeric_limits<double>::quiet_NaN());
    return FixedPointStatus::kNotFinite;
  }
  const double from_fixed = std::ldexp(1.0, -scale.exponent);
  constexpr std::int64_t kHalfLow = std::int64_t{1} << (kLowBits - 1);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t hi = limbs[i];
    std::int64_t lo = limbs[n + i];
    const std::int64_t carry = (lo + kHalfLow) >> kLowBits;  // lo now in [-2^49, 2^49)
    hi += carry;
    lo -= carry * (std::int64_t{1} << kLowBits);
    // hi 2^50 is exact, so the sum is the one rounding.
    values[i] = (static_cast<double>(hi) * 0x1p50 + static_cast<double>(lo)) * from_fixed;
  }
  return FixedPointStatus::kExact;
}

}  // namespace shardmax
