// Per-sample losses on the logits: the one place to add a loss.
// Softmax cross-entropy:  l(z, y) = lse(z) - z_y,   dl/dz = softmax(z) - onehot(y).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "common/types.hpp"

namespace shardmax {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string_view name() const = 0;
  // Returns sum_i l(z_i, y_i) over the rows of `logits` and overwrites each row with dl/dz_i.
  virtual double SumAndLogitGradient(Matrix* logits, std::span<const Label> labels) const = 0;
};

class SoftmaxCrossEntropy final : public Loss {
 public:
  std::string_view name() const override { return "softmax"; }
  double SumAndLogitGradient(Matrix* logits, std::span<const Label> labels) const override;
};

// Throws UsageError for an unknown name.
std::unique_ptr<Loss> MakeLoss(std::string_view name);

}  // namespace shardmax
