// When a full-batch solver (common/lbfgs.hpp, common/newton_cg.hpp) stops, and why: the same
// rules and words for every solver, so --gradient-tolerance, --objective-tolerance and
// --max-iterations mean one thing.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/types.hpp"

namespace shardmax {

enum class SolverStatus {
  kRunning,
  kGradientTolerance,
  kObjectiveTolerance,
  kMaxIterations,
  kLineSearchFailed,
};

// What the stopping reason means, for the log.
std::string_view DescribeStatus(SolverStatus status);

struct StoppingRule {
  double gradient_tolerance = 1e-6;    // converged when max_i |g_i| <= this
  double objective_tolerance = 1e-12;  // converged when (f_old - f) / max(|f_old|, |f|, 1) <= this
  std::int64_t max_iterations = 1000;

  // Why a run at `iteration` with `gradient` is over before it iterates (kRunning if not).
  SolverStatus BeforeIterating(const Vector& gradient, std::int64_t iteration) const;
  // Why a run is over after an iteration took f from `previous_value` to `value`.
  SolverStatus AfterIteration(double previous_value, double value, const Vector& gradient,
                              std::int64_t iteration) const;
};

}  // namespace shardmax
