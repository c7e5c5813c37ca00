#include "trainer/newton_problem.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/model.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {

bool UsesKroneckerPreconditioner(NewtonPreconditioner choice, const Shard& shard,
                                 Eigen::Index classes) {
  if (choice == NewtonPreconditioner::kNone) return false;
  if (choice == NewtonPreconditioner::kKronecker) {
    if (shard.is_sparse) {
      throw UsageError("--newton-preconditioner kronecker needs dense features; '" + shard.path +
                       "' holds sparse ones (use auto or none)");
    }
    return true;
  }
  const double columns = static_cast<double>(shard.feature_count + 1);
  const double rows = static_cast<double>(shard.total_rows);
  return !shard.is_sparse && columns <= 4096.0 &&
         columns * columns <= 3.0 * rows * static_cast<double>(classes) && 10.0 * columns <= rows;
}

ShardedNewtonProblem::ShardedNewtonProblem(const Communicator& comm, const Loss& loss,
                                           const Shard& shard, Eigen::Index classes,
                                           double weight_decay, Precision pass_precision,
                                           Precision hessian_precision, int threads,
                                           bool precondition)
    : comm_(comm),
      loss_(loss),
      shard_(shard),
      classes_(classes),
      weight_decay_(weight_decay),
      pass_precision_(pass_precision),
      hessian_precision_(hessian_precision),
      threads_(threads),
      curvatures_(shard.rows.begin, shard.rows.size(), classes),
      recording_(loss, &curvatures_),
      product_(loss, &curvatures_) {
  if (precondition) preconditioner_.emplace(FeatureMoments(comm, shard, threads), weight_decay);
}

double ShardedNewtonProblem::Objective(const Vector& theta, Vector* gradient) {
  const SoftmaxModel model = UnflattenParameters(theta, classes_, shard_.feature_count);
  const shardmax::Objective objective =
      ComputeShardedObjective(comm_, recording_, model, shard_, weight_decay_, pass_precision_,
                              threads_);
  *gradient = FlattenParameters(objective.grad_weights, objective.grad_bias);
  class_curvature_is_current_ = false;
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

Vector ShardedNewtonProblem::Precondition(const Vector& r) {
  if (!preconditioner_) throw std::logic_error("Precondition: a problem built without one");
  if (!class_curvature_is_current_) {
    // A = (1/S) sum_i w_i H_i over every rank's rows.
    std::vector<double> sums = curvatures_.CurvatureSums(loss_);
    AllreduceSum(comm_, sums);
    const double weight_sum = sums.back();
    Matrix class_curvature = Eigen::Map<const Matrix>(sums.data(), classes_, classes_);
    if (weight_sum > 0.0) class_curvature /= weight_sum;
    preconditioner_->SetClassCurvature(class_curvature);
    class_curvature_is_current_ = true;
  }
  return preconditioner_->Apply(r);
}

}  // namespace shardmax
