// Row scoring against brute-force references (long double logits, sorted ranks), the tie
// rule, and the promise that a row's results do not depend on the block it is scored in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/random.hpp"
#include "common/scoring.hpp"
#include "tests/random_problem.hpp"

namespace shardmax {
namespace {

using Problem = testing::RandomProblem;

// Weights and bias of unit scale. Tests use odd K and D, so that consecutive rows of a
// row-major block start at different alignments.
Problem UnitScaleProblem(Eigen::Index rows, Eigen::Index dims, Eigen::Index classes,
                         std::uint64_t seed) {
  return testing::MakeRandomProblem(rows, dims, classes, seed, 1.0, 1.0);
}

std::vector<long double> ReferenceLogits(const Problem& problem, Eigen::Index row) {
  const SoftmaxModel& model = problem.model;
  std::vector<long double> logits(static_cast<std::size_t>(model.classes()));
  for (Eigen::Index k = 0; k < model.classes(); ++k) {
    long double z = model.bias(k);
    for (Eigen::Index d = 0; d < model.features(); ++d) {
      z += static_cast<long double>(model.weights(k, d)) * problem.features(row, d);
    }
    logits[static_cast<std::size_t>(k)] = z;
  }
  return logits;
}

TEST(Scoring, MatchesBruteForceLogitsProbabilitiesLossAndTopK) {
  const Problem problem = UnitScaleProblem(300, 9, 7, 3);
  const SoftmaxCrossEntropy loss;
  BlockScores scores;
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{&loss, 0, true}, &scores);

  long double loss_sum = 0;
  std::vector<std::int64_t> hits_by_k(8, 0);
  for (Eigen::Index i = 0; i < 300; ++i) {
    const std::vector<long double> z = ReferenceLogits(problem, i);
    const Label y = problem.labels[static_cast<std::size_t>(i)];
    const auto best = std::max_element(z.begin(), z.end()) - z.begin();
    EXPECT_EQ(scores.predicted[static_cast<std::size_t>(i)], best) << "row " << i;
    long double sum = 0;
    for (const long double zk : z) sum += std::exp(zk - z[static_cast<std::size_t>(best)]);
    for (std::size_t k = 0; k < z.size(); ++k) {
      const long double p = std::exp(z[k] - z[static_cast<std::size_t>(best)]) / sum;
      EXPECT_NEAR(scores.probabilities(i, static_cast<Eigen::Index>(k)), static_cast<double>(p),
                  1e-14);
    }
    loss_sum += z[static_cast<std::size_t>(best)] + std::log(sum) - z[static_cast<std::size_t>(y)];
    // The label's place when the classes are sorted by logit, highest first.
    std::vector<std::size_t> order(z.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return z[a] > z[b]; });
    const auto place = std::find(order.begin(), order.end(), static_cast<std::size_t>(y)) - order.begin();
    for (std::int64_t k = 1; k <= 7; ++k) hits_by_k[static_cast<std::size_t>(k)] += place < k;
  }
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{&loss, 0, false}, &scores);
  EXPECT_NEAR(scores.loss_sum, static_cast<double>(loss_sum), 1e-12 * static_cast<double>(loss_sum));
  for (std::int64_t k = 1; k <= 7; ++k) {
    ScoreBlock(problem.model, problem.Block(), ScoringRequest{nullptr, k, false}, &scores);
    EXPECT_EQ(scores.top_k_hits, hits_by_k[static_cast<std::size_t>(k)]) << "k = " << k;
  }
  EXPECT_EQ(hits_by_k[7], 300);  // every label is among all K classes
}

TEST(Scoring, TiesGoToTheLowestClassIndexForPredictionAndRank) {
  // Classes 1 and 3 have identical weights and bias, so their logits tie exactly.
  Problem problem = UnitScaleProblem(40, 5, 4, 8);
  problem.model.weights.row(3) = problem.model.weights.row(1);
  problem.model.bias(3) = problem.model.bias(1);
  problem.model.weights.row(1) *= 100.0;  // make the tied pair win most rows
  problem.model.weights.row(3) = problem.model.weights.row(1);
  BlockScores scores;
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{}, &scores);
  int tied_wins = 0;
  for (Eigen::Index i = 0; i < 40; ++i) {
    EXPECT_NE(scores.predicted[static_cast<std::size_t>(i)], 3) << "row " << i;
    tied_wins += scores.predicted[static_cast<std::size_t>(i)] == 1;
  }
  EXPECT_GT(tied_wins, 0);

  Eigen::RowVectorXd logits(4);
  logits << 0.5, 2.0, -1.0, 2.0;
  EXPECT_EQ(RankOfClass(logits, 1), 0);  // first among the tied best
  EXPECT_EQ(RankOfClass(logits, 3), 1);  // after class 1: a top-1 miss, a top-2 hit
  EXPECT_EQ(RankOfClass(logits, 0), 2);
  EXPECT_EQ(RankOfClass(logits, 2), 3);
}

// What makes predictions and counts independent of the rank count: the same row scored at any
// offset in any block gives the same bits.
TEST(Scoring, ARowScoresTheSameBitsWhateverBlockItIsIn) {
  const Problem problem = UnitScaleProblem(64, 13, 7, 21);
  const SoftmaxCrossEntropy loss;
  BlockScores whole;
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{nullptr, 0, true}, &whole);
  for (Eigen::Index first = 1; first < 8; ++first) {
    BlockScores part;
    ScoreBlock(problem.model, problem.Block(first), ScoringRequest{nullptr, 0, true}, &part);
    for (Eigen::Index i = 0; i < part.probabilities.rows(); ++i) {
      EXPECT_EQ(part.predicted[static_cast<std::size_t>(i)],
                whole.predicted[static_cast<std::size_t>(first + i)]);
      EXPECT_EQ(std::memcmp(part.probabilities.row(i).data(),
                            whole.probabilities.row(first + i).data(), 7 * sizeof(double)),
                0)
          << "row " << first + i << " scored from offset " << first;
    }
  }
  // The loss of a block is its rows' losses added in order, each the same alone as in a block.
  BlockScores block_loss;
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{&loss, 0, false}, &block_loss);
  double row_by_row = 0.0;
  for (Eigen::Index i = 0; i < 64; ++i) {
    BlockScores one;
    ScoreBlock(problem.model, problem.Block(i, 1), ScoringRequest{&loss, 0, false}, &one);
    row_by_row += one.loss_sum;
  }
  EXPECT_EQ(block_loss.loss_sum, row_by_row);
}

TEST(Scoring, EvaluationSumsCountEachRowOnceInTheConfusionMatrix) {
  const Problem problem = UnitScaleProblem(50, 3, 4, 5);
  const SoftmaxCrossEntropy loss;
  BlockScores scores;
  ScoreBlock(problem.model, problem.Block(), ScoringRequest{&loss, 2, false}, &scores);
  EvaluationSums sums(4);
  sums.Add(problem.Block(), scores);
  const ConfusionMatrix confusion = sums.confusion();
  EXPECT_EQ(confusion.total(), 50);
  for (std::size_t i = 0; i < 50; ++i) {
    EXPECT_GE(confusion.at(problem.labels[i], scores.predicted[i]), 1);
  }
  EXPECT_EQ(sums.top_k_hits(), scores.top_k_hits);
  EXPECT_EQ(sums.loss_sum(), scores.loss_sum);
}

// Multi-label scoring against a brute-force sigmoid: p_k, decisions at two thresholds, loss.
TEST(Scoring, MultiLabelRowsAgainstBruteForce) {
  const Problem problem = UnitScaleProblem(120, 5, 4, 23);
  TargetMatrix targets(120, 4);
  SplitMix64 generator(29);
  for (Eigen::Index i = 0; i < targets.size(); ++i) {
    targets.data()[i] = static_cast<std::uint8_t>(generator.Below(2));
  }
  const RowBlock block{problem.Block().features, {}, {},
                       Eigen::Map<const TargetMatrix>(targets.data(), 120, 4)};
  const SigmoidCrossEntropy loss;
  for (const double threshold : {0.5, 0.8}) {
    ScoringRequest request;
    request.loss = &loss;
    request.probabilities = true;
    request.multi_label = true;
    request.threshold = threshold;
    BlockScores scores;
    ScoreBlock(problem.model, block, request, &scores);
    EXPECT_TRUE(scores.predicted.empty());
    long double loss_sum = 0;
    std::int64_t on = 0;
    for (Eigen::Index i = 0; i < 120; ++i) {
      const std::vector<long double> z = ReferenceLogits(problem, i);
      for (Eigen::Index k = 0; k < 4; ++k) {
        const long double zk = z[static_cast<std::size_t>(k)];
        const long double p = 1.0L / (1.0L + std::exp(-zk));
        EXPECT_NEAR(scores.probabilities(i, k), static_cast<double>(p), 1e-14);
        if (std::abs(static_cast<double>(p) - threshold) > 1e-12) {
          EXPECT_EQ(scores.decisions(i, k), p >= threshold ? 1 : 0) << i << ", " << k;
        }
        on += scores.decisions(i, k);
        loss_sum += std::log1p(std::exp(zk)) - targets(i, k) * zk;
      }
    }
    EXPECT_NEAR(scores.loss_sum, static_cast<double>(loss_sum),
                1e-12 * static_cast<double>(loss_sum));
    EXPECT_GT(on, 0);        // some labels on ...
    EXPECT_LT(on, 120 * 4);  // ... and some off
  }
  // A single-label request with a multi-label loss is a programming error.
  BlockScores scores;
  EXPECT_THROW(ScoreBlock(problem.model, block, ScoringRequest{&loss, 0, false}, &scores),
               std::logic_error);
}

}  // namespace
}  // namespace shardmax
