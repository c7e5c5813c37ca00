#include "common/classification_metrics.hpp"

#include <numeric>
#include <utility>

namespace shardmax {
namespace {

// numerator / denominator, or 0 for an empty denominator (scikit-learn's zero_division = 0).
double RatioOrZero(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(std::int64_t classes)
    : classes_(classes), counts_(static_cast<std::size_t>(classes * classes), 0) {}

std::int64_t ConfusionMatrix::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), std::int64_t{0});
}

ClassificationReport ComputeClassificationReport(const ConfusionMatrix& confusion) {
  const std::int64_t classes = confusion.classes();
  ClassificationReport report;
  report.per_class.resize(static_cast<std::size_t>(classes));
  for (std::int64_t t = 0; t < classes; ++t) {
    for (std::int64_t p = 0; p < classes; ++p) {
      report.per_class[static_cast<std::size_t>(t)].support += confusion.at(t, p);
      report.per_class[static_cast<std::size_t>(p)].predicted += confusion.at(t, p);
    }
    report.correct += confusion.at(t, t);
  }
  report.rows = confusion.total();
  report.accuracy = RatioOrZero(report.correct, report.rows);

  for (std::int64_t k = 0; k < classes; ++k) {
    ClassScores& scores = report.per_class[static_cast<std::size_t>(k)];
    const std::int64_t hits = confusion.at(k, k);
    scores.precision = RatioOrZero(hits, scores.predicted);
    scores.recall = RatioOrZero(hits, scores.support);
    scores.f1 = RatioOrZero(2 * hits, scores.support + scores.predicted);

    report.macro.precision += scores.precision;
    report.macro.recall += scores.recall;
    report.macro.f1 += scores.f1;
    const double weight = static_cast<double>(scores.support);
    report.weighted.precision += weight * scores.precision;
    report.weighted.recall += weight * scores.recall;
    report.weighted.f1 += weight * scores.f1;
  }
  for (ClassScores* average : {&report.macro, &report.weighted}) {
    average->support = report.rows;
    average->predicted = report.rows;
  }
  // Sum, then divide once.
  for (auto [average, count] : {std::pair{&report.macro, classes},
                                std::pair{&report.weighted, report.rows}}) {
    if (count == 0) continue;
    average->precision /= static_cast<double>(count);
    average->recall /= static_cast<double>(count);
    average->f1 /= static_cast<double>(count);
  }
  return report;
}

namespace {

ClassScores ScoresFromCounts(const LabelCounts& counts) {
  ClassScores scores;
  scores.support = counts.true_positives + counts.false_negatives;
  scores.predicted = counts.true_positives + counts.false_positives;
  scores.precision = RatioOrZero(counts.true_positives, scores.predicted);
  scores.recall = RatioOrZero(counts.true_positives, scores.support);
  scores.f1 = RatioOrZero(2 * counts.true_positives, scores.support + scores.predicted);
  return scores;
}

}  // namespace

MultiLabelReport ComputeMultiLabelReport(const MultiLabelCounts& counts) {
  MultiLabelReport report;
  report.rows = counts.rows;
  report.exact_rows = counts.exact_rows;
  report.subset_accuracy = RatioOrZero(counts.exact_rows, counts.rows);
  LabelCounts summed;
  for (const LabelCounts& label : counts.per_label) {
    report.per_label.push_back(ScoresFromCounts(label));
    summed.true_positives += label.true_positives;
    summed.false_positives += label.false_positives;
    summed.false_negatives += label.false_negatives;
    const ClassScores& scores = report.per_label.back();
    report.macro.precision += scores.precision;
    report.macro.recall += scores.recall;
    report.macro.f1 += scores.f1;
  }
  const auto labels = static_cast<std::int64_t>(counts.per_label.size());
  report.hamming_loss =
      RatioOrZero(summed.false_positives + summed.false_negatives, counts.rows * labels);
  report.micro = ScoresFromCounts(summed);
  report.macro.support = report.micro.support;
  report.macro.predicted = report.micro.predicted;
  if (labels > 0) {
    report.macro.precision /= static_cast<double>(labels);
    report.macro.recall /= static_cast<double>(labels);
    report.macro.f1 /= static_cast<double>(labels);
  }
  return report;
}

}  // namespace shardmax
