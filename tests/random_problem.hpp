// A random classification problem for the unit tests of the losses, the objective and
// scoring: features exact in float, class labels, K 0/1 targets, sample and class weights,
// and a non-trivial model, all from one seed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/loss.hpp"
#include "common/model.hpp"

namespace shardmax::testing {

struct RandomProblem {
  FeatureMatrix features;
  std::vector<Label> labels;
  TargetMatrix targets;                // rows x K
  std::vector<double> sample_weights;  // in [0, 3); row 3, if there is one, weighs 0
  Vector class_weights;                // in [0.2, 2)
  SoftmaxModel model;

  // Rows [first, first + rows) (all from `first` when rows < 0) with their labels, unweighted.
  RowBlock Block(Eigen::Index first = 0, Eigen::Index rows = -1) const;
  // Every row as `loss` sees it: multi-label losses get targets, others labels; `weights` as
  // given (empty: unweighted).
  RowBlock Block(const Loss& loss, std::span<const double> weights) const;
};

// Weights ~ N(0, weight_scale^2), bias ~ N(0, bias_scale^2).
RandomProblem MakeRandomProblem(Eigen::Index rows, Eigen::Index dims, Eigen::Index classes,
                                std::uint64_t seed, double weight_scale = 0.5,
                                double bias_scale = 0.3);

}  // namespace shardmax::testing
