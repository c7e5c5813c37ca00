#include "common/loss.hpp"

#include <string>

#include "common/error.hpp"
#include "common/softmax.hpp"

namespace shardmax {

double SoftmaxCrossEntropy::SumAndLogitGradient(Matrix* logits,
                                                std::span<const Label> labels) const {
  double loss_sum = 0.0;
  for (Eigen::Index i = 0; i < logits->rows(); ++i) {
    const Label y = labels[static_cast<std::size_t>(i)];
    auto row = logits->row(i);
    const double label_logit = row(y);
    loss_sum += SoftmaxRowInPlace(row) - label_logit;
    row(y) -= 1.0;
  }
  return loss_sum;
}

std::unique_ptr<Loss> MakeLoss(std::string_view name) {
  if (name == "softmax") return std::make_unique<SoftmaxCrossEntropy>();
  throw UsageError("unknown loss '" + std::string(name) + "' (known: softmax)");
}

}  // namespace shardmax
