// Every loss against hand-computed values, and the weighted objective of every loss against
// central finite differences (with and without class weights, sample weights and weight
// decay) and against its definition J = sum_i w_i l_i / sum_i w_i + (lambda/2)||W||^2.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/loss.hpp"
#include "common/objective.hpp"
#include "common/weighting.hpp"
#include "tests/test_support.hpp"
#include "tests/random_problem.hpp"

namespace shardmax {
namespace {

using shardmax::testing::LabelsOnly;

constexpr const char* kAllLosses[] = {"softmax", "squared", "hinge", "sigmoid"};

// One loss's value and logit gradient for one row of logits.
double RowLoss(const Loss& loss, Eigen::RowVectorXd* logits, const RowBlock& row_block) {
  Matrix matrix = *logits;
  const double value = loss.SumAndLogitGradient(&matrix, row_block);
  *logits = matrix.row(0);
  return value;
}

RowBlock TargetsOnly(const TargetMatrix& targets) {
  return RowBlock{Eigen::Map<const FeatureMatrix>(nullptr, targets.rows(), 0),
                  {},
                  {},
                  Eigen::Map<const TargetMatrix>(targets.data(), targets.rows(), targets.cols())};
}

TEST(SquaredError, HandComputedLossAndGradient) {
  Eigen::RowVectorXd z(3);
  z << 1.0, -2.0, 0.5;
  const std::vector<Label> label{1};
  // z - onehot(1) = (1, -3, 0.5): l = (1 + 9 + 0.25) / 2.
  EXPECT_EQ(RowLoss(SquaredError(), &z, LabelsOnly(label)), 5.125);
  EXPECT_EQ(z, (Eigen::RowVectorXd(3) << 1.0, -3.0, 0.5).finished());
}

TEST(MulticlassHinge, HandComputedLossAndSubgradient) {
  const MulticlassHinge hinge;
  struct Case {
    std::vector<double> logits;
    Label label;
    double loss;
    std::vector<double> gradient;
  };
  const Case cases[] = {
      {{2.0, 1.0, 1.5}, 1, 2.0, {1.0, -1.0, 0.0}},   // rival 0: 1 + 2 - 1
      {{2.0, 1.0, 1.5}, 0, 0.5, {-1.0, 0.0, 1.0}},   // rival 2: 1 + 1.5 - 2
      {{5.0, 0.0, 1.0}, 0, 0.0, {0.0, 0.0, 0.0}},    // margin 4 > 1: no loss, no gradient
      {{1.0, 3.0, 3.0}, 0, 3.0, {-1.0, 1.0, 0.0}},   // tied rivals: the first one
      {{0.0, 4.0, -1.0}, 2, 6.0, {0.0, 1.0, -1.0}},  // label last
  };
  for (const Case& c : cases) {
    Eigen::RowVectorXd z = Eigen::Map<const Eigen::RowVectorXd>(c.logits.data(), 3);
    const std::vector<Label> label{c.label};
    EXPECT_EQ(RowLoss(hinge, &z, LabelsOnly(label)), c.loss) << "label " << c.label;
    EXPECT_EQ(z, Eigen::Map<const Eigen::RowVectorXd>(c.gradient.data(), 3)) << "label " << c.label;
  }
}

TEST(SigmoidCrossEntropy, HandComputedLossAndGradient) {
  // z = (0, log 3): sigmoid = (1/2, 3/4). Targets (1, 0): l = log 2 + log 4 = log 8.
  TargetMatrix targets(1, 2);
  targets << 1, 0;
  Eigen::RowVectorXd z(2);
  z << 0.0, std::log(3.0);
  EXPECT_NEAR(RowLoss(SigmoidCrossEntropy(), &z, TargetsOnly(targets)), std::log(8.0), 1e-15);
  EXPECT_NEAR(z(0), -0.5, 1e-15);
  EXPECT_NEAR(z(1), 0.75, 1e-15);
}

TEST(SigmoidCrossEntropy, FiniteAtLogitsOfAThousand) {
  TargetMatrix targets(2, 2);
  targets << 0, 1,  // both wrong: each costs 1000
      1, 0;         // both right: each costs log1p(exp(-1000)) = 0
  Matrix z(2, 2);
  z << 1000.0, -1000.0, 1000.0, -1000.0;
  const SigmoidCrossEntropy loss;
  EXPECT_EQ(loss.SumAndLogitGradient(&z, TargetsOnly(targets)), 2000.0);
  // sigmoid(z) - t, rounded: sigmoid(1000) is 1 and sigmoid(-1000) is 0 in double.
  EXPECT_EQ(z, (Matrix(2, 2) << 1.0, -1.0, 0.0, 0.0).finished());
  EXPECT_EQ(Sigmoid(-1000.0), 0.0);
  EXPECT_EQ(Sigmoid(1000.0), 1.0);
}

TEST(Loss, NamesAndProbabilities) {
  for (const char* name : kAllLosses) EXPECT_EQ(MakeLoss(name)->name(), name);
  EXPECT_TRUE(MakeLoss("softmax")->has_probabilities());
  EXPECT_TRUE(MakeLoss("sigmoid")->has_probabilities());
  EXPECT_FALSE(MakeLoss("squared")->has_probabilities());
  EXPECT_FALSE(MakeLoss("hinge")->has_probabilities());
  EXPECT_TRUE(MakeLoss("sigmoid")->is_multi_label());
  EXPECT_FALSE(MakeLoss("hinge")->is_multi_label());
  Eigen::RowVectorXd z(2);
  z << 1.0, 2.0;
  EXPECT_THROW(MakeLoss("hinge")->ToProbabilities(z), std::logic_error);
  EXPECT_THROW(MakeLoss("logistic"), UsageError);
}

using Problem = testing::RandomProblem;

// The double-precision reference (the fast kernel is held to it in test_gradient_kernel.cpp).
Objective Evaluate(const Loss& loss, const Problem& problem, const SoftmaxModel& model,
                   std::span<const double> weights, double lambda) {
  GradientSums sums(model.classes(), model.features());
  AccumulateBlockReference(loss, model, problem.Block(loss, weights), &sums);
  return FinishObjective(sums, model, lambda);
}

// The weightings to check a loss under: none, class, sample, both (class weights only where
// rows have one class).
std::vector<std::pair<std::string, std::vector<double>>> Weightings(const Loss& loss,
                                                                    const Problem& problem) {
  const Vector none;
  std::vector<std::pair<std::string, std::vector<double>>> weightings{
      {"unweighted", {}}, {"sample weights", problem.sample_weights}};
  if (!loss.is_multi_label()) {
    weightings.emplace_back("class weights", RowWeights(problem.labels, problem.class_weights, {}));
    weightings.emplace_back(
        "class and sample weights",
        RowWeights(problem.labels, problem.class_weights, problem.sample_weights));
  }
  return weightings;
}

// The hinge loss is not differentiable where the margin is 1 or the two largest rivals tie; a
// central difference straddling such a point would not test the subgradient. Returns the
// smallest distance of any row from either kink, and counts the rows with a positive loss.
double HingeDistanceFromKinks(const Problem& problem, std::int64_t* active_rows) {
  double distance = INFINITY;
  *active_rows = 0;
  for (Eigen::Index i = 0; i < problem.features.rows(); ++i) {
    Eigen::RowVectorXd z =
        problem.features.row(i).cast<double>() * problem.model.weights.transpose();
    z += problem.model.bias.transpose();
    const Label y = problem.labels[static_cast<std::size_t>(i)];
    double best = -INFINITY;
    double second = -INFINITY;
    for (Eigen::Index k = 0; k < z.size(); ++k) {
      if (k == y) continue;
      if (z(k) > best) {
        second = best;
        best = z(k);
      } else if (z(k) > second) {
        second = z(k);
      }
    }
    const double margin = 1.0 + best - z(y);
    *active_rows += margin > 0.0;
    distance = std::min({distance, std::abs(margin), best - second});
  }
  return distance;
}

// The classic gradient check, for every loss and weighting, with and without weight decay:
// central differences of J in double over every parameter.
TEST(WeightedObjective, GradientMatchesCentralFiniteDifferencesForEveryLoss) {
  Problem problem = testing::MakeRandomProblem(25, 5, 4, 5);
  problem.model.weights *= 4.0;  // logits large enough for some rows to clear the hinge margin
  problem.model.bias *= 4.0;
  std::int64_t active_rows = 0;
  ASSERT_GT(HingeDistanceFromKinks(problem, &active_rows), 1e-3) << "pick another seed";
  ASSERT_GT(active_rows, 0);  // both branches of the hinge are exercised
  ASSERT_LT(active_rows, 25);
  const double step = 1e-6;
  for (const char* name : kAllLosses) {
    const auto loss = MakeLoss(name);
    for (const auto& weighting_and_weights : Weightings(*loss, problem)) {
      // Named copies: clang 14 cannot capture structured bindings in the lambda below.
      const auto& weighting = weighting_and_weights.first;
      const auto& weights = weighting_and_weights.second;
      for (double lambda : {0.0, 0.05}) {
        const Objective objective = Evaluate(*loss, problem, problem.model, weights, lambda);
        const auto numeric = [&](auto perturb) {
          SoftmaxModel plus = problem.model;
          SoftmaxModel minus = problem.model;
          perturb(&plus, step);
          perturb(&minus, -step);
          return (Evaluate(*loss, problem, plus, weights, lambda).value -
                  Evaluate(*loss, problem, minus, weights, lambda).value) /
                 (2.0 * step);
        };
        double worst = 0.0;
        for (Eigen::Index i = 0; i < problem.model.weights.size(); ++i) {
          const double estimate =
              numeric([i](SoftmaxModel* m, double h) { m->weights.data()[i] += h; });
          worst = std::max(worst, std::abs(estimate - objective.grad_weights.data()[i]));
        }
        for (Eigen::Index k = 0; k < problem.model.classes(); ++k) {
          const double estimate = numeric([k](SoftmaxModel* m, double h) { m->bias(k) += h; });
          worst = std::max(worst, std::abs(estimate - objective.grad_bias(k)));
        }
        // The difference quotient's rounding error grows with |J| (eps |J| / step).
        EXPECT_LT(worst, 1e-8 * std::max(1.0, std::abs(objective.value)))
            << name << ", " << weighting << ", lambda = " << lambda;
        // Not trivially zero: a wrong sign or a missing weight would be seen.
        EXPECT_GT(objective.grad_weights.cwiseAbs().maxCoeff(), 1e-3) << name << ", " << weighting;
      }
    }
  }
}

// J = sum_i w_i l_i / sum_i w_i + (lambda/2)||W||^2, with each l_i from a block of its own row.
// Softmax scores a block at once (packet exps); row by row (Loss's own loop) must agree to
// rounding, weighted or not, with logits up to +-1000.
TEST(SoftmaxCrossEntropy, BlockAtOnceAgreesWithRowByRow) {
  const Problem problem = testing::MakeRandomProblem(37, 4, 5, 3);
  const SoftmaxCrossEntropy softmax;
  for (const bool weighted : {false, true}) {
    RowBlock block = problem.Block(softmax, {});
    if (weighted) block.weights = problem.sample_weights;
    Matrix logits = Matrix::Random(37, 5) * 30.0;
    logits(3, 2) = 1000.0;
    logits(4, 0) = -1000.0;
    Matrix at_once = logits;
    const double sum_at_once = softmax.SumAndLogitGradient(&at_once, block);
    Matrix row_by_row = logits;
    double sum_row_by_row = 0.0;
    for (Eigen::Index i = 0; i < 37; ++i) {
      const double row_loss = softmax.RowLossAndGradient(row_by_row.row(i), block, i);
      sum_row_by_row += block.weight(i) * row_loss;
      row_by_row.row(i) *= block.weight(i);
    }
    EXPECT_NEAR(sum_at_once, sum_row_by_row, 1e-12 * std::abs(sum_row_by_row));
    EXPECT_LT((at_once - row_by_row).cwiseAbs().maxCoeff(), 1e-14);
    EXPECT_TRUE(at_once.allFinite());
  }
}

TEST(WeightedObjective, IsTheWeightedMeanOfTheRowLosses) {
  const Problem problem = testing::MakeRandomProblem(30, 4, 3, 9);
  const double lambda = 0.1;
  for (const char* name : kAllLosses) {
    const auto loss = MakeLoss(name);
    for (const auto& [weighting, weights] : Weightings(*loss, problem)) {
      if (weights.empty()) continue;
      double weighted_sum = 0.0;
      double weight_sum = 0.0;
      for (Eigen::Index i = 0; i < 30; ++i) {
        Eigen::RowVectorXd z =
            problem.features.row(i).cast<double>() * problem.model.weights.transpose();
        z += problem.model.bias.transpose();
        const RowBlock all = problem.Block(*loss, {});
        const double row_loss = loss->RowLossAndGradient(z, all, i);
        weighted_sum += weights[static_cast<std::size_t>(i)] * row_loss;
        weight_sum += weights[static_cast<std::size_t>(i)];
      }
      const Objective objective = Evaluate(*loss, problem, problem.model, weights, lambda);
      const double expected =
          weighted_sum / weight_sum + 0.5 * lambda * problem.model.weights.squaredNorm();
      EXPECT_NEAR(objective.value, expected, 1e-13 * std::abs(expected))
          << name << ", " << weighting;
    }
  }
}

TEST(WeightedObjective, AllOneWeightsGiveTheUnweightedBitsExactly) {
  const Problem problem = testing::MakeRandomProblem(40, 6, 5, 11);
  const std::vector<double> ones(40, 1.0);
  for (const char* name : kAllLosses) {
    const auto loss = MakeLoss(name);
    for (const std::vector<double>& weights :
         {ones, loss->is_multi_label() ? ones : RowWeights(problem.labels, Vector::Ones(5), {})}) {
      const Objective weighted = Evaluate(*loss, problem, problem.model, weights, 0.01);
      const Objective unweighted = Evaluate(*loss, problem, problem.model, {}, 0.01);
      EXPECT_EQ(weighted.value, unweighted.value) << name;
      EXPECT_EQ(weighted.data_loss, unweighted.data_loss) << name;
      EXPECT_EQ(weighted.grad_weights, unweighted.grad_weights) << name;
      EXPECT_EQ(weighted.grad_bias, unweighted.grad_bias) << name;
    }
  }
}

// An integer weight counts a row that many times; weight 0 leaves it out.
TEST(WeightedObjective, AWeightOfTwoIsTheRowTwiceAndZeroIsNoRow) {
  const Problem problem = testing::MakeRandomProblem(12, 3, 3, 13);
  for (const char* name : kAllLosses) {
    const auto loss = MakeLoss(name);
    std::vector<double> weights(12, 1.0);
    weights[2] = 2.0;
    weights[7] = 0.0;
    // The same rows written out: row 2 twice, row 7 left out.
    Problem expanded = problem;
    std::vector<Eigen::Index> rows;
    for (Eigen::Index i = 0; i < 12; ++i) {
      if (i != 7) rows.push_back(i);
      if (i == 2) rows.push_back(i);
    }
    expanded.features.resize(static_cast<Eigen::Index>(rows.size()), 3);
    expanded.targets.resize(static_cast<Eigen::Index>(rows.size()), 3);
    expanded.labels.clear();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      expanded.features.row(static_cast<Eigen::Index>(r)) = problem.features.row(rows[r]);
      expanded.targets.row(static_cast<Eigen::Index>(r)) = problem.targets.row(rows[r]);
      expanded.labels.push_back(problem.labels[static_cast<std::size_t>(rows[r])]);
    }
    const Objective weighted = Evaluate(*loss, problem, problem.model, weights, 0.0);
    const Objective repeated = Evaluate(*loss, expanded, problem.model, {}, 0.0);
    EXPECT_NEAR(weighted.value, repeated.value, 1e-14 * std::abs(repeated.value)) << name;
    EXPECT_LT((weighted.grad_weights - repeated.grad_weights).cwiseAbs().maxCoeff(), 1e-14) << name;
    EXPECT_LT((weighted.grad_bias - repeated.grad_bias).cwiseAbs().maxCoeff(), 1e-14) << name;
  }
}

TEST(WeightedObjective, SumsOfWeightZeroLeaveOnlyTheDecay) {
  const Problem problem = testing::MakeRandomProblem(5, 3, 3, 17);
  const std::vector<double> zeros(5, 0.0);
  const SoftmaxCrossEntropy loss;
  const Objective objective = Evaluate(loss, problem, problem.model, zeros, 0.5);
  EXPECT_EQ(objective.data_loss, 0.0);
  EXPECT_EQ(objective.grad_weights, 0.5 * problem.model.weights);
  EXPECT_EQ(objective.grad_bias, Vector::Zero(3));
}

TEST(WeightedObjective, GradientSumsCountRowsAndWeightsApart) {
  const Problem problem = testing::MakeRandomProblem(9, 2, 3, 19);
  const SquaredError loss;
  GradientSums sums(3, 2);
  AccumulateBlockReference(loss, problem.model, problem.Block(loss, problem.sample_weights), &sums);
  double weight_sum = 0.0;
  for (const double w : problem.sample_weights) weight_sum += w;
  EXPECT_EQ(sums.rows(), 9.0);
  EXPECT_EQ(sums.count(), weight_sum);
}

}  // namespace
}  // namespace shardmax
