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

struct ScoringRequest {
  const Loss* loss = nullptr;  // sum the loss (needs labels); nullptr: no loss
  std::int64_t top_k = 0;      // count top-k hits (needs labels); 0: none
  bool probabilities = false;  // keep softmax(z) of every row
};

struct BlockScores {
  std::vector<Label> predicted;  // one per row
  Matrix probabilities;          // rows x K, when requested
  double loss_sum = 0.0;
  std::int64_t top_k_hits = 0;
};

// Scores every row of `block` (overwriting `scores`). Labels must be < K when a loss or
// top-k is requested.
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

}  // namespace shardmax
