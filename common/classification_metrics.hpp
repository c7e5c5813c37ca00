// Classification metrics derived from a confusion matrix C (K x K counts, C[t][p] = rows of
// true class t predicted as class p), as in scikit-learn's classification_report with
// labels = 0..K-1 and zero_division = 0:
//
//   support_k   = sum_p C[k][p]               rows whose true class is k
//   predicted_k = sum_t C[t][k]               rows predicted as k
//   N           = sum_k support_k,            accuracy = sum_k C[k][k] / N
//   precision_k = C[k][k] / predicted_k       0 when predicted_k = 0 (no row predicted as k)
//   recall_k    = C[k][k] / support_k         0 when support_k = 0 (no row of class k)
//   f1_k        = 2 C[k][k] / (support_k + predicted_k)      0 when both are 0
//                 (= 2 precision_k recall_k / (precision_k + recall_k) whenever both are defined)
//   macro avg   = (1/K) sum_k m_k             every class counts, also those with support 0
//   weighted    = (1/N) sum_k support_k m_k   (so weighted recall = accuracy)
//
// Multi-label metrics come from per-label counts instead, over N rows and K labels, where
// label k of a row is predicted on or off and its true target t_k is 1 or 0:
//   TP_k = #{t_k = 1, on},  FP_k = #{t_k = 0, on},  FN_k = #{t_k = 1, off}
//   support_k = TP_k + FN_k,  predicted_k = TP_k + FP_k, and precision, recall and f1 as above
//   micro avg       = the same formulas on TP, FP and FN summed over the labels
//   macro avg       = (1/K) sum_k m_k
//   subset accuracy = #{rows with all K labels right} / N
//   Hamming loss    = sum_k (FP_k + FN_k) / (N K)       the fraction of wrong label decisions
// as scikit-learn's classification_report (micro and macro rows), accuracy_score and
// hamming_loss on multi-label indicator matrices, with zero_division = 0.
#pragma once

#include <cstdint>
#include <vector>

namespace shardmax {

// K x K counts: at(t, p) is the number of rows of true class t predicted as class p.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::int64_t classes = 0);

  std::int64_t classes() const { return classes_; }
  std::int64_t& at(std::int64_t true_class, std::int64_t predicted_class) {
    return counts_[static_cast<std::size_t>(true_class * classes_ + predicted_class)];
  }
  std::int64_t at(std::int64_t true_class, std::int64_t predicted_class) const {
    return counts_[static_cast<std::size_t>(true_class * classes_ + predicted_class)];
  }
  std::int64_t total() const;
  bool operator==(const ConfusionMatrix& other) const = default;

 private:
  std::int64_t classes_;
  std::vector<std::int64_t> counts_;  // row-major
};

struct ClassScores {
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  std::int64_t support = 0;    // rows of this class (for the averages: all rows)
  std::int64_t predicted = 0;  // rows predicted as this class (for the averages: all rows)
};

struct ClassificationReport {
  std::int64_t rows = 0;
  std::int64_t correct = 0;
  double accuracy = 0.0;  // 0 when there are no rows
  std::vector<ClassScores> per_class;
  ClassScores macro;
  ClassScores weighted;
};

ClassificationReport ComputeClassificationReport(const ConfusionMatrix& confusion);

struct LabelCounts {
  std::int64_t true_positives = 0;
  std::int64_t false_positives = 0;
  std::int64_t false_negatives = 0;
  bool operator==(const LabelCounts& other) const = default;
};

struct MultiLabelCounts {
  std::int64_t rows = 0;
  std::int64_t exact_rows = 0;  // rows with every label decided right
  std::vector<LabelCounts> per_label;
  bool operator==(const MultiLabelCounts& other) const = default;
};

struct MultiLabelReport {
  std::int64_t rows = 0;
  std::int64_t exact_rows = 0;
  double subset_accuracy = 0.0;  // 0 when there are no rows
  double hamming_loss = 0.0;     // 0 when there are no rows
  std::vector<ClassScores> per_label;
  ClassScores micro;  // support and predicted: summed over the labels
  ClassScores macro;  // support and predicted: summed over the labels
};

MultiLabelReport ComputeMultiLabelReport(const MultiLabelCounts& counts);

}  // namespace shardmax
