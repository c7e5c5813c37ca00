// Lazy weight decay against the eager update it stands for, step by step.
#include <gtest/gtest.h>

#include <vector>

#include "common/lazy_decay.hpp"
#include "common/random.hpp"

namespace shardmax {
namespace {

// 200 SGD steps on a 3 x 50 matrix, each touching a few random columns with a random gradient,
// at a rate that changes every step: eager decays every column every step, lazy only the
// touched ones and settles the rest on Flush.
TEST(LazyWeightDecayTest, EqualsTheEagerUpdateUpToRounding) {
  constexpr Eigen::Index kClasses = 3;
  constexpr Eigen::Index kFeatures = 50;
  constexpr double kDecay = 0.3;
  SplitMix64 generator(5);
  Matrix eager(kClasses, kFeatures);
  for (Eigen::Index i = 0; i < eager.size(); ++i) eager.data()[i] = generator.Normal();
  Matrix lazy = eager;
  LazyWeightDecay decay(kFeatures);
  for (int step = 0; step < 200; ++step) {
    const double rate = 0.01 + 0.1 * generator.UniformOpen();
    std::vector<std::int32_t> touched;
    for (Eigen::Index j = 0; j < kFeatures; ++j) {
      if (generator.Below(10) == 0) touched.push_back(static_cast<std::int32_t>(j));
    }
    Matrix gradient = Matrix::Zero(kClasses, kFeatures);
    for (const std::int32_t j : touched) {
      for (Eigen::Index k = 0; k < kClasses; ++k) gradient(k, j) = generator.Normal();
    }
    eager -= rate * (gradient + kDecay * eager);

    decay.BringUpToDate(touched, &lazy);
    for (const std::int32_t j : touched) {
      lazy.col(j) -= rate * (gradient.col(j) + kDecay * lazy.col(j));
    }
    decay.Advance(rate, kDecay, touched);
  }
  Matrix pending = lazy;
  decay.Flush(&lazy);
  const double scale = eager.cwiseAbs().maxCoeff();
  EXPECT_LE((lazy - eager).cwiseAbs().maxCoeff(), 1e-12 * scale);
  // Columns untouched for a while really owed their decay.
  EXPECT_GT((pending - eager).cwiseAbs().maxCoeff(), 1e-3 * scale);
  // A second flush changes nothing.
  Matrix again = lazy;
  decay.Flush(&again);
  EXPECT_TRUE(again == lazy);
}

}  // namespace
}  // namespace shardmax
