#include "tests/random_problem.hpp"

#include "common/random.hpp"

namespace shardmax::testing {

RowBlock RandomProblem::Block(Eigen::Index first, Eigen::Index rows) const {
  if (rows < 0) rows = features.rows() - first;
  return MakeRowBlock(features.data() + first * features.cols(), labels.data() + first, rows,
                      features.cols());
}

RowBlock RandomProblem::Block(const Loss& loss, std::span<const double> weights) const {
  const bool multi_label = loss.is_multi_label();
  return RowBlock{
      Eigen::Map<const FeatureMatrix>(features.data(), features.rows(), features.cols()),
      multi_label ? std::span<const Label>() : std::span<const Label>(labels), weights,
      Eigen::Map<const TargetMatrix>(targets.data(), multi_label ? targets.rows() : 0,
                                     multi_label ? targets.cols() : 0)};
}

RandomProblem MakeRandomProblem(Eigen::Index rows, Eigen::Index dims, Eigen::Index classes,
                                std::uint64_t seed, double weight_scale, double bias_scale) {
  SplitMix64 generator(seed);
  RandomProblem problem;
  problem.features.resize(rows, dims);
  for (Eigen::Index i = 0; i < problem.features.size(); ++i) {
    problem.features.data()[i] = static_cast<float>(generator.Normal());
  }
  problem.targets.resize(rows, classes);
  for (Eigen::Index i = 0; i < rows; ++i) {
    problem.labels.push_back(
        static_cast<Label>(generator.Below(static_cast<std::uint64_t>(classes))));
    for (Eigen::Index k = 0; k < classes; ++k) {
      problem.targets(i, k) = static_cast<std::uint8_t>(generator.Below(2));
    }
    problem.sample_weights.push_back(3.0 * generator.UniformOpen());
  }
  if (rows > 3) problem.sample_weights[3] = 0.0;  // a row that does not count
  problem.class_weights.resize(classes);
  for (Eigen::Index k = 0; k < classes; ++k) {
    problem.class_weights(k) = 0.2 + 1.8 * generator.UniformOpen();
  }
  problem.model = SoftmaxModel::Zeros(classes, dims);
  for (Eigen::Index i = 0; i < problem.model.weights.size(); ++i) {
    problem.model.weights.data()[i] = weight_scale * generator.Normal();
  }
  for (Eigen::Index k = 0; k < classes; ++k) {
    problem.model.bias(k) = bias_scale * generator.Normal();
  }
  return problem;
}

}  // namespace shardmax::testing
