// Newton's method with conjugate-gradient steps (inexact, "truncated" Newton; Nocedal & Wright,
// Numerical Optimization, 2nd ed., Alg. 7.1), for the strictly convex objective J:
//   CG on H d = -g from d = 0, stopped when ||H d + g|| <= eta ||g||,  eta = min(0.5, sqrt(||g||))
//   (or at --max-cg-iterations, or on a direction of non-positive curvature), preconditioned
//   (Alg. 5.3) when an approximate inverse M^-1 of H is given;
//   x <- x + a d, a the first of 1, 1/2, 1/4, ... with f(x + a d) <= f(x) + c1 a g'd.
// H is only ever applied to a vector (common/hessian.hpp: one pass over the data per product),
// so a step costs a few gradient passes plus one pass per CG iteration, and near the optimum
// the steps converge quadratically where L-BFGS creeps. Every decision depends only on the
// values the callbacks return, so ranks that all-reduce them take the same steps.
#pragma once

#include <cstdint>
#include <functional>

#include "common/stopping.hpp"
#include "common/types.hpp"

namespace shardmax {

struct NewtonCgOptions : StoppingRule {
  std::int64_t max_cg_iterations = 250;  // per Newton step
  double c1 = 1e-4;                      // sufficient decrease
  int max_halvings = 30;                 // of the step, per line search
};

// Returns f(x) and writes its gradient; the last call's point is where HessianProduct applies.
using NewtonObjective = std::function<double(const Vector& x, Vector* gradient)>;
// H v, H the Hessian of f at the point of the last NewtonObjective call.
using HessianProduct = std::function<Vector(const Vector& v)>;
// M^-1 r, M symmetric positive definite and close to that H (common/kronecker_preconditioner.hpp).
using Preconditioner = std::function<Vector(const Vector& r)>;

// Everything needed to continue exactly where a run stopped: x and the counters (the gradient
// and the curvature come back from one evaluation at x, with the same bits).
struct NewtonCgState {
  Vector x;
  Vector gradient;
  double value = 0.0;
  std::int64_t iteration = 0;
  std::int64_t evaluations = 0;       // objective evaluations (gradient passes)
  std::int64_t hessian_products = 0;  // H v products (one pass each)
  double last_step = 0.0;             // a of the last line search
  std::int64_t last_cg_iterations = 0;
};

class NewtonCg {
 public:
  // Without a preconditioner, plain CG.
  NewtonCg(const NewtonCgOptions& options, NewtonObjective objective, HessianProduct hessian,
           Preconditioner preconditioner = nullptr);

  // Evaluates the objective at x0 (one evaluation).
  void Start(const Vector& x0);
  // Continues from a saved state: evaluates at state.x (not counted: it repeats the evaluation
  // that the saved run made there) for the gradient and the curvature.
  void Resume(NewtonCgState state);
  // Runs one Newton step; returns kRunning, or why the run is over.
  SolverStatus Iterate();
  // Why a run that has not iterated yet is already over (kRunning if it is not).
  SolverStatus CheckStart() const;

  const NewtonCgState& state() const { return state_; }

 private:
  Vector Direction();

  NewtonCgOptions options_;
  NewtonObjective objective_;
  HessianProduct hessian_;
  Preconditioner preconditioner_;
  NewtonCgState state_;
};

}  // namespace shardmax
