#include "common/newton_cg.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace shardmax {

NewtonCg::NewtonCg(const NewtonCgOptions& options, NewtonObjective objective,
                   HessianProduct hessian, Preconditioner preconditioner)
    : options_(options),
      objective_(std::move(objective)),
      hessian_(std::move(hessian)),
      preconditioner_(std::move(preconditioner)) {}

void NewtonCg::Start(const Vector& x0) {
  state_ = NewtonCgState{};
  state_.x = x0;
  state_.value = objective_(state_.x, &state_.gradient);
  state_.evaluations = 1;
}

void NewtonCg::Resume(NewtonCgState state) {
  state_ = std::move(state);
  state_.value = objective_(state_.x, &state_.gradient);
}

SolverStatus NewtonCg::CheckStart() const {
  return options_.BeforeIterating(state_.gradient, state_.iteration);
}

// CG on H d = -g (N&W Alg. 7.1, preconditioned as in Alg. 5.3): stops at the forcing
// tolerance on ||r||, at the iteration cap, or on a direction of non-positive curvature (then
// the last d, or -g if there is none yet).
Vector NewtonCg::Direction() {
  const Vector& g = state_.gradient;
  const double g_norm = g.norm();
  const double tolerance = std::min(0.5, std::sqrt(g_norm)) * g_norm;
  const auto precondition = [this](const Vector& r) {
    return preconditioner_ ? preconditioner_(r) : r;
  };
  Vector d = Vector::Zero(g.size());
  Vector r = -g;  // -g - H d
  Vector z = precondition(r);
  Vector p = z;
  double rz = r.dot(z);
  state_.last_cg_iterations = 0;
  while (state_.last_cg_iterations < options_.max_cg_iterations) {
    const Vector hp = hessian_(p);
    ++state_.hessian_products;
    ++state_.last_cg_iterations;
    const double curvature = p.dot(hp);
    if (!(curvature > 0.0)) return state_.last_cg_iterations == 1 ? Vector(-g) : d;
    const double alpha = rz / curvature;
    d += alpha * p;
    r -= alpha * hp;
    if (r.norm() <= tolerance) break;
    z = precondition(r);
    const double rz_next = r.dot(z);
    p = z + (rz_next / rz) * p;
    rz = rz_next;
  }
  return d;
}

SolverStatus NewtonCg::Iterate() {
  const SolverStatus start = CheckStart();
  if (start != SolverStatus::kRunning) return start;

  Vector direction = Direction();
  double slope = state_.gradient.dot(direction);
  if (!(slope < 0.0)) {  // rounding in a nearly singular H: fall back to steepest descent
    direction = -state_.gradient;
    slope = state_.gradient.dot(direction);
  }
  // Backtracking from the Newton step 1. The accepted point is the last one evaluated, so the
  // curvature the next products use is the accepted point's.
  double step = 1.0;
  Vector x;
  Vector gradient;
  double value = 0.0;
  for (int halvings = 0;; ++halvings) {
    if (halvings > options_.max_halvings) return SolverStatus::kLineSearchFailed;
    x = state_.x + step * direction;
    value = objective_(x, &gradient);
    ++state_.evaluations;
    if (std::isfinite(value) && value <= state_.value + options_.c1 * step * slope) break;
    step *= 0.5;
  }
  const double previous_value = state_.value;
  state_.x = std::move(x);
  state_.gradient = std::move(gradient);
  state_.value = value;
  state_.last_step = step;
  ++state_.iteration;
  return options_.AfterIteration(previous_value, state_.value, state_.gradient, state_.iteration);
}

}  // namespace shardmax
