// Scoring rows with a trained model: the one place where logits become answers, for
// `evaluate`, `predict` and the trainer's metrics. For a row x with label y:
//
//   z          = W x + b                                           logits
//   predicted  = argmax_k z_k, the lowest such k on ties
//   rank(y)    = #{k : z_k > z_y} + #{k < y : z_k = z_y}           y's place in that order
//   top-k hit  <=>  rank(y) < k            (so the top-1 hit is exactly predicted == y)
//   loss       = l(z, y) of the Loss       (softmax cross-entropy: lse(z) - z_y)
//   p          = softmax(z)                                        (common/softmax.hpp)
//
// A multi-label model (sigmoid loss) scores a row against K 0/1 targets t instead:
//   p_k        = sigmoid(z_k)                                      one probability per label
//   decision_k = 1 if p_k >= threshold, else 0                     (threshold in (0, 1))
//   loss       = l(z, t) of the Loss       (sum_k log(1 + exp(z_k)) - t_k z_k)
// Scores are unweighted: row weights shape the training objective, not the evaluation.
//
// Each row is scored on its own, in buffers of its own, rather than as one matrix product per
// block: the blocked product's summation order (and the alignment-dependent vector paths of
// the reductions) depend on where a row sits in its block, and a shard boundary moves that.
// Scoring row by row makes every row's results the same bits whatever block or rank it is in.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/classification_metrics.hpp"
#include "common/loss.hpp"
#include "common/model.hpp"

namespace shardmax {

// The multi-label decision threshold unless one is chosen (--threshold).
inline constexpr double kDefaultThreshold = 0.5;

struct ScoringRequest {
  const Loss* loss = nullptr;  // sum the loss (needs labels or targets); nullptr: no loss
  std::int64_t top_k = 0;      // count top-k hits (needs labels); 0: none
  bool probabilities = false;  // keep p of every row
  bool multi_label = false;    // K label decisions per row instead of one predicted class
  double threshold = kDefaultThreshold;  // multi-label: label k is on when p_k >= threshold
};

struct BlockScores {
  std::vector<Label> predicted;  // one per row (single-label)
  TargetMatrix decisions;        // rows x K 0/1 (multi-label)
  Matrix probabilities;          // rows x K, when requested
  double loss_sum = 0.0;
  std::int64_t top_k_hits = 0;
};

// Scores every row of `block` (overwriting `scores`). Labels must be < K when a loss or
// top-k is requested; a multi-label loss needs the block's targets (rows x K).
void ScoreBlock(const SoftmaxModel& model, const RowBlock& block, const ScoringRequest& request,
                BlockScores* scores);

// The rank of `label` among the logits, as defined above.
std::int64_t RankOfClass(const Eigen::Ref<const Eigen::RowVectorXd>& logits, Label label);

// Evaluation sums in one buffer [confusion matrix (K*K, row-major) | top-k hits | loss sum],
// so a single all-reduce combines them. Counts are held as doubles: integers below 2^53 add
// exactly in any order, so the summed counts are exact whatever the rank count.
class EvaluationSums {
 public:
  explicit EvaluationSums(std::int64_t classes);

  // Adds one scored block: its rows' (label, predicted) pairs, top-k hits and loss sum.
  void Add(const RowBlock& block, const BlockScores& scores);

  std::span<double> buffer() { return buffer_; }
  ConfusionMatrix confusion() const;
  std::int64_t top_k_hits() const { return static_cast<std::int64_t>(buffer_[buffer_.size() - 2]); }
  double loss_sum() const { return buffer_.back(); }

 private:
  std::int64_t classes_;
  std::vector<double> buffer_;
};

// Multi-label evaluation sums in one buffer
// [true positives (K) | false positives (K) | false negatives (K) | exact rows | rows | loss sum],
// counts held as doubles for the reason given above.
class MultiLabelEvaluationSums {
 public:
  explicit MultiLabelEvaluationSums(std::int64_t labels);

  // Adds one scored block: its rows' targets against their decisions, and its loss sum.
  void Add(const RowBlock& block, const BlockScores& scores);

  std::span<double> buffer() { return buffer_; }
  MultiLabelCounts counts() const;
  double loss_sum() const { return buffer_.back(); }

 private:
  std::int64_t labels_;
  std::vector<double> buffer_;
};

}  // namespace shardmax
