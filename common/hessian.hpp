// Products with the Hessian of the objective (common/objective.hpp), for Newton's method
// (common/newton_cg.hpp). With u_i = V x_i + v_b and H_i the Hessian of the loss in the logits
// at row i (Loss::CurvatureTimes), the Hessian of J at (W, b) applied to (V, v_b) is
//   H_W = (1/S) sum_i w_i (H_i u_i) x_i^T + lambda V,   H_b = (1/S) sum_i w_i H_i u_i,
// the gradient's formula with H_i u_i in place of dl/dz_i and V in place of W. So a product is
// one gradient pass over the model (V, v_b) with CurvatureProductLoss in place of the loss:
// the same kernel, blocks and all-reduce. H_i depends on the point (W, b): an objective pass
// through CurvatureRecordingLoss keeps, per row, what CurvatureTimes needs (K values).
#pragma once

#include <cstdint>
#include <vector>

#include "common/loss.hpp"

namespace shardmax {

// The curvature of the rows [first_row, first_row + rows) of the data file (global indices):
// one row of K values each, as Loss::CurvatureOf leaves them, and each row's weight w_i.
class RowCurvatures {
 public:
  RowCurvatures(std::int64_t first_row, std::int64_t rows, Eigen::Index classes);
  // The curvature of global row `row`; throws std::logic_error outside the range.
  Eigen::Ref<Eigen::RowVectorXd> Row(std::int64_t row);
  // The weight of global row `row`, the same way.
  double& Weight(std::int64_t row);
  // The curvatures of rows [first, first + count), the same way.
  Eigen::Ref<const Matrix> Rows(std::int64_t first, Eigen::Index count) const;
  // [sum_i w_i H_i (K x K, row-major) | sum_i w_i] over the rows held, for the preconditioner
  // (common/kronecker_preconditioner.hpp), to be summed over ranks.
  std::vector<double> CurvatureSums(const Loss& loss) const;

 private:
  // Where global rows [first, first + count) start in values_; throws std::logic_error unless
  // all are held.
  Eigen::Index Index(std::int64_t first, std::int64_t count = 1) const;

  std::int64_t first_row_;
  Matrix values_;  // rows x K, row-major so a row is contiguous
  Vector weights_;
};

// A loss that stands in for `loss` (its name and kind) in a pass, and reaches the rows'
// curvatures by their global index (RowBlock::first_row).
class CurvatureLoss : public Loss {
 public:
  CurvatureLoss(const Loss& loss, RowCurvatures* curvatures)
      : loss_(loss), curvatures_(curvatures) {}
  std::string_view name() const override { return loss_.name(); }
  bool is_multi_label() const override { return loss_.is_multi_label(); }

 protected:
  const Loss& loss_;
  RowCurvatures* curvatures_;
};

// `loss` as it is, keeping each row's curvature and weight in `curvatures` as a side effect.
class CurvatureRecordingLoss final : public CurvatureLoss {
 public:
  using CurvatureLoss::CurvatureLoss;
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits, const RowBlock& block,
                            Eigen::Index row) const override;
};

// In a pass over the model (V, v_b): turns each row's u_i into H_i u_i, with loss 0.
class CurvatureProductLoss final : public CurvatureLoss {
 public:
  using CurvatureLoss::CurvatureLoss;
  double RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> u, const RowBlock& block,
                            Eigen::Index row) const override;
  // The block at once (Loss::CurvatureTimesRows), the same bits as row by row.
  double SumAndLogitGradient(Matrix* u, const RowBlock& block) const override;
};

}  // namespace shardmax
