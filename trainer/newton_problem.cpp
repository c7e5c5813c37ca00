#include "trainer/newton_problem.hpp"

#include "common/model.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {

ShardedNewtonProblem::ShardedNewtonProblem(const Communicator& comm, const Loss& loss,
                                           const Shard& shard, Eigen::Index classes,
                                           double weight_decay, Precision pass_precision,
                                           Precision hessian_precision, int threads)
    : comm_(comm),
      shard_(shard),
      classes_(classes),
      weight_decay_(weight_decay),
      pass_precision_(pass_precision),
      hessian_precision_(hessian_precision),
      threads_(threads),
      curvatures_(shard.rows.begin, shard.rows.size(), classes),
      recording_(loss, &curvatures_),
      product_(loss, &curvatures_) {}

double ShardedNewtonProblem::Objective(const Vector& theta, Vector* gradient) {
  const SoftmaxModel model = UnflattenParameters(theta, classes_, shard_.feature_count);
  const shardmax::Objective objective =
      ComputeShardedObjective(comm_, recording_, model, shard_, weight_decay_, pass_precision_,
                              threads_);
  *gradient = FlattenParameters(objective.grad_weights, objective.grad_bias);
  return objective.value;
}

Vector ShardedNewtonProblem::HessianProduct(const Vector& v) {
  // The gradient's formula at the model (V, v_b), with H_i u_i for dl/dz_i: its "gradient"
  // is H v, weight decay included; its value means nothing.
  const SoftmaxModel direction = UnflattenParameters(v, classes_, shard_.feature_count);
  const shardmax::Objective product = ComputeShardedObjective(
      comm_, product_, direction, shard_, weight_decay_, hessian_precision_, threads_);
  return FlattenParameters(product.grad_weights, product.grad_bias);
}

}  // namespace shardmax
