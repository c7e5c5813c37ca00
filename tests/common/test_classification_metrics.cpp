// Metrics from a hand-made confusion matrix whose values were worked out by hand as fractions,
// including the zero_division cases: a class never predicted and a class with no rows.
#include <gtest/gtest.h>

#include "common/classification_metrics.hpp"
#include "common/scoring.hpp"

namespace shardmax {
namespace {

// rows: true class, columns: predicted class
//            p0 p1 p2 p3 p4     support
//   t0:    [  5, 1, 0, 0, 0 ]   6
//   t1:    [  2, 3, 1, 0, 1 ]   7
//   t2:    [  0, 1, 4, 0, 0 ]   5
//   t3:    [  1, 0, 1, 0, 0 ]   2   (class 3 is never predicted: precision 0 by convention)
//   t4:    [  0, 0, 0, 0, 0 ]   0   (class 4 has no rows, but one row is predicted as 4)
//   predicted: 8, 5, 6, 0, 1;  N = 20, correct = 5 + 3 + 4 = 12
ConfusionMatrix HandMadeConfusion() {
  const std::int64_t counts[5][5] = {{5, 1, 0, 0, 0},
                                     {2, 3, 1, 0, 1},
                                     {0, 1, 4, 0, 0},
                                     {1, 0, 1, 0, 0},
                                     {0, 0, 0, 0, 0}};
  ConfusionMatrix confusion(5);
  for (int t = 0; t < 5; ++t) {
    for (int p = 0; p < 5; ++p) confusion.at(t, p) = counts[t][p];
  }
  return confusion;
}

TEST(ClassificationMetrics, HandMadeConfusionMatrixGivesTheKnownValues) {
  const ClassificationReport report = ComputeClassificationReport(HandMadeConfusion());
  EXPECT_EQ(report.rows, 20);
  EXPECT_EQ(report.correct, 12);
  EXPECT_DOUBLE_EQ(report.accuracy, 12.0 / 20.0);

  // precision = TP / predicted, recall = TP / support, f1 = 2 TP / (support + predicted)
  const double precision[5] = {5.0 / 8, 3.0 / 5, 4.0 / 6, 0.0, 0.0 / 1};
  const double recall[5] = {5.0 / 6, 3.0 / 7, 4.0 / 5, 0.0 / 2, 0.0};
  const double f1[5] = {10.0 / 14, 6.0 / 12, 8.0 / 11, 0.0 / 2, 0.0 / 1};
  const std::int64_t support[5] = {6, 7, 5, 2, 0};
  const std::int64_t predicted[5] = {8, 5, 6, 0, 1};
  ASSERT_EQ(report.per_class.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) {
    SCOPED_TRACE(k);
    EXPECT_DOUBLE_EQ(report.per_class[k].precision, precision[k]);
    EXPECT_DOUBLE_EQ(report.per_class[k].recall, recall[k]);
    EXPECT_DOUBLE_EQ(report.per_class[k].f1, f1[k]);
    EXPECT_EQ(report.per_class[k].support, support[k]);
    EXPECT_EQ(report.per_class[k].predicted, predicted[k]);
  }
  // F1 is the harmonic mean of precision and recall where both are defined.
  EXPECT_DOUBLE_EQ(2 * (5.0 / 8) * (5.0 / 6) / (5.0 / 8 + 5.0 / 6), f1[0]);
  EXPECT_DOUBLE_EQ(2 * (3.0 / 5) * (3.0 / 7) / (3.0 / 5 + 3.0 / 7), f1[1]);

  // Macro: every class counts, the empty class 4 too (scikit-learn with labels = 0..K-1).
  EXPECT_DOUBLE_EQ(report.macro.precision, (5.0 / 8 + 3.0 / 5 + 4.0 / 6) / 5);
  EXPECT_DOUBLE_EQ(report.macro.recall, (5.0 / 6 + 3.0 / 7 + 4.0 / 5) / 5);
  EXPECT_DOUBLE_EQ(report.macro.f1, (10.0 / 14 + 6.0 / 12 + 8.0 / 11) / 5);
  // Weighted by support; weighted recall is the accuracy.
  EXPECT_DOUBLE_EQ(report.weighted.precision, (6 * 5.0 / 8 + 7 * 3.0 / 5 + 5 * 4.0 / 6) / 20);
  EXPECT_DOUBLE_EQ(report.weighted.recall, 12.0 / 20);
  EXPECT_DOUBLE_EQ(report.weighted.f1, (6 * 10.0 / 14 + 7 * 6.0 / 12 + 5 * 8.0 / 11) / 20);
  EXPECT_EQ(report.macro.support, 20);
  EXPECT_EQ(report.weighted.support, 20);
}

TEST(ClassificationMetrics, PerfectPredictionsScoreOneForEveryClassWithRows) {
  ConfusionMatrix confusion(3);
  confusion.at(0, 0) = 4;
  confusion.at(1, 1) = 1;
  confusion.at(2, 2) = 7;
  const ClassificationReport report = ComputeClassificationReport(confusion);
  EXPECT_EQ(report.accuracy, 1.0);
  for (const ClassScores& scores : report.per_class) {
    EXPECT_EQ(scores.precision, 1.0);
    EXPECT_EQ(scores.recall, 1.0);
    EXPECT_EQ(scores.f1, 1.0);
  }
  EXPECT_EQ(report.macro.f1, 1.0);
  EXPECT_EQ(report.weighted.precision, 1.0);
}

TEST(ClassificationMetrics, NoRowsGivesZerosRatherThanNaN) {
  const ClassificationReport report = ComputeClassificationReport(ConfusionMatrix(2));
  EXPECT_EQ(report.rows, 0);
  EXPECT_EQ(report.accuracy, 0.0);
  EXPECT_EQ(report.macro.f1, 0.0);
  EXPECT_EQ(report.weighted.recall, 0.0);
}

// Multi-label, N = 4 rows and K = 3 labels, counted from targets and decisions by
// MultiLabelEvaluationSums (as evaluate does) and worked out by hand:
//          targets   decisions
//   row 0: 1 0 1     1 0 0      label 2 missed
//   row 1: 0 1 0     0 1 0      exact
//   row 2: 1 1 0     1 0 1      label 1 missed, label 2 wrongly on
//   row 3: 0 0 0     0 0 0      exact
//   label 0: TP 2 FP 0 FN 0   precision 1, recall 1,   f1 1
//   label 1: TP 1 FP 0 FN 1   precision 1, recall 1/2, f1 2/3
//   label 2: TP 0 FP 1 FN 1   precision 0, recall 0,   f1 0
//   micro: TP 3 FP 1 FN 2     precision 3/4, recall 3/5, f1 6/9
//   macro: precision 2/3, recall 1/2, f1 5/9;  subset accuracy 2/4;  Hamming loss 3/12
TEST(MultiLabelMetrics, HandMadeCase) {
  TargetMatrix targets(4, 3);
  targets << 1, 0, 1,
      0, 1, 0,
      1, 1, 0,
      0, 0, 0;
  BlockScores scores;
  scores.decisions.resize(4, 3);
  scores.decisions << 1, 0, 0,
      0, 1, 0,
      1, 0, 1,
      0, 0, 0;
  const FeatureMatrix no_features(4, 0);
  const RowBlock block{Eigen::Map<const FeatureMatrix>(no_features.data(), 4, 0), {}, {},
                       Eigen::Map<const TargetMatrix>(targets.data(), 4, 3)};
  MultiLabelEvaluationSums sums(3);
  sums.Add(block, scores);
  const MultiLabelCounts counts = sums.counts();
  EXPECT_EQ(counts.rows, 4);
  EXPECT_EQ(counts.exact_rows, 2);
  EXPECT_EQ(counts.per_label[1], (LabelCounts{1, 0, 1}));

  const MultiLabelReport report = ComputeMultiLabelReport(counts);
  EXPECT_EQ(report.subset_accuracy, 0.5);
  EXPECT_EQ(report.hamming_loss, 0.25);
  // precision, recall, f1, support, predicted
  const double expected[3][5] = {
      {1.0, 1.0, 1.0, 2, 2}, {1.0, 0.5, 2.0 / 3.0, 2, 1}, {0.0, 0.0, 0.0, 1, 1}};
  for (int k = 0; k < 3; ++k) {
    const ClassScores& label = report.per_label[static_cast<std::size_t>(k)];
    EXPECT_DOUBLE_EQ(label.precision, expected[k][0]) << "label " << k;
    EXPECT_DOUBLE_EQ(label.recall, expected[k][1]) << "label " << k;
    EXPECT_DOUBLE_EQ(label.f1, expected[k][2]) << "label " << k;
    EXPECT_EQ(label.support, expected[k][3]) << "label " << k;
    EXPECT_EQ(label.predicted, expected[k][4]) << "label " << k;
  }
  EXPECT_DOUBLE_EQ(report.micro.precision, 0.75);
  EXPECT_DOUBLE_EQ(report.micro.recall, 0.6);
  EXPECT_DOUBLE_EQ(report.micro.f1, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(report.macro.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(report.macro.recall, 0.5);
  EXPECT_DOUBLE_EQ(report.macro.f1, 5.0 / 9.0);
  EXPECT_EQ(report.micro.support, 5);
  EXPECT_EQ(report.macro.predicted, 4);
}

TEST(MultiLabelMetrics, NoRowsGivesZerosRatherThanNaN) {
  MultiLabelCounts counts;
  counts.per_label.resize(3);
  const MultiLabelReport report = ComputeMultiLabelReport(counts);
  EXPECT_EQ(report.subset_accuracy, 0.0);
  EXPECT_EQ(report.hamming_loss, 0.0);
  EXPECT_EQ(report.micro.f1, 0.0);
  EXPECT_EQ(report.macro.f1, 0.0);
}

}  // namespace
}  // namespace shardmax
