#include "common/optimizer.hpp"

namespace shardmax {

SgdMomentum::SgdMomentum(const OptimizerConfig& config, Eigen::Index classes,
                         Eigen::Index features)
    : learning_rate_(config.learning_rate),
      momentum_(config.momentum),
      velocity_weights_(Matrix::Zero(classes, features)),
      velocity_bias_(Matrix::Zero(classes, 1)) {}

void SgdMomentum::Step(const Matrix& grad_weights, const Vector& grad_bias, SoftmaxModel* model) {
  velocity_weights_ = momentum_ * velocity_weights_ + grad_weights;
  velocity_bias_.col(0) = momentum_ * velocity_bias_.col(0) + grad_bias;
  model->weights -= learning_rate_ * velocity_weights_;
  model->bias -= learning_rate_ * velocity_bias_.col(0);
}

std::vector<OptimizerStateArray> SgdMomentum::State() {
  return {{"velocity_weights", &velocity_weights_}, {"velocity_bias", &velocity_bias_}};
}

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features) {
  return std::make_unique<SgdMomentum>(config, classes, features);
}

}  // namespace shardmax
