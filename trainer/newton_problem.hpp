// Newton-CG's two callbacks over the sharded training data (common/newton_cg.hpp): the
// objective, which keeps each local row's curvature as it passes, and the Hessian product at
// the point of the last objective (common/hessian.hpp). Each is one pass over every rank's
// shard and one all-reduce. Optionally the Kronecker-factored preconditioner
// (common/kronecker_preconditioner.hpp): its data factor from one pass when the problem is
// built, its class factor from the curvatures the last objective kept (one small all-reduce).
#pragma once

#include <optional>

#include "common/config.hpp"
#include "common/hessian.hpp"
#include "common/kronecker_preconditioner.hpp"
#include "common/mpi_layer.hpp"
#include "common/precision.hpp"
#include "io/dataset_reader.hpp"

namespace shardmax {

// Whether Newton-CG on `shard` preconditions: never with kNone; always with kKronecker
// (UsageError for sparse features, whose D is too large for a D x D factor); with kAuto where
// it is cheap next to the products it saves: dense features, D + 1 <= 4096, and
// (D+1)^2 <= 3 N K and 10 (D+1) <= N (N rows in all), since the one-off eigendecomposition
// costs about (D+1)^3 and an application 2 K (D+1)^2, against 4 N K (D+1) a product.
bool UsesKroneckerPreconditioner(NewtonPreconditioner choice, const Shard& shard,
                                 Eigen::Index classes);

class ShardedNewtonProblem {
 public:
  // `shard` must hold consecutive rows of the file (no virtual shards).
  // Collective when `precondition`: computes the preconditioner's data factor.
  ShardedNewtonProblem(const Communicator& comm, const Loss& loss, const Shard& shard,
                       Eigen::Index classes, double weight_decay, Precision pass_precision,
                       Precision hessian_precision, int threads = 1, bool precondition = false);
  ShardedNewtonProblem(const ShardedNewtonProblem&) = delete;
  ShardedNewtonProblem& operator=(const ShardedNewtonProblem&) = delete;

  // J(theta) and its gradient (products in pass_precision); theta = [W row-major | b].
  double Objective(const Vector& theta, Vector* gradient);
  // H v at the last Objective's theta (products in hessian_precision).
  Vector HessianProduct(const Vector& v);
  // M^-1 r at the last Objective's theta; collective on its first call after an Objective.
  // Only when built with `precondition`.
  Vector Precondition(const Vector& r);
  bool is_preconditioned() const { return preconditioner_.has_value(); }

 private:
  const Communicator& comm_;
  const Loss& loss_;
  const Shard& shard_;
  Eigen::Index classes_;
  double weight_decay_;
  Precision pass_precision_;
  Precision hessian_precision_;
  int threads_;  // per rank, for both passes (--threads)
  RowCurvatures curvatures_;
  CurvatureRecordingLoss recording_;
  CurvatureProductLoss product_;
  std::optional<KroneckerPreconditioner> preconditioner_;
  bool class_curvature_is_current_ = false;  // in preconditioner_, for the last Objective
};

}  // namespace shardmax
