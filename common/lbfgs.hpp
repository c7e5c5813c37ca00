// Limited-memory BFGS with a line search satisfying the strong Wolfe conditions
// (Nocedal & Wright, Numerical Optimization, 2nd ed.: Alg. 7.4 two-loop recursion,
// Alg. 3.5 line search, Alg. 3.6 zoom with cubic interpolation):
//   d = -H g,  H built from the last m pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i,
//              starting from H0 = (s'y / y'y) I;
//   x <- x + a d,  with  f(x + a d) <= f(x) + c1 a g'd  and  |g(x + a d)'d| <= c2 |g'd|.
// Every decision depends only on the values the objective returns, so ranks that evaluate
// the same all-reduced objective take the same steps with no communication of their own.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/stopping.hpp"
#include "common/types.hpp"

namespace shardmax {

struct LbfgsOptions : StoppingRule {
  int history = 10;  // m, the number of (s, y) pairs kept
  double c1 = 1e-4;  // sufficient decrease
  double c2 = 0.9;   // curvature
  int max_evaluations_per_search = 20;
};

// Returns f(x) and writes its gradient.
using ObjectiveFunction = std::function<double(const Vector& x, Vector* gradient)>;

// Everything needed to continue exactly where a run stopped.
struct LbfgsState {
  Vector x;
  Vector gradient;
  double value = 0.0;
  Matrix s_history;  // history x n; rows [0, pairs) oldest first
  Matrix y_history;
  std::int64_t pairs = 0;
  std::int64_t iteration = 0;
  std::int64_t evaluations = 0;
  double last_step = 0.0;  // a of the last line search
};

class Lbfgs {
 public:
  Lbfgs(const LbfgsOptions& options, ObjectiveFunction objective);

  // Evaluates the objective at x0 (one evaluation).
  void Start(const Vector& x0);
  // Continues from a saved state (no evaluation).
  void Resume(LbfgsState state);
  // Runs one iteration; returns kRunning, or why the run is over.
  SolverStatus Iterate();
  // Why a run that has not iterated yet is already over (kRunning if it is not).
  SolverStatus CheckStart() const;

  const LbfgsState& state() const { return state_; }

 private:
  struct Trial {
    double step = 0.0;
    double value = 0.0;
    double slope = 0.0;  // g(x + step d)'d
    Vector x;
    Vector gradient;
  };

  Vector Direction() const;
  Trial Evaluate(const Vector& direction, double step);
  bool LineSearch(const Vector& direction, double initial_step, Trial* accepted);
  bool Zoom(const Vector& direction, Trial low, Trial high, double slope0, Trial* accepted);
  void Remember(const Vector& s, const Vector& y);

  LbfgsOptions options_;
  ObjectiveFunction objective_;
  LbfgsState state_;
  int search_evaluations_ = 0;
};

}  // namespace shardmax
