#include <gtest/gtest.h>

#include "common/optimizer.hpp"

#include <cmath>

namespace shardmax {
namespace {

TEST(SgdMomentum, PlainStepIsThetaMinusLrTimesGradient) {
  SgdMomentum sgd(OptimizerConfig{}, 2, 2);
  SoftmaxModel model = SoftmaxModel::Zeros(2, 2);
  model.weights << 1.0, 2.0, 3.0, 4.0;
  Matrix grad(2, 2);
  grad << 0.2, -0.4, 1.0, 0.0;
  Vector grad_bias(2);
  grad_bias << 1.0, -2.0;
  sgd.Step(0.5, grad, grad_bias, &model);
  Matrix expected(2, 2);
  expected << 0.9, 2.2, 2.5, 4.0;
  EXPECT_LT((model.weights - expected).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_DOUBLE_EQ(model.bias(0), -0.5);
  EXPECT_DOUBLE_EQ(model.bias(1), 1.0);
}

TEST(SgdMomentum, VelocityAccumulates) {
  // v1 = g, v2 = mu g + g; theta2 = theta0 - lr (2 + mu) g for a constant gradient.
  const double lr = 0.1;
  const double mu = 0.9;
  OptimizerConfig config;
  config.momentum = mu;
  SgdMomentum sgd(config, 1, 1);
  SoftmaxModel model = SoftmaxModel::Zeros(1, 1);
  const Matrix grad = Matrix::Constant(1, 1, 2.0);
  const Vector grad_bias = Vector::Constant(1, 1.0);
  sgd.Step(lr, grad, grad_bias, &model);
  sgd.Step(lr, grad, grad_bias, &model);
  EXPECT_NEAR(model.weights(0, 0), -lr * (2.0 + mu) * 2.0, 1e-15);
  EXPECT_NEAR(model.bias(0), -lr * (2.0 + mu) * 1.0, 1e-15);
  const auto state = sgd.State();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "velocity_weights");
  EXPECT_NEAR((*state[0].values)(0, 0), (1.0 + mu) * 2.0, 1e-15);
}

TEST(LearningRateAt, ConstantAndCosine) {
  OptimizerConfig config;
  config.learning_rate = 0.2;
  EXPECT_EQ(LearningRateAt(config, 37, 100), 0.2);
  config.schedule = LearningRateSchedule::kCosine;
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 0, 100), 0.2);
  EXPECT_NEAR(LearningRateAt(config, 50, 100), 0.1, 1e-15);
  EXPECT_NEAR(LearningRateAt(config, 25, 100), 0.1 * (1.0 + std::sqrt(0.5)), 1e-15);
  EXPECT_NEAR(LearningRateAt(config, 99, 100), 0.1 * (1.0 + std::cos(M_PI * 0.99)), 1e-15);
}

TEST(LearningRateAt, WarmUpThenStepDecay) {
  OptimizerConfig config;
  config.learning_rate = 1.0;
  config.warmup_steps = 4;
  config.schedule = LearningRateSchedule::kStep;
  config.step_size_steps = 10;
  config.step_gamma = 0.5;
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 0, 100), 0.25);
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 3, 100), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 4, 100), 1.0);    // first step after warm-up
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 13, 100), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 14, 100), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 34, 100), 0.125);
  config.schedule = LearningRateSchedule::kCosine;  // cosine over the 96 steps after warm-up
  EXPECT_DOUBLE_EQ(LearningRateAt(config, 4, 100), 1.0);
  EXPECT_NEAR(LearningRateAt(config, 52, 100), 0.5, 1e-15);
}

TEST(SgdMomentum, NesterovLooksAhead) {
  // v1 = g, theta1 = -lr (g + mu g); v2 = mu g + g, theta2 = theta1 - lr (g + mu v2).
  OptimizerConfig config;
  config.momentum = 0.5;
  config.nesterov = true;
  SgdMomentum sgd(config, 1, 1);
  SoftmaxModel model = SoftmaxModel::Zeros(1, 1);
  const Matrix grad = Matrix::Constant(1, 1, 1.0);
  const Vector grad_bias = Vector::Constant(1, 2.0);
  sgd.Step(0.1, grad, grad_bias, &model);
  EXPECT_NEAR(model.weights(0, 0), -0.1 * 1.5, 1e-15);
  sgd.Step(0.1, grad, grad_bias, &model);
  EXPECT_NEAR(model.weights(0, 0), -0.15 - 0.1 * (1.0 + 0.5 * 1.5), 1e-15);
  EXPECT_NEAR(model.bias(0), 2.0 * (-0.15 - 0.1 * (1.0 + 0.5 * 1.5)), 1e-15);
}

TEST(AdamW, FirstStepsMatchTheFormulaWithDecoupledDecayOnWeightsOnly) {
  OptimizerConfig config;
  config.solver = Solver::kAdamW;
  config.weight_decay = 0.1;
  auto adam = MakeOptimizer(config, 1, 1);
  ASSERT_TRUE(adam->decouples_weight_decay());
  SoftmaxModel model = SoftmaxModel::Zeros(1, 1);
  model.weights(0, 0) = 2.0;
  model.bias(0) = 2.0;
  const double lr = 0.01;
  const Matrix grad = Matrix::Constant(1, 1, 0.5);
  const Vector grad_bias = Vector::Constant(1, 0.5);
  adam->Step(lr, grad, grad_bias, &model);
  // t = 1: m_hat = g, v_hat = g^2, so the Adam step is lr * g / (|g| + eps) ~ lr.
  const double adam_step = lr * 0.5 / (0.5 + 1e-8);
  EXPECT_NEAR(model.weights(0, 0), 2.0 * (1.0 - lr * 0.1) - adam_step, 1e-15);
  EXPECT_NEAR(model.bias(0), 2.0 - adam_step, 1e-15);  // the bias is not decayed
  // t = 2 with the same gradient: m_hat = g and v_hat = g^2 again.
  const double weight_before = model.weights(0, 0);
  adam->Step(lr, grad, grad_bias, &model);
  EXPECT_NEAR(model.weights(0, 0), weight_before * (1.0 - lr * 0.1) - adam_step, 1e-14);
  bool found_steps = false;
  for (const auto& state : adam->State()) {
    if (state.name == "adam_steps") {
      found_steps = true;
      EXPECT_EQ((*state.values)(0, 0), 2.0);
    }
  }
  EXPECT_TRUE(found_steps);
}

}  // namespace
}  // namespace shardmax
