#include "common/stopping.hpp"

#include <algorithm>
#include <cmath>

namespace shardmax {

std::string_view DescribeStatus(SolverStatus status) {
  switch (status) {
    case SolverStatus::kRunning:
      return "running";
    case SolverStatus::kGradientTolerance:
      return "converged: the largest gradient component is within --gradient-tolerance";
    case SolverStatus::kObjectiveTolerance:
      return "converged: the relative decrease of the objective is within --objective-tolerance";
    case SolverStatus::kMaxIterations:
      return "stopped: --max-iterations reached";
    case SolverStatus::kLineSearchFailed:
      return "stopped: the line search found no point decreasing the objective enough "
             "(it is flat to machine precision along the search direction)";
  }
  return "unknown";
}

SolverStatus StoppingRule::BeforeIterating(const Vector& gradient, std::int64_t iteration) const {
  if (gradient.cwiseAbs().maxCoeff() <= gradient_tolerance) {
    return SolverStatus::kGradientTolerance;
  }
  if (iteration >= max_iterations) return SolverStatus::kMaxIterations;
  return SolverStatus::kRunning;
}

SolverStatus StoppingRule::AfterIteration(double previous_value, double value,
                                          const Vector& gradient, std::int64_t iteration) const {
  if (gradient.cwiseAbs().maxCoeff() <= gradient_tolerance) {
    return SolverStatus::kGradientTolerance;
  }
  const double scale = std::max({std::abs(previous_value), std::abs(value), 1.0});
  if ((previous_value - value) / scale <= objective_tolerance) {
    return SolverStatus::kObjectiveTolerance;
  }
  if (iteration >= max_iterations) return SolverStatus::kMaxIterations;
  return SolverStatus::kRunning;
}

}  // namespace shardmax
