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
  // Applies one update with this step's learning rate from the full gradient (weight decay
  // already included).
  virtual void Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
                    SoftmaxModel* model) = 0;
  virtual std::vector<OptimizerStateArray> State() = 0;
};

// The learning rate of step t (counted from 0) of T steps in all:
//   constant: lr_t = lr
//   cosine:   lr_t = lr * (1 + cos(pi * t / T)) / 2      (from lr down towards 0)
// A pure function of the step, so a resumed run uses exactly the rates it would have.
double LearningRateAt(const OptimizerConfig& config, std::int64_t step, std::int64_t total_steps);

// SGD with heavy-ball momentum (PyTorch's convention), L2 decay coupled through the gradient:
//   v <- mu v + g,   theta <- theta - lr v        (mu = 0: plain SGD)
class SgdMomentum final : public Optimizer {
 public:
  SgdMomentum(const OptimizerConfig& config, Eigen::Index classes, Eigen::Index features);
  std::string_view name() const override { return "sgd"; }
  void Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
            SoftmaxModel* model) override;
  std::vector<OptimizerStateArray> State() override;

 private:
  double momentum_;
  Matrix velocity_weights_;  // K x D
  Matrix velocity_bias_;     // K x 1
};

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features);

}  // namespace shardmax
