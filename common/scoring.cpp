#include "common/scoring.hpp"

#include <stdexcept>
#include <string>

#include "common/softmax.hpp"
#include "common/sparse_objective.hpp"

namespace shardmax {
namespace {

Eigen::Index FirstArgmax(const Eigen::Ref<const Eigen::RowVectorXd>& logits) {
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < logits.size(); ++k) {
    if (logits(k) > logits(best)) best = k;
  }
  return best;
}

void CheckLabel(Label label, Eigen::Index classes) {
  // The data layer checks labels against K first (CheckLabelsBelow); this guards the indexing.
  if (label < 0 || label >= classes) {
    throw std::out_of_range("label " + std::to_string(label) + " is not a class index below " +
                            std::to_string(classes));
  }
}

}  // namespace

std::int64_t RankOfClass(const Eigen::Ref<const Eigen::RowVectorXd>& logits, Label label) {
  const double label_logit = logits(label);
  std::int64_t rank = 0;
  for (Eigen::Index k = 0; k < logits.size(); ++k) {
    if (logits(k) > label_logit || (logits(k) == label_logit && k < label)) ++rank;
  }
  return rank;
}

void ScoreBlock(const SoftmaxModel& model, const RowBlock& block, const ScoringRequest& request,
                BlockScores* scores) {
  const Eigen::Index rows = block.rows();
  const Eigen::Index classes = model.classes();
  if (request.loss != nullptr && request.loss->is_multi_label() != request.multi_label) {
    throw std::logic_error("ScoreBlock: the loss and the request disagree on multi-label");
  }
  const bool needs_labels = !request.multi_label && (request.loss != nullptr || request.top_k > 0);
  if (needs_labels && block.labels.size() != static_cast<std::size_t>(rows)) {
    throw std::logic_error("ScoreBlock: a loss or top-k needs a label for every row");
  }
  const bool needs_targets = request.multi_label && request.loss != nullptr;
  if (needs_targets && (block.targets.rows() != rows || block.targets.cols() != classes)) {
    throw std::logic_error("ScoreBlock: a multi-label loss needs K targets for every row");
  }
  scores->predicted.resize(request.multi_label ? 0 : static_cast<std::size_t>(rows));
  if (request.multi_label) scores->decisions.resize(rows, classes);
  scores->loss_sum = 0.0;
  scores->top_k_hits = 0;
  if (request.probabilities) scores->probabilities.resize(rows, classes);

  // Per-row buffers, allocated (and so aligned) once: see the header for why.
  Eigen::RowVectorXd features(model.features());
  Matrix logits(1, classes);
  Matrix probabilities(1, classes);
  for (Eigen::Index i = 0; i < rows; ++i) {
    if (block.sparse.is_sparse()) {
      SparseRowLogits(model, block.sparse, i, logits.row(0));
    } else {
      if (block.bytes.is_set()) {
        const std::uint8_t* row = block.bytes.data + i * block.bytes.cols;
        for (Eigen::Index j = 0; j < block.bytes.cols; ++j) features[j] = ByteToUnit(row[j]);
      } else {
        features = block.features.row(i).cast<double>();
      }
      logits.noalias() = features * model.weights.transpose();
      logits += model.bias.transpose();
    }
    if (request.multi_label) {
      for (Eigen::Index k = 0; k < classes; ++k) {
        probabilities(0, k) = Sigmoid(logits(0, k));
        scores->decisions(i, k) = probabilities(0, k) >= request.threshold ? 1 : 0;
      }
      if (request.probabilities) scores->probabilities.row(i) = probabilities.row(0);
      if (needs_targets) {
        scores->loss_sum += request.loss->RowLossAndGradient(logits.row(0), block, i);
      }
      continue;
    }
    scores->predicted[static_cast<std::size_t>(i)] = static_cast<Label>(FirstArgmax(logits.row(0)));
    if (request.probabilities) {
      probabilities = logits;
      SoftmaxRowInPlace(probabilities.row(0));
      scores->probabilities.row(i) = probabilities.row(0);
    }
    if (!needs_labels) continue;
    const Label label = block.labels[static_cast<std::size_t>(i)];
    CheckLabel(label, classes);
    if (request.top_k > 0 && RankOfClass(logits.row(0), label) < request.top_k) {
      ++scores->top_k_hits;
    }
    // Last: the loss overwrites the logits with their gradient.
    if (request.loss != nullptr) {
      scores->loss_sum += request.loss->RowLossAndGradient(logits.row(0), block, i);
    }
  }
}

EvaluationSums::EvaluationSums(std::int64_t classes)
    : classes_(classes), buffer_(static_cast<std::size_t>(classes * classes + 2), 0.0) {}

void EvaluationSums::Add(const RowBlock& block, const BlockScores& scores) {
  if (block.labels.size() != scores.predicted.size()) {
    throw std::logic_error("EvaluationSums: every scored row needs its label");
  }
  for (std::size_t i = 0; i < block.labels.size(); ++i) {
    const std::int64_t true_class = block.labels[i];
    CheckLabel(block.labels[i], classes_);
    buffer_[static_cast<std::size_t>(true_class * classes_ + scores.predicted[i])] += 1.0;
  }
  buffer_[buffer_.size() - 2] += static_cast<double>(scores.top_k_hits);
  buffer_.back() += scores.loss_sum;
}

ConfusionMatrix EvaluationSums::confusion() const {
  ConfusionMatrix confusion(classes_);
  for (std::int64_t t = 0; t < classes_; ++t) {
    for (std::int64_t p = 0; p < classes_; ++p) {
      confusion.at(t, p) = static_cast<std::int64_t>(buffer_[static_cast<std::size_t>(t * classes_ + p)]);
    }
  }
  return confusion;
}

MultiLabelEvaluationSums::MultiLabelEvaluationSums(std::int64_t labels)
    : labels_(labels), buffer_(static_cast<std::size_t>(3 * labels + 3), 0.0) {}

void MultiLabelEvaluationSums::Add(const RowBlock& block, const BlockScores& scores) {
  if (block.targets.rows() != scores.decisions.rows() || block.targets.cols() != labels_ ||
      scores.decisions.cols() != labels_) {
    throw std::logic_error("MultiLabelEvaluationSums: every scored row needs its K targets");
  }
  const auto index = [](std::int64_t i) { return static_cast<std::size_t>(i); };
  for (Eigen::Index i = 0; i < block.targets.rows(); ++i) {
    bool exact = true;
    for (std::int64_t k = 0; k < labels_; ++k) {
      const bool truth = block.targets(i, k) != 0;
      const bool decision = scores.decisions(i, k) != 0;
      if (truth && decision) buffer_[index(k)] += 1.0;
      if (!truth && decision) buffer_[index(labels_ + k)] += 1.0;
      if (truth && !decision) buffer_[index(2 * labels_ + k)] += 1.0;
      exact = exact && truth == decision;
    }
    if (exact) buffer_[index(3 * labels_)] += 1.0;
  }
  buffer_[index(3 * labels_ + 1)] += static_cast<double>(block.targets.rows());
  buffer_.back() += scores.loss_sum;
}

MultiLabelCounts MultiLabelEvaluationSums::counts() const {
  const auto count = [&](std::int64_t i) {
    return static_cast<std::int64_t>(buffer_[static_cast<std::size_t>(i)]);
  };
  MultiLabelCounts counts;
  counts.per_label.resize(static_cast<std::size_t>(labels_));
  for (std::int64_t k = 0; k < labels_; ++k) {
    LabelCounts& label = counts.per_label[static_cast<std::size_t>(k)];
    label.true_positives = count(k);
    label.false_positives = count(labels_ + k);
    label.false_negatives = count(2 * labels_ + k);
  }
  counts.exact_rows = count(3 * labels_);
  counts.rows = count(3 * labels_ + 1);
  return counts;
}

}  // namespace shardmax
