#include "common/model.hpp"

namespace shardmax {

Matrix ComputeLogits(const SoftmaxModel& model, const RowBlock& block) {
  Matrix logits = block.features.cast<double>() * model.weights.transpose();
  logits.rowwise() += model.bias.transpose();
  return logits;
}


}  // namespace shardmax
