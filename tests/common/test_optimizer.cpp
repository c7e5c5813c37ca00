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

}  // namespace
}  // namespace shardmax
