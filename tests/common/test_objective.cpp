#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/objective.hpp"
#include "tests/test_support.hpp"
#include "tests/random_problem.hpp"

namespace shardmax {
namespace {

using Problem = testing::RandomProblem;

// The objective J written out per sample, as a reference independent of the block code.
double BruteForceObjective(const Problem& problem, const SoftmaxModel& model, double lambda) {
  double total = 0.0;
  for (Eigen::Index i = 0; i < problem.features.rows(); ++i) {
    std::vector<double> z(static_cast<std::size_t>(model.classes()));
    for (Eigen::Index k = 0; k < model.classes(); ++k) {
      double value = model.bias(k);
      for (Eigen::Index j = 0; j < model.features(); ++j) {
        value += model.weights(k, j) * static_cast<double>(problem.features(i, j));
      }
      z[static_cast<std::size_t>(k)] = value;
    }
    double normalizer = 0.0;
    for (double value : z) normalizer += std::exp(value);
    total += std::log(normalizer) - z[static_cast<std::size_t>(problem.labels[static_cast<std::size_t>(i)])];
  }
  double squared = 0.0;
  for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
    squared += model.weights.data()[i] * model.weights.data()[i];
  }
  return total / static_cast<double>(problem.features.rows()) + 0.5 * lambda * squared;
}

// The exact checks below hold the double-precision reference to them; the fast float32
// kernel is held to the reference in test_gradient_kernel.cpp.
Objective Evaluate(const Problem& problem, const SoftmaxModel& model, double lambda) {
  SoftmaxCrossEntropy loss;
  GradientSums sums(model.classes(), model.features());
  AccumulateBlockReference(loss, model, problem.Block(), &sums);
  return FinishObjective(sums, model, lambda);
}

TEST(SoftmaxCrossEntropy, HandComputedLoss) {
  // Logits (0, log 3): p = (1/4, 3/4). Label 1 costs -log(3/4), label 0 costs log 4.
  Matrix logits(2, 2);
  logits << 0.0, std::log(3.0), 0.0, std::log(3.0);
  const std::vector<Label> labels{1, 0};
  SoftmaxCrossEntropy loss;
  const double sum = loss.SumAndLogitGradient(&logits, shardmax::testing::LabelsOnly(labels));
  EXPECT_NEAR(sum, -std::log(0.75) + std::log(4.0), 1e-15);
  // dl/dz = p - onehot(y)
  EXPECT_NEAR(logits(0, 0), 0.25, 1e-15);
  EXPECT_NEAR(logits(0, 1), -0.25, 1e-15);
  EXPECT_NEAR(logits(1, 0), -0.75, 1e-15);
  EXPECT_NEAR(logits(1, 1), 0.75, 1e-15);
}

TEST(SoftmaxCrossEntropy, FiniteAtLogitsOfAThousand) {
  Matrix logits(1, 3);
  logits << 1000.0, -1000.0, 0.0;
  const std::vector<Label> labels{1};
  SoftmaxCrossEntropy loss;
  const double sum = loss.SumAndLogitGradient(&logits, shardmax::testing::LabelsOnly(labels));
  EXPECT_NEAR(sum, 2000.0, 1e-9);  // lse = 1000, z_y = -1000
  EXPECT_TRUE(logits.allFinite());
}

TEST(Objective, MatchesBruteForcePerSampleLoop) {
  const Problem problem = testing::MakeRandomProblem(37, 6, 4, 3);
  for (double lambda : {0.0, 0.1}) {
    const Objective objective = Evaluate(problem, problem.model, lambda);
    EXPECT_NEAR(objective.value, BruteForceObjective(problem, problem.model, lambda), 1e-12);
  }
}

TEST(Objective, WeightDecayTermIsAnExactDifference) {
  const Problem problem = testing::MakeRandomProblem(20, 5, 3, 4);
  const double lambda = 0.37;
  const Objective with = Evaluate(problem, problem.model, lambda);
  const Objective without = Evaluate(problem, problem.model, 0.0);
  EXPECT_EQ(with.data_loss, without.data_loss);
  EXPECT_NEAR(with.value - without.value, 0.5 * lambda * problem.model.weights.squaredNorm(),
              1e-15);
  EXPECT_LT((with.grad_weights - without.grad_weights - lambda * problem.model.weights)
                .cwiseAbs()
                .maxCoeff(),
            1e-15);
  EXPECT_EQ(with.grad_bias, without.grad_bias);  // the bias is not decayed
}

// The classic gradient check: central differences of J in double, every parameter.
TEST(Objective, GradientMatchesCentralFiniteDifferences) {
  const Problem problem = testing::MakeRandomProblem(25, 5, 4, 5);
  const double step = 1e-6;
  for (double lambda : {0.0, 0.05}) {
    const Objective objective = Evaluate(problem, problem.model, lambda);
    double worst = 0.0;
    for (Eigen::Index i = 0; i < problem.model.weights.size(); ++i) {
      SoftmaxModel plus = problem.model;
      SoftmaxModel minus = problem.model;
      plus.weights.data()[i] += step;
      minus.weights.data()[i] -= step;
      const double numeric =
          (Evaluate(problem, plus, lambda).value - Evaluate(problem, minus, lambda).value) /
          (2.0 * step);
      worst = std::max(worst, std::abs(numeric - objective.grad_weights.data()[i]));
    }
    for (Eigen::Index k = 0; k < problem.model.classes(); ++k) {
      SoftmaxModel plus = problem.model;
      SoftmaxModel minus = problem.model;
      plus.bias(k) += step;
      minus.bias(k) -= step;
      const double numeric =
          (Evaluate(problem, plus, lambda).value - Evaluate(problem, minus, lambda).value) /
          (2.0 * step);
      worst = std::max(worst, std::abs(numeric - objective.grad_bias(k)));
    }
    EXPECT_LT(worst, 1e-8) << "lambda = " << lambda;
  }
}

TEST(Objective, SumsOverBlocksEqualOneBlock) {
  const Problem problem = testing::MakeRandomProblem(30, 4, 3, 6);
  SoftmaxCrossEntropy loss;
  GradientSums whole(3, 4);
  AccumulateBlockReference(loss, problem.model, problem.Block(), &whole);
  GradientSums pieces(3, 4);
  for (Eigen::Index begin : {0, 7, 19}) {
    const Eigen::Index end = begin == 0 ? 7 : (begin == 7 ? 19 : 30);
    AccumulateBlockReference(loss, problem.model,
                    MakeRowBlock(problem.features.data() + begin * 4, problem.labels.data() + begin,
                                 end - begin, 4),
                    &pieces);
  }
  EXPECT_EQ(pieces.count(), 30.0);
  EXPECT_NEAR(pieces.loss_sum(), whole.loss_sum(), 1e-12);
  EXPECT_LT((pieces.weights() - whole.weights()).cwiseAbs().maxCoeff(), 1e-12);
}

// K = 2 softmax is binary logistic regression with w = w1 - w0, c = b1 - b0:
// p(y=1|x) = sigmoid(w.x + c), loss = log(1 + exp(-s (w.x + c))) with s = +-1.
TEST(Objective, TwoClassesEqualLogisticRegression) {
  Problem problem = testing::MakeRandomProblem(40, 3, 2, 7);
  const Objective objective = Evaluate(problem, problem.model, 0.0);
  const Eigen::RowVectorXd w = problem.model.weights.row(1) - problem.model.weights.row(0);
  const double c = problem.model.bias(1) - problem.model.bias(0);
  double logistic_loss = 0.0;
  Eigen::RowVectorXd logistic_gradient = Eigen::RowVectorXd::Zero(3);
  for (Eigen::Index i = 0; i < 40; ++i) {
    const Eigen::RowVectorXd x = problem.features.row(i).cast<double>();
    const double margin = w.dot(x) + c;
    const double y = problem.labels[static_cast<std::size_t>(i)];
    logistic_loss += std::log1p(std::exp(-(2.0 * y - 1.0) * margin));
    logistic_gradient += (1.0 / (1.0 + std::exp(-margin)) - y) * x;
  }
  logistic_loss /= 40.0;
  logistic_gradient /= 40.0;
  EXPECT_NEAR(objective.data_loss, logistic_loss, 1e-12);
  // The two rows' gradients are the logistic gradient with opposite signs.
  EXPECT_LT((objective.grad_weights.row(1) - logistic_gradient).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((objective.grad_weights.row(0) + logistic_gradient).cwiseAbs().maxCoeff(), 1e-12);
}

}  // namespace
}  // namespace shardmax
