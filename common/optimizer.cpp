#include "common/optimizer.hpp"

#include <cmath>
#include <numbers>

namespace shardmax {

SgdMomentum::SgdMomentum(const OptimizerConfig& config, Eigen::Index classes,
                         Eigen::Index features)
    : momentum_(config.momentum),
      velocity_weights_(Matrix::Zero(classes, features)),
      velocity_bias_(Matrix::Zero(classes, 1)) {}

double LearningRateAt(const OptimizerConfig& config, std::int64_t step, std::int64_t total_steps) {
  if (config.schedule == LearningRateSchedule::kConstant || total_steps <= 0) {
    return config.learning_rate;
  }
  const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
  return config.learning_rate * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

void SgdMomentum::Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
                       SoftmaxModel* model) {
  velocity_weights_ = momentum_ * velocity_weights_ + grad_weights;
  velocity_bias_.col(0) = momentum_ * velocity_bias_.col(0) + grad_bias;
  model->weights -= learning_rate * velocity_weights_;
  model->bias -= learning_rate * velocity_bias_.col(0);
}

std::vector<OptimizerStateArray> SgdMomentum::State() {
  return {{"velocity_weights", &velocity_weights_}, {"velocity_bias", &velocity_bias_}};
}

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features) {
  return std::make_unique<SgdMomentum>(config, classes, features);
}

}  // namespace shardmax
