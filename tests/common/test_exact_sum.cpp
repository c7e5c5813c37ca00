#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include "common/exact_sum.hpp"
#include "common/random.hpp"

namespace shardmax {
namespace {

using Limbs = std::vector<std::int64_t>;

Limbs ExactLimbs(const std::vector<double>& values) {
  Limbs limbs(kExactScalarLimbs, 0);
  for (const double value : values) AddToExactScalar(value, limbs);
  return limbs;
}

double ExactSum(const std::vector<double>& values) { return ExactScalarValue(ExactLimbs(values)); }

// What an MPI_SUM of two ranks' limbs does.
Limbs AddLimbs(Limbs a, const Limbs& b) {
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

// Values over 600 binary orders of magnitude, both signs: a naive sum depends on the order.
std::vector<double> WideValues(std::size_t count, std::uint64_t seed) {
  SplitMix64 generator(seed);
  std::vector<double> values(count);
  for (double& value : values) {
    const int exponent = static_cast<int>(generator.Below(600)) - 300;
    value = std::ldexp(generator.UniformOpen() - 0.5, exponent);
  }
  return values;
}

std::uint64_t Bits(double x) { return std::bit_cast<std::uint64_t>(x); }

// Neumaier's compensated sum: within an ulp or so of the exact sum for these data.
double CompensatedSum(const std::vector<double>& values) {
  double sum = 0.0;
  double compensation = 0.0;
  for (const double value : values) {
    const double t = sum + value;
    compensation += std::abs(sum) >= std::abs(value) ? (sum - t) + value : (value - t) + sum;
    sum = t;
  }
  return sum + compensation;
}

TEST(ExactScalar, TheSameBitsInAnyOrderAndSplit) {
  std::vector<double> values = WideValues(20000, 3);
  const double forward = ExactSum(values);
  std::vector<double> reversed(values.rbegin(), values.rend());
  EXPECT_EQ(Bits(ExactSum(reversed)), Bits(forward));
  std::vector<double> shuffled = values;
  const std::vector<std::int64_t> order =
      ShuffledOrder(static_cast<std::int64_t>(values.size()), SplitMix64(9));
  for (std::size_t i = 0; i < order.size(); ++i)
    shuffled[i] = values[static_cast<std::size_t>(order[i])];
  EXPECT_EQ(Bits(ExactSum(shuffled)), Bits(forward));
  // Parts summed apart and then added limb by limb, as ranks and MPI_SUM do, in 1 to 7 parts.
  for (std::size_t parts = 1; parts <= 7; ++parts) {
    Limbs total(kExactScalarLimbs, 0);
    for (std::size_t part = 0; part < parts; ++part) {
      const std::vector<double> slice(
          values.begin() + static_cast<std::ptrdiff_t>(part * values.size() / parts),
          values.begin() + static_cast<std::ptrdiff_t>((part + 1) * values.size() / parts));
      total = AddLimbs(total, ExactLimbs(slice));
    }
    EXPECT_EQ(Bits(ExactScalarValue(total)), Bits(forward)) << parts << " parts";
  }
  // The naive double sum does depend on the order here, which is what the exact sum is for.
  double naive_forward = 0.0, naive_reversed = 0.0;
  for (const double value : values) naive_forward += value;
  for (const double value : reversed) naive_reversed += value;
  EXPECT_NE(Bits(naive_forward), Bits(naive_reversed));
}

TEST(ExactScalar, AsAccurateAsACompensatedSum) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SplitMix64 generator(seed);
    std::vector<double> values(5000);
    for (double& value : values) value = generator.Normal() * std::exp(10.0 * generator.Normal());
    const double exact = ExactSum(values);
    const double compensated = CompensatedSum(values);
    EXPECT_LE(std::abs(exact - compensated), 2.0 * std::abs(std::nextafter(exact, 0.0) - exact))
        << "seed " << seed;
  }
}

TEST(ExactScalar, CancellationLeavesTheExactRemainder) {
  EXPECT_EQ(ExactSum({1e100, 1.0, -1e100}), 1.0);
  EXPECT_EQ(ExactSum({1e308, 1e-308, -1e308}), 1e-308);
  // A naive sum of these gives 0: the small terms vanish next to 2^60.
  std::vector<double> values{0x1p60};
  for (int i = 0; i < 1000; ++i) values.push_back(0.25);
  values.push_back(-0x1p60);
  EXPECT_EQ(ExactSum(values), 250.0);
}

TEST(ExactScalar, RoundsOnceToNearestEven) {
  EXPECT_EQ(ExactSum({1.0, 0x1p-53, 0x1p-106}), 1.0 + 0x1p-52);  // above the tie: up
  EXPECT_EQ(ExactSum({1.0, 0x1p-53}), 1.0);                      // a tie: to even (down)
  EXPECT_EQ(ExactSum({1.0 + 0x1p-52, 0x1p-53}), 1.0 + 0x1p-51);  // a tie: to even (up)
  EXPECT_EQ(ExactSum({1.0, 0x1p-53, -0x1p-300}), 1.0);           // below the tie: down
  EXPECT_EQ(ExactSum({-1.0, -0x1p-53, -0x1p-106}), -1.0 - 0x1p-52);
}

TEST(ExactScalar, ExtremeMagnitudesZeroAndNegatives) {
  EXPECT_EQ(Bits(ExactSum({})), Bits(0.0));
  EXPECT_EQ(ExactSum({0.0, -0.0}), 0.0);
  EXPECT_EQ(ExactSum({3.5, -3.5}), 0.0);
  EXPECT_EQ(ExactSum({-2.0, -0.5, -0.25}), -2.75);
  const double tiny = std::numeric_limits<double>::denorm_min();
  EXPECT_EQ(ExactSum({tiny, tiny, tiny}), 3 * tiny);
  EXPECT_EQ(ExactSum({DBL_MIN, -tiny}), DBL_MIN - tiny);
  // No intermediate overflow: DBL_MAX + DBL_MAX - DBL_MAX is DBL_MAX.
  EXPECT_EQ(ExactSum({DBL_MAX, DBL_MAX, -DBL_MAX}), DBL_MAX);
  EXPECT_EQ(ExactSum({DBL_MAX, DBL_MAX}), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ExactSum({-DBL_MAX, -DBL_MAX}), -std::numeric_limits<double>::infinity());
}

TEST(ExactScalar, NonFiniteValuesActAsInIeeeAddition) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(ExactSum({1.0, inf}), inf);
  EXPECT_EQ(ExactSum({-inf, 5.0}), -inf);
  EXPECT_TRUE(std::isnan(ExactSum({inf, -inf})));
  EXPECT_TRUE(std::isnan(ExactSum({1.0, std::numeric_limits<double>::quiet_NaN()})));
}

// Parts (virtual shards) rounded onto the grid of `bound` and added in the order given, as a
// rank adds its parts; `split` > 0 adds parts [0, split) and [split, end) apart and then the
// two totals, as an all-reduce of two ranks would; then read back. `beyond`: the values found
// beyond the bound on the way in, and the totals found beyond it when read back.
std::vector<double> GridSum(const std::vector<std::vector<double>>& parts, double bound,
                            std::size_t split = 0, std::int64_t* beyond = nullptr,
                            std::int64_t* beyond_total = nullptr) {
  const std::size_t n = parts.front().size();
  const GridScale scale = GridScale::ForBound(bound);
  std::vector<std::int64_t> first(n, 0);
  std::vector<std::int64_t> second(n, 0);
  std::int64_t rejected = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    rejected += AddOnGrid(parts[p], scale, split > 0 && p >= split ? second : first);
  }
  for (std::size_t i = 0; i < n; ++i) AddWrapping(second[i], &first[i]);
  std::vector<double> values(n);
  const std::int64_t rejected_total =
      GridStepsToValues(first, static_cast<std::int64_t>(parts.size()), scale, values);
  if (beyond != nullptr) *beyond = rejected;
  if (beyond_total != nullptr) *beyond_total = rejected_total;
  return values;
}

TEST(GridSum, TheSameBitsInAnyOrderAndGroupingAndNearTheExactSum) {
  // 24 parts (virtual shards) of 500 entries, with a bound on every partial sum.
  SplitMix64 generator(17);
  std::vector<std::vector<double>> parts(24, std::vector<double>(500));
  for (auto& part : parts) {
    for (double& value : part) value = generator.Normal() * std::exp(3.0 * generator.Normal());
  }
  double bound = 0.0;
  for (const auto& part : parts) {
    for (const double value : part) bound += std::abs(value);
  }
  std::int64_t beyond = -1;
  const std::vector<double> forward = GridSum(parts, bound, 0, &beyond);
  EXPECT_EQ(beyond, 0);
  const std::vector<std::vector<double>> reversed(parts.rbegin(), parts.rend());
  const std::vector<double> backward = GridSum(reversed, bound);
  const std::vector<double> two_ranks = GridSum(parts, bound, 8);
  const double grid = GridScale::ForBound(bound).grid;
  EXPECT_LE(grid, bound * 0x1p-50);
  bool some_value_rounded = false;
  for (std::size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(Bits(backward[i]), Bits(forward[i]));
    EXPECT_EQ(Bits(two_ranks[i]), Bits(forward[i]));
    std::vector<double> column;
    double plain = 0.0;
    for (const auto& part : parts) {
      column.push_back(part[i]);
      plain += part[i];
    }
    const double exact = ExactSum(column);
    // 24 roundings of at most half the grid, and no other.
    EXPECT_LE(std::abs(forward[i] - exact), 12.0 * grid);
    some_value_rounded = some_value_rounded || forward[i] != plain;
  }
  EXPECT_TRUE(some_value_rounded);  // the grid does round: the test above is not vacuous
}

TEST(GridSum, ExactForValuesOnItsGrid) {
  // Multiples of the grid (2^-47 for a bound of 8) come back exactly, with signs; values far
  // below the grid round to zero.
  EXPECT_EQ(GridSum({{0.75, -3.0, 0.0, 1e-20}, {0.25, 1.0, -0.0, -1e-20}}, 8.0),
            (std::vector<double>{1.0, -2.0, 0.0, 0.0}));
  EXPECT_EQ(GridScale::ForBound(8.0).grid, 0x1p-47);
}

TEST(GridSum, CountsValuesAndTotalsBeyondTheBound) {
  const double inf = std::numeric_limits<double>::infinity();
  std::int64_t beyond = -1;
  std::int64_t beyond_total = -1;
  // 1e6 is beyond a bound of 10 (grid 2^-47: 2^51 steps are 16): counted as it comes, and its
  // meaningless steps are beyond when read back.
  GridSum({{1.0, 1e6}}, 10.0, 0, &beyond, &beyond_total);
  EXPECT_EQ(beyond, 1);
  EXPECT_EQ(beyond_total, 1);
  // Up to the bound, and a total past it by the parts' rounding only, are not.
  EXPECT_EQ(GridSum({{15.5, -15.5}, {0.25, -0.25}}, 10.0, 0, &beyond, &beyond_total),
            (std::vector<double>{15.75, -15.75}));
  EXPECT_EQ(beyond + beyond_total, 0);
  // Infinities and NaN are not counted as they come (the loss tells of them); what they add
  // is meaningless, and seen when read back.
  GridSum({{1.0, inf, -inf, std::numeric_limits<double>::quiet_NaN()}}, 10.0, 0, &beyond,
          &beyond_total);
  EXPECT_EQ(beyond, 0);
  EXPECT_EQ(beyond_total, 3);
  // A zero bound: only zeros fit.
  EXPECT_EQ(GridSum({{0.0, 0.0}}, 0.0, 0, &beyond, &beyond_total),
            (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(beyond + beyond_total, 0);
  GridSum({{1e-300}}, 0.0, 0, &beyond);
  EXPECT_EQ(beyond, 1);
  // No finite bound: a NaN grid, NaN sums, nothing counted.
  const std::vector<double> not_finite = GridSum({{1.0, 2.0}}, inf, 0, &beyond, &beyond_total);
  EXPECT_TRUE(std::isnan(not_finite[0]) && std::isnan(not_finite[1]));
  EXPECT_EQ(beyond + beyond_total, 0);
}

// Read back straight into its use (the gradient: dW / S + lambda W): the values read back,
// scaled and added to, in the same pass, with the same count of totals beyond the bound.
TEST(GridSum, ReadsBackScaledWithATermInOnePass) {
  const GridScale scale = GridScale::ForBound(10.0);
  std::vector<std::int64_t> sums(4, 0);
  EXPECT_EQ(AddOnGrid(std::vector<double>{0.1, -2.5, 3.0, 7.0}, scale, sums), 0);
  EXPECT_EQ(AddOnGrid(std::vector<double>{0.2, 1.0, 1e-30, 1e6}, scale, sums), 1);
  std::vector<double> plain(4);
  const std::int64_t plain_beyond = GridStepsToValues(sums, 2, scale, plain);
  const std::vector<double> term{1.0, -3.0, 0.5, 2.0};
  std::vector<double> scaled(4);
  EXPECT_EQ(GridStepsToScaledValues(sums, 2, scale, 1.0 / 3.0, 1e-3, term, scaled), plain_beyond);
  EXPECT_EQ(plain_beyond, 1);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(Bits(scaled[i]), Bits(plain[i] * (1.0 / 3.0) + 1e-3 * term[i])) << i;
  }
  EXPECT_EQ(plain[1], -1.5);
}

// Many parts' bits(R) wrap the int64 entries past 2^63 on the way; the read-back takes them
// off modulo 2^64, so the sums are right, in any order.
TEST(GridSum, WrapsThroughManyParts) {
  const std::vector<std::vector<double>> parts(4096, std::vector<double>{0.5, -0.25, 0.0});
  std::int64_t beyond = -1;
  std::int64_t beyond_total = -1;
  EXPECT_EQ(GridSum(parts, 4096.0, 1000, &beyond, &beyond_total),
            (std::vector<double>{2048.0, -1024.0, 0.0}));
  EXPECT_EQ(beyond + beyond_total, 0);
}

}  // namespace
}  // namespace shardmax
