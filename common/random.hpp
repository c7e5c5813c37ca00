// A small counter-seeded generator whose streams are identical on every platform and
// compiler (std::shuffle and std::normal_distribution are not), so runs are reproducible.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

namespace shardmax {

// SplitMix64 (Steele, Lea, Flood 2014): state += golden gamma, then a 64-bit finalizer.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  // A generator for stream (a, b, c) of `seed`: independent streams without a shared state.
  static SplitMix64 ForStream(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                              std::uint64_t c = 0) {
    SplitMix64 mixer(seed);
    std::uint64_t state = mixer.Next();
    for (std::uint64_t part : {a, b, c}) state = SplitMix64(state ^ part).Next();
    return SplitMix64(state);
  }

  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) by the multiply-shift method.
  std::uint64_t Below(std::uint64_t bound) {
    __extension__ using Wide = unsigned __int128;  // GCC and Clang on 64-bit targets
    return static_cast<std::uint64_t>((static_cast<Wide>(Next()) * bound) >> 64);
  }

  // Uniform in (0, 1).
  double UniformOpen() { return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard normal by the Box-Muller transform.
  double Normal() {
    const double radius = std::sqrt(-2.0 * std::log(UniformOpen()));
    return radius * std::cos(2.0 * std::numbers::pi * UniformOpen());
  }

 private:
  std::uint64_t state_;
};

// 0..n-1 in the Fisher-Yates order drawn from `generator`.
inline std::vector<std::int64_t> ShuffledOrder(std::int64_t n, SplitMix64 generator) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(generator.Below(static_cast<std::uint64_t>(i + 1)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace shardmax
