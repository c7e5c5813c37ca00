#include "common/optimizer.hpp"

#include <cmath>
#include <numbers>

namespace shardmax {

double LearningRateAt(const OptimizerConfig& config, std::int64_t step, std::int64_t total_steps) {
  const std::int64_t warmup = config.warmup_steps;
  if (step < warmup) {
    return config.learning_rate * static_cast<double>(step + 1) / static_cast<double>(warmup);
  }
  const std::int64_t after_warmup = step - warmup;
  switch (config.schedule) {
    case LearningRateSchedule::kConstant:
      break;
    case LearningRateSchedule::kStep:
      if (config.step_size_steps > 0) {
        return config.learning_rate *
               std::pow(config.step_gamma,
                        static_cast<double>(after_warmup / config.step_size_steps));
      }
      break;
    case LearningRateSchedule::kCosine:
      if (total_steps > warmup) {
        const double progress =
            static_cast<double>(after_warmup) / static_cast<double>(total_steps - warmup);
        return config.learning_rate * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
      }
      break;
  }
  return config.learning_rate;
}

SgdMomentum::SgdMomentum(const OptimizerConfig& config, Eigen::Index classes,
                         Eigen::Index features)
    : momentum_(config.momentum),
      nesterov_(config.nesterov),
      velocity_weights_(Matrix::Zero(classes, features)),
      velocity_bias_(Matrix::Zero(classes, 1)) {}

void SgdMomentum::Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
                       SoftmaxModel* model) {
  velocity_weights_ = momentum_ * velocity_weights_ + grad_weights;
  velocity_bias_.col(0) = momentum_ * velocity_bias_.col(0) + grad_bias;
  if (nesterov_) {
    model->weights -= learning_rate * (grad_weights + momentum_ * velocity_weights_);
    model->bias -= learning_rate * (grad_bias + momentum_ * velocity_bias_.col(0));
  } else {
    model->weights -= learning_rate * velocity_weights_;
    model->bias -= learning_rate * velocity_bias_.col(0);
  }
}

std::vector<OptimizerStateArray> SgdMomentum::State() {
  return {{"velocity_weights", &velocity_weights_}, {"velocity_bias", &velocity_bias_}};
}

AdamW::AdamW(const OptimizerConfig& config, Eigen::Index classes, Eigen::Index features)
    : config_(config),
      first_weights_(Matrix::Zero(classes, features)),
      second_weights_(Matrix::Zero(classes, features)),
      first_bias_(Matrix::Zero(classes, 1)),
      second_bias_(Matrix::Zero(classes, 1)),
      steps_(Matrix::Zero(1, 1)) {}

void AdamW::Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
                 SoftmaxModel* model) {
  const double t = (steps_(0, 0) += 1.0);
  const double b1 = config_.beta1;
  const double b2 = config_.beta2;
  const double first_correction = 1.0 - std::pow(b1, t);
  const double second_correction = 1.0 - std::pow(b2, t);
  first_weights_ = b1 * first_weights_ + (1.0 - b1) * grad_weights;
  second_weights_ = b2 * second_weights_ + (1.0 - b2) * grad_weights.cwiseAbs2();
  first_bias_.col(0) = b1 * first_bias_.col(0) + (1.0 - b1) * grad_bias;
  second_bias_.col(0) = b2 * second_bias_.col(0) + (1.0 - b2) * grad_bias.cwiseAbs2();
  model->weights *= 1.0 - learning_rate * config_.weight_decay;
  model->weights.array() -= learning_rate * (first_weights_.array() / first_correction) /
                            ((second_weights_.array() / second_correction).sqrt() + config_.epsilon);
  model->bias.array() -= learning_rate * (first_bias_.col(0).array() / first_correction) /
                         ((second_bias_.col(0).array() / second_correction).sqrt() + config_.epsilon);
}

std::vector<OptimizerStateArray> AdamW::State() {
  return {{"adam_first_weights", &first_weights_},
          {"adam_second_weights", &second_weights_},
          {"adam_first_bias", &first_bias_},
          {"adam_second_bias", &second_bias_},
          {"adam_steps", &steps_}};
}

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features) {
  if (config.solver == Solver::kAdamW) return std::make_unique<AdamW>(config, classes, features);
  return std::make_unique<SgdMomentum>(config, classes, features);
}

}  // namespace shardmax
