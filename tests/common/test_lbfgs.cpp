#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/lbfgs.hpp"

namespace shardmax {
namespace {

// f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1): the classic hard valley.
double Rosenbrock(const Vector& x, Vector* gradient) {
  const double a = 1.0 - x(0);
  const double b = x(1) - x(0) * x(0);
  gradient->resize(2);
  (*gradient)(0) = -2.0 * a - 400.0 * x(0) * b;
  (*gradient)(1) = 200.0 * b;
  return a * a + 100.0 * b * b;
}

SolverStatus RunToEnd(Lbfgs* solver) {
  SolverStatus status = solver->CheckStart();
  while (status == SolverStatus::kRunning) status = solver->Iterate();
  return status;
}

TEST(Lbfgs, FindsTheRosenbrockMinimum) {
  LbfgsOptions options;
  options.gradient_tolerance = 1e-10;
  options.objective_tolerance = 0.0;
  Lbfgs solver(options, Rosenbrock);
  Vector start(2);
  start << -1.2, 1.0;
  solver.Start(start);
  const SolverStatus status = RunToEnd(&solver);
  EXPECT_TRUE(status == SolverStatus::kGradientTolerance ||
              status == SolverStatus::kLineSearchFailed)
      << DescribeStatus(status);
  EXPECT_NEAR(solver.state().x(0), 1.0, 1e-8);
  EXPECT_NEAR(solver.state().x(1), 1.0, 1e-8);
  EXPECT_LT(solver.state().iteration, 100);
}

TEST(Lbfgs, SolvesAnIllConditionedQuadraticToTolerance) {
  // f = 1/2 sum_i c_i (x_i - i)^2 with c_i from 1 to 1e4.
  constexpr int n = 50;
  auto quadratic = [](const Vector& x, Vector* gradient) {
    gradient->resize(n);
    double value = 0.0;
    for (int i = 0; i < n; ++i) {
      const double c = std::pow(1e4, static_cast<double>(i) / (n - 1));
      (*gradient)(i) = c * (x(i) - i);
      value += 0.5 * c * (x(i) - i) * (x(i) - i);
    }
    return value;
  };
  LbfgsOptions options;
  options.gradient_tolerance = 1e-9;
  options.objective_tolerance = 0.0;
  options.max_iterations = 5000;  // scipy's L-BFGS-B (m = 10) needs 1080 iterations here
  Lbfgs solver(options, quadratic);
  solver.Start(Vector::Zero(n));
  EXPECT_EQ(RunToEnd(&solver), SolverStatus::kGradientTolerance);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(solver.state().x(i), i, 1e-8);
  EXPECT_LT(solver.state().iteration, 1500);
}

TEST(Lbfgs, StopsAtMaxIterationsAndResumesExactly) {
  LbfgsOptions options;
  options.history = 3;  // small, so the history wraps
  options.gradient_tolerance = 0.0;
  options.objective_tolerance = 0.0;
  options.max_iterations = 25;
  Vector start(2);
  start << -1.2, 1.0;

  Lbfgs straight(options, Rosenbrock);
  straight.Start(start);
  EXPECT_EQ(RunToEnd(&straight), SolverStatus::kMaxIterations);
  EXPECT_EQ(straight.state().iteration, 25);

  Lbfgs first(options, Rosenbrock);
  first.Start(start);
  for (int i = 0; i < 9; ++i) ASSERT_EQ(first.Iterate(), SolverStatus::kRunning);
  Lbfgs second(options, Rosenbrock);
  second.Resume(first.state());
  EXPECT_EQ(RunToEnd(&second), SolverStatus::kMaxIterations);
  EXPECT_EQ(std::memcmp(second.state().x.data(), straight.state().x.data(), 2 * sizeof(double)), 0);
  EXPECT_EQ(second.state().evaluations, straight.state().evaluations);
}

TEST(Lbfgs, AlreadyOptimalStartStopsWithoutIterating) {
  LbfgsOptions options;
  Lbfgs solver(options, Rosenbrock);
  solver.Start(Vector::Ones(2));
  EXPECT_EQ(solver.CheckStart(), SolverStatus::kGradientTolerance);
  EXPECT_EQ(solver.Iterate(), SolverStatus::kGradientTolerance);
  EXPECT_EQ(solver.state().iteration, 0);
}

}  // namespace
}  // namespace shardmax
