// Optimizers: the one place to add an update rule. Each exposes its state arrays by name
// so a checkpoint can save and restore any of them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/model.hpp"

namespace shardmax {

struct OptimizerStateArray {
  std::string name;
  Matrix* values;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;
  // Applies one update from the full gradient (weight decay already included).
  virtual void Step(const Matrix& grad_weights, const Vector& grad_bias, SoftmaxModel* model) = 0;
  virtual std::vector<OptimizerStateArray> State() = 0;
};

// SGD with heavy-ball momentum (PyTorch's convention), L2 decay coupled through the gradient:
//   v <- mu v + g,   theta <- theta - lr v        (mu = 0: plain SGD)
class SgdMomentum final : public Optimizer {
 public:
  SgdMomentum(const OptimizerConfig& config, Eigen::Index classes, Eigen::Index features);
  std::string_view name() const override { return "sgd"; }
  void Step(const Matrix& grad_weights, const Vector& grad_bias, SoftmaxModel* model) override;
  std::vector<OptimizerStateArray> State() override;

 private:
  double learning_rate_;
  double momentum_;
  Matrix velocity_weights_;  // K x D
  Matrix velocity_bias_;     // K x 1
};

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features);

}  // namespace shardmax
