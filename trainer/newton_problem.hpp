// Newton-CG's two callbacks over the sharded training data (common/newton_cg.hpp): the
// objective, which keeps each local row's curvature as it passes, and the Hessian product at
// the point of the last objective (common/hessian.hpp). Each is one pass over every rank's
// shard and one all-reduce.
#pragma once

#include "common/hessian.hpp"
#include "common/mpi_layer.hpp"
#include "common/precision.hpp"
#include "io/dataset_reader.hpp"

namespace shardmax {

class ShardedNewtonProblem {
 public:
  // `shard` must hold consecutive rows of the file (no virtual shards).
  ShardedNewtonProblem(const Communicator& comm, const Loss& loss, const Shard& shard,
                       Eigen::Index classes, double weight_decay, Precision pass_precision,
                       Precision hessian_precision, int threads = 1);
  ShardedNewtonProblem(const ShardedNewtonProblem&) = delete;
  ShardedNewtonProblem& operator=(const ShardedNewtonProblem&) = delete;

  // J(theta) and its gradient (products in pass_precision); theta = [W row-major | b].
  double Objective(const Vector& theta, Vector* gradient);
  // H v at the last Objective's theta (products in hessian_precision).
  Vector HessianProduct(const Vector& v);

 private:
  const Communicator& comm_;
  const Shard& shard_;
  Eigen::Index classes_;
  double weight_decay_;
  Precision pass_precision_;
  Precision hessian_precision_;
  int threads_;  // per rank, for both passes (--threads)
  RowCurvatures curvatures_;
  CurvatureRecordingLoss recording_;
  CurvatureProductLoss product_;
};

}  // namespace shardmax
