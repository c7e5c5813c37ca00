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
  // True when the rule applies the weight decay itself (AdamW): the gradient it is given then
  // holds the data term only. Otherwise the gradient includes lambda W (coupled L2).
  virtual bool decouples_weight_decay() const { return false; }
  // Applies one update with this step's learning rate.
  virtual void Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
                    SoftmaxModel* model) = 0;
  virtual std::vector<OptimizerStateArray> State() = 0;
};

// The learning rate of step t (counted from 0) of T steps in all, after W warm-up steps:
//   warm-up (t < W): lr_t = lr * (t + 1) / W
//   constant:        lr_t = lr
//   step:            lr_t = lr * gamma^floor((t - W) / S)           (S = step_size_steps)
//   cosine:          lr_t = lr * (1 + cos(pi * (t - W) / (T - W))) / 2
// A pure function of the step, so a resumed run uses exactly the rates it would have.
double LearningRateAt(const OptimizerConfig& config, std::int64_t step, std::int64_t total_steps);

// SGD with momentum (PyTorch's convention), L2 decay coupled through the gradient g:
//   heavy ball: v <- mu v + g,  theta <- theta - lr v
//   Nesterov:   v <- mu v + g,  theta <- theta - lr (g + mu v)        (mu = 0: plain SGD)
class SgdMomentum final : public Optimizer {
 public:
  SgdMomentum(const OptimizerConfig& config, Eigen::Index classes, Eigen::Index features);
  std::string_view name() const override { return "sgd"; }
  void Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
            SoftmaxModel* model) override;
  std::vector<OptimizerStateArray> State() override;

 private:
  double momentum_;
  bool nesterov_;
  Matrix velocity_weights_;  // K x D
  Matrix velocity_bias_;     // K x 1
};

// AdamW (Loshchilov & Hutter 2019, PyTorch's convention), decay decoupled from the gradient
// g of the data term and not applied to the bias; t counts steps from 1:
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   W <- W - lr lambda W,     theta <- theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerConfig& config, Eigen::Index classes, Eigen::Index features);
  std::string_view name() const override { return "adamw"; }
  bool decouples_weight_decay() const override { return true; }
  void Step(double learning_rate, const Matrix& grad_weights, const Vector& grad_bias,
            SoftmaxModel* model) override;
  std::vector<OptimizerStateArray> State() override;

 private:
  OptimizerConfig config_;
  Matrix first_weights_;   // m for W
  Matrix second_weights_;  // v for W
  Matrix first_bias_;      // K x 1
  Matrix second_bias_;     // K x 1
  Matrix steps_;           // 1 x 1: t, kept as a state array so checkpoints carry it
};

std::unique_ptr<Optimizer> MakeOptimizer(const OptimizerConfig& config, Eigen::Index classes,
                                         Eigen::Index features);

}  // namespace shardmax
