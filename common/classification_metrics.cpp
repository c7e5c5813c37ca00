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

}  // namespace shardmax
