// Per-sample losses on the logits z = W x + b (K entries): the one place to add a loss. Each
// gives l(z, y) of one row and its gradient g = dl/dz; the objective weighs rows and divides
// by the weight sum (common/objective.hpp).
//
//   softmax  cross-entropy, the default:
//              l = lse(z) - z_y                        g = softmax(z) - onehot(y)
//   squared  squared error of the logits on one-hot targets:
//              l = 1/2 ||z - onehot(y)||^2             g = z - onehot(y)
//   hinge    multi-class margin loss of Crammer and Singer (2001):
//              l = max(0, 1 + max_{k != y} z_k - z_y)
//              g = e_m - e_y while l > 0, m the first k != y with the largest z_k; else 0
//              (a subgradient: l has kinks where l = 0 and where the max is tied)
//   sigmoid  multi-label: K independent binary logistic outputs, against 0/1 targets t_k:
//              l = sum_k [log(1 + exp(z_k)) - t_k z_k] g = sigmoid(z) - t
//              with log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), finite for any z
//
// softmax and sigmoid model probabilities (softmax(z), and sigmoid(z_k) for each label);
// squared and hinge give scores only. Every single-label loss predicts argmax_k z_k.
//
// The Hessian of l in z, for Newton's method (common/hessian.hpp), as a product H u:
//   softmax  H = diag(p) - p p^T          H u = p * (u - p.u)       (curvature kept: p)
//   sigmoid  H = diag(p * (1 - p))        H u = p * (1 - p) * u     (curvature kept: p)
//   squared  H = I                        H u = u                   (nothing kept)
//   hinge    none: l is piecewise linear
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
  // True when rows are scored against RowBlock::targets (K 0/1 values) rather than a label.
  virtual bool is_multi_label() const { return false; }
  // True when ToProbabilities means something (softmax, sigmoid).
  virtual bool has_probabilities() const { return false; }

  // l(z, y) of row `row` of `block`, whose logits are `logits`; overwrites them with dl/dz.
  virtual double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                                    Eigen::Index row) const = 0;
  // A bound on every |g_k| = |dl/dz_k| of a row whose logits all have |z_k| <= max_abs_logit;
  // it scales the exact sums of --reproducible (trainer/reproducible_objective.hpp). 1 for
  // softmax and sigmoid (|p - y| <= 1) and hinge (g in {-1, 0, 1}).
  virtual double MaxAbsLogitGradient(double /*max_abs_logit*/) const { return 1.0; }
  // Replaces one row of logits with the probabilities the loss models; only if
  // has_probabilities(), else throws std::logic_error.
  virtual void ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> logits) const;

  // True when l is twice differentiable in z: CurvatureOf and CurvatureTimes work.
  virtual bool has_curvature() const { return false; }
  // Replaces one row of logits z with what CurvatureTimes needs of it (see the header); only
  // if has_curvature(), else throws std::logic_error.
  virtual void CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> logits) const;
  // u <- H u, H the Hessian of l at the logits that CurvatureOf turned into `curvature`.
  virtual void CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> curvature,
                              Eigen::Ref<Eigen::RowVectorXd> u) const;
  // CurvatureTimes for every row of `u` (rows x K) and the same row of `curvature`: row by row,
  // unless a loss does the whole block at once (the same bits either way).
  virtual void CurvatureTimesRows(Eigen::Ref<const Matrix> curvature, Matrix* u) const;
  // *sum += sum_i w_i H_i (K x K) over the rows of `curvature` and their `weights`, for Newton's
  // preconditioner (common/kronecker_preconditioner.hpp): H_i column by column through
  // CurvatureTimes, unless a loss forms the sum directly.
  virtual void AddCurvatureSum(Eigen::Ref<const Matrix> curvature,
                               Eigen::Ref<const Vector> weights, Matrix* sum) const;

  // sum_i w_i l(z_i, y_i) over the rows of `block` (whose logits are the rows of `logits`),
  // overwriting each row of `logits` with w_i dl/dz_i. Without weights the rows are left
  // unscaled, so all-one weights give the same bits as none. Row by row through
  // RowLossAndGradient, unless a loss does the whole block at once.
  virtual double SumAndLogitGradient(Matrix* logits, const RowBlock& block) const;

 protected:
  // Adds row i's loss to *loss_sum and its gradient row times w_i (left as it is unweighted).
  static void AddWeightedRow(const RowBlock& block, Eigen::Index i, double row_loss,
                             Eigen::Ref<Eigen::RowVectorXd> gradient, double* loss_sum);
};

class SoftmaxCrossEntropy final : public Loss {
 public:
  std::string_view name() const override { return "softmax"; }
  bool has_probabilities() const override { return true; }
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                            Eigen::Index row) const override;
  void ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> logits) const override;
  bool has_curvature() const override { return true; }
  void CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> logits) const override;
  void CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> curvature,
                      Eigen::Ref<Eigen::RowVectorXd> u) const override;
  // A Newton-CG product spent a twentieth of its time calling CurvatureTimes row by row.
  void CurvatureTimesRows(Eigen::Ref<const Matrix> curvature, Matrix* u) const override;
  // sum_i w_i (diag(p_i) - p_i p_i^T) = diag(P^T w) - P^T diag(w) P: one product, not K per row.
  void AddCurvatureSum(Eigen::Ref<const Matrix> curvature, Eigen::Ref<const Vector> weights,
                       Matrix* sum) const override;
  // The block at once: every exp of the block in vector packets (a gradient pass spent an
  // eighth of its time in the per-row exps), each value's bits depending on it alone.
  double SumAndLogitGradient(Matrix* logits, const RowBlock& block) const override;
};

class SquaredError final : public Loss {
 public:
  std::string_view name() const override { return "squared"; }
  // |z_k - y_k| <= |z_k| + 1
  double MaxAbsLogitGradient(double max_abs_logit) const override { return max_abs_logit + 1.0; }
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                            Eigen::Index row) const override;
  bool has_curvature() const override { return true; }
  void CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> /*logits*/) const override {}
  void CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> /*curvature*/,
                      Eigen::Ref<Eigen::RowVectorXd> /*u*/) const override {}
};

class MulticlassHinge final : public Loss {
 public:
  std::string_view name() const override { return "hinge"; }
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                            Eigen::Index row) const override;
};

class SigmoidCrossEntropy final : public Loss {
 public:
  std::string_view name() const override { return "sigmoid"; }
  bool is_multi_label() const override { return true; }
  bool has_probabilities() const override { return true; }
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                            Eigen::Index row) const override;
  void ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> logits) const override;
  bool has_curvature() const override { return true; }
  void CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> logits) const override;
  void CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> curvature,
                      Eigen::Ref<Eigen::RowVectorXd> u) const override;
};

// 1 / (1 + exp(-z)), without overflow for any z.
double Sigmoid(double z);

// Throws UsageError for an unknown name.
std::unique_ptr<Loss> MakeLoss(std::string_view name);

}  // namespace shardmax
