#include "common/lbfgs.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace shardmax {

Lbfgs::Lbfgs(const LbfgsOptions& options, ObjectiveFunction objective)
    : options_(options), objective_(std::move(objective)) {}

void Lbfgs::Start(const Vector& x0) {
  state_ = LbfgsState{};
  state_.x = x0;
  state_.value = objective_(state_.x, &state_.gradient);
  state_.evaluations = 1;
  state_.s_history = Matrix::Zero(options_.history, x0.size());
  state_.y_history = Matrix::Zero(options_.history, x0.size());
}

void Lbfgs::Resume(LbfgsState state) { state_ = std::move(state); }

SolverStatus Lbfgs::CheckStart() const {
  return options_.BeforeIterating(state_.gradient, state_.iteration);
}

// Two-loop recursion: r = H g without forming H.
Vector Lbfgs::Direction() const {
  Vector q = state_.gradient;
  std::vector<double> alpha(static_cast<std::size_t>(state_.pairs));
  for (std::int64_t i = state_.pairs - 1; i >= 0; --i) {
    const auto s = state_.s_history.row(i).transpose();
    const auto y = state_.y_history.row(i).transpose();
    const double a = s.dot(q) / y.dot(s);
    alpha[static_cast<std::size_t>(i)] = a;
    q -= a * y;
  }
  double gamma = 1.0;
  if (state_.pairs > 0) {
    const auto s = state_.s_history.row(state_.pairs - 1);
    const auto y = state_.y_history.row(state_.pairs - 1);
    gamma = s.dot(y) / y.squaredNorm();
  }
  Vector r = gamma * q;
  for (std::int64_t i = 0; i < state_.pairs; ++i) {
    const auto s = state_.s_history.row(i).transpose();
    const auto y = state_.y_history.row(i).transpose();
    const double beta = y.dot(r) / y.dot(s);
    r += (alpha[static_cast<std::size_t>(i)] - beta) * s;
  }
  return -r;
}

Lbfgs::Trial Lbfgs::Evaluate(const Vector& direction, double step) {
  Trial trial;
  trial.step = step;
  trial.x = state_.x + step * direction;
  trial.value = objective_(trial.x, &trial.gradient);
  trial.slope = trial.gradient.dot(direction);
  ++state_.evaluations;
  ++search_evaluations_;
  return trial;
}

namespace {

// The minimizer of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle
// 80% of [a, b] (N&W eq. 3.59); bisection when the cubic has no usable minimizer.
double CubicMinimizer(double a, double fa, double da, double b, double fb, double db) {
  const double lo = std::min(a, b);
  const double hi = std::max(a, b);
  const double margin = 0.1 * (hi - lo);
  const double d1 = da + db - 3.0 * (fa - fb) / (a - b);
  const double radicand = d1 * d1 - da * db;
  double step = 0.5 * (a + b);
  if (radicand >= 0.0) {
    const double d2 = std::copysign(std::sqrt(radicand), b - a);
    const double candidate = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
    if (std::isfinite(candidate)) step = candidate;
  }
  return std::clamp(step, lo + margin, hi - margin);
}

}  // namespace

bool Lbfgs::Zoom(const Vector& direction, Trial low, Trial high, double slope0, Trial* accepted) {
  const double value0 = state_.value;
  while (search_evaluations_ < options_.max_evaluations_per_search) {
    const double step =
        CubicMinimizer(low.step, low.value, low.slope, high.step, high.value, high.slope);
    Trial trial = Evaluate(direction, step);
    if (trial.value > value0 + options_.c1 * step * slope0 || trial.value >= low.value) {
      high = std::move(trial);
      continue;
    }
    if (std::abs(trial.slope) <= -options_.c2 * slope0) {
      *accepted = std::move(trial);
      return true;
    }
    if (trial.slope * (high.step - low.step) >= 0.0) high = low;
    low = std::move(trial);
  }
  return false;
}

bool Lbfgs::LineSearch(const Vector& direction, double initial_step, Trial* accepted) {
  search_evaluations_ = 0;
  const double value0 = state_.value;
  const double slope0 = state_.gradient.dot(direction);
  Trial previous;
  previous.step = 0.0;
  previous.value = value0;
  previous.slope = slope0;
  previous.x = state_.x;
  previous.gradient = state_.gradient;
  double step = initial_step;
  for (int i = 0; search_evaluations_ < options_.max_evaluations_per_search; ++i) {
    Trial trial = Evaluate(direction, step);
    if (!std::isfinite(trial.value) || trial.value > value0 + options_.c1 * step * slope0 ||
        (i > 0 && trial.value >= previous.value)) {
      if (!std::isfinite(trial.value)) {
        // Overshot into overflow: shrink towards the last good point.
        step = 0.5 * (previous.step + step);
        continue;
      }
      return Zoom(direction, std::move(previous), std::move(trial), slope0, accepted);
    }
    if (std::abs(trial.slope) <= -options_.c2 * slope0) {
      *accepted = std::move(trial);
      return true;
    }
    if (trial.slope >= 0.0) {
      return Zoom(direction, std::move(trial), std::move(previous), slope0, accepted);
    }
    previous = std::move(trial);
    step *= 2.0;
  }
  return false;
}

void Lbfgs::Remember(const Vector& s, const Vector& y) {
  if (s.dot(y) <= 0.0) return;  // keeps H positive definite
  if (state_.pairs == options_.history) {
    // Drop the oldest pair: shift rows up (m is small).
    for (int i = 1; i < options_.history; ++i) {
      state_.s_history.row(i - 1) = state_.s_history.row(i);
      state_.y_history.row(i - 1) = state_.y_history.row(i);
    }
    --state_.pairs;
  }
  state_.s_history.row(state_.pairs) = s.transpose();
  state_.y_history.row(state_.pairs) = y.transpose();
  ++state_.pairs;
}

SolverStatus Lbfgs::Iterate() {
  const SolverStatus start = CheckStart();
  if (start != SolverStatus::kRunning) return start;

  Vector direction = Direction();
  if (!(state_.gradient.dot(direction) < 0.0)) {
    // Not a descent direction (rounding in H): fall back to steepest descent.
    state_.pairs = 0;
    direction = -state_.gradient;
  }
  // The first step is scaled so it moves by about 1; later, the quasi-Newton step 1 is tried.
  const double initial_step =
      state_.pairs == 0 ? std::min(1.0, 1.0 / direction.norm()) : 1.0;
  Trial accepted;
  if (!LineSearch(direction, initial_step, &accepted)) return SolverStatus::kLineSearchFailed;

  const double previous_value = state_.value;
  Remember(accepted.x - state_.x, accepted.gradient - state_.gradient);
  state_.x = std::move(accepted.x);
  state_.gradient = std::move(accepted.gradient);
  state_.value = accepted.value;
  state_.last_step = accepted.step;
  ++state_.iteration;

  return options_.AfterIteration(previous_value, state_.value, state_.gradient, state_.iteration);
}

}  // namespace shardmax
