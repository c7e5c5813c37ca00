#include "common/hessian.hpp"

#include <stdexcept>
#include <string>

namespace shardmax {

RowCurvatures::RowCurvatures(std::int64_t first_row, std::int64_t rows, Eigen::Index classes)
    : first_row_(first_row), values_(rows, classes), weights_(Vector::Ones(rows)) {}

Eigen::Index RowCurvatures::Index(std::int64_t first, std::int64_t count) const {
  if (first < first_row_ || first - first_row_ + count > values_.rows()) {
    throw std::logic_error("curvature of rows [" + std::to_string(first) + ", " +
                           std::to_string(first + count) +
                           ") asked of a pass that does not hold them");
  }
  return first - first_row_;
}

Eigen::Ref<Eigen::RowVectorXd> RowCurvatures::Row(std::int64_t row) {
  return values_.row(Index(row));
}

double& RowCurvatures::Weight(std::int64_t row) { return weights_(Index(row)); }

Eigen::Ref<const Matrix> RowCurvatures::Rows(std::int64_t first, Eigen::Index count) const {
  return values_.middleRows(Index(first, count), count);
}

std::vector<double> RowCurvatures::CurvatureSums(const Loss& loss) const {
  const Eigen::Index classes = values_.cols();
  Matrix sum = Matrix::Zero(classes, classes);
  loss.AddCurvatureSum(values_, weights_, &sum);
  std::vector<double> sums(sum.data(), sum.data() + sum.size());
  sums.push_back(weights_.sum());
  return sums;
}

double CurvatureRecordingLoss::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits,
                                                  const RowBlock& block, Eigen::Index row) const {
  Eigen::Ref<Eigen::RowVectorXd> curvature = curvatures_->Row(block.first_row + row);
  curvature = logits;
  loss_.CurvatureOf(curvature);
  curvatures_->Weight(block.first_row + row) = block.weight(row);
  return loss_.RowLossAndGradient(logits, block, row);
}

double CurvatureProductLoss::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> u,
                                                const RowBlock& block, Eigen::Index row) const {
  loss_.CurvatureTimes(curvatures_->Row(block.first_row + row), u);
  return 0.0;
}

double CurvatureProductLoss::SumAndLogitGradient(Matrix* u, const RowBlock& block) const {
  if (u->rows() == 0) return 0.0;
  loss_.CurvatureTimesRows(curvatures_->Rows(block.first_row, u->rows()), u);
  double loss_sum = 0.0;  // stays 0: a product has no loss
  for (Eigen::Index i = 0; i < u->rows(); ++i) AddWeightedRow(block, i, 0.0, u->row(i), &loss_sum);
  return loss_sum;
}

}  // namespace shardmax
