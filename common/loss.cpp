#include "common/loss.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "common/error.hpp"
#include "common/softmax.hpp"

namespace shardmax {
namespace {

Label LabelOf(const RowBlock& block, Eigen::Index row) {
  return block.labels[static_cast<std::size_t>(row)];
}

// Softmax's H u = p * (u - p.u) for one row, p.u summed in class order, so a row's bits depend
// on its values alone, row by row or block at once.
void SoftmaxCurvatureTimes(const double* p, double* u, Eigen::Index classes) {
  double mean = 0.0;
  for (Eigen::Index k = 0; k < classes; ++k) mean += p[k] * u[k];
  for (Eigen::Index k = 0; k < classes; ++k) u[k] = p[k] * (u[k] - mean);
}

}  // namespace

void Loss::ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> /*logits*/) const {
  throw std::logic_error("loss '" + std::string(name()) + "' does not model probabilities");
}

void Loss::CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> /*logits*/) const {
  throw std::logic_error("loss '" + std::string(name()) + "' has no Hessian");
}

void Loss::CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> /*curvature*/,
                          Eigen::Ref<Eigen::RowVectorXd> /*u*/) const {
  throw std::logic_error("loss '" + std::string(name()) + "' has no Hessian");
}

void Loss::CurvatureTimesRows(Eigen::Ref<const Matrix> curvature, Matrix* u) const {
  for (Eigen::Index i = 0; i < u->rows(); ++i) CurvatureTimes(curvature.row(i), u->row(i));
}

void Loss::AddCurvatureSum(Eigen::Ref<const Matrix> curvature, Eigen::Ref<const Vector> weights,
                           Matrix* sum) const {
  const Eigen::Index classes = curvature.cols();
  Eigen::RowVectorXd column(classes);
  for (Eigen::Index i = 0; i < curvature.rows(); ++i) {
    for (Eigen::Index k = 0; k < classes; ++k) {
      column.setZero();
      column(k) = 1.0;
      CurvatureTimes(curvature.row(i), column);  // H_i e_k
      sum->col(k) += weights(i) * column.transpose();
    }
  }
}

void Loss::AddWeightedRow(const RowBlock& block, Eigen::Index i, double row_loss,
                          Eigen::Ref<Eigen::RowVectorXd> gradient, double* loss_sum) {
  if (block.weights.empty()) {
    *loss_sum += row_loss;
    return;
  }
  const double weight = block.weight(i);
  *loss_sum += weight * row_loss;
  gradient *= weight;
}

double Loss::SumAndLogitGradient(Matrix* logits, const RowBlock& block) const {
  double loss_sum = 0.0;
  for (Eigen::Index i = 0; i < logits->rows(); ++i) {
    const double row_loss = RowLossAndGradient(logits->row(i), block, i);
    AddWeightedRow(block, i, row_loss, logits->row(i), &loss_sum);
  }
  return loss_sum;
}

double SoftmaxCrossEntropy::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits,
                                               const RowBlock& block, Eigen::Index row) const {
  const Label y = LabelOf(block, row);
  const double label_logit = logits(y);
  const double loss = SoftmaxRowInPlace(logits) - label_logit;
  logits(y) -= 1.0;
  return loss;
}

double SoftmaxCrossEntropy::SumAndLogitGradient(Matrix* logits, const RowBlock& block) const {
  const Eigen::Index rows = logits->rows();
  const Eigen::Index classes = logits->cols();
  if (rows == 0) return 0.0;
  // z - max_k z_k per row, then exp over the whole block in packets: the buffer is aligned and
  // padded to whole packets, so Eigen takes its packet exp for every value (its scalar tail
  // would round differently) and a value's bits do not depend on its place in the block.
  constexpr Eigen::Index kPacket = Eigen::internal::packet_traits<double>::size;
  const Eigen::Index size = rows * classes;
  thread_local Eigen::ArrayXd shifted;
  shifted.resize((size + kPacket - 1) / kPacket * kPacket);
  shifted.tail(shifted.size() - size).setZero();
  Eigen::Map<Matrix> shifted_logits(shifted.data(), rows, classes);
  shifted_logits = logits->colwise() - logits->rowwise().maxCoeff();
  // z_y - m, before the exp overwrites the shifted logits.
  Vector label_logits(rows);
  for (Eigen::Index i = 0; i < rows; ++i) label_logits(i) = shifted_logits(i, LabelOf(block, i));
  shifted = shifted.exp();
  double loss_sum = 0.0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    // l = log s - (z_y - m), s = sum_k exp(z_k - m);  g = exp(z - m) / s - onehot(y)
    auto row = logits->row(i);
    double sum = 0.0;
    for (Eigen::Index k = 0; k < classes; ++k) sum += shifted_logits(i, k);
    row = shifted_logits.row(i) / sum;
    row(LabelOf(block, i)) -= 1.0;
    AddWeightedRow(block, i, std::log(sum) - label_logits(i), row, &loss_sum);
  }
  return loss_sum;
}

void SoftmaxCrossEntropy::ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> logits) const {
  SoftmaxRowInPlace(logits);
}

void SoftmaxCrossEntropy::CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> logits) const {
  SoftmaxRowInPlace(logits);
}

void SoftmaxCrossEntropy::CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> curvature,
                                         Eigen::Ref<Eigen::RowVectorXd> u) const {
  SoftmaxCurvatureTimes(curvature.data(), u.data(), u.size());
}

void SoftmaxCrossEntropy::CurvatureTimesRows(Eigen::Ref<const Matrix> curvature,
                                             Matrix* u) const {
  for (Eigen::Index i = 0; i < u->rows(); ++i) {
    SoftmaxCurvatureTimes(curvature.row(i).data(), u->row(i).data(), u->cols());
  }
}

void SoftmaxCrossEntropy::AddCurvatureSum(Eigen::Ref<const Matrix> curvature,
                                          Eigen::Ref<const Vector> weights, Matrix* sum) const {
  const Matrix weighted = curvature.array().colwise() * weights.array();  // diag(w) P
  sum->diagonal() += weighted.colwise().sum().transpose();
  sum->noalias() -= weighted.transpose() * curvature;
}

double SquaredError::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits,
                                        const RowBlock& block, Eigen::Index row) const {
  logits(LabelOf(block, row)) -= 1.0;  // now z - onehot(y), the gradient
  return 0.5 * logits.squaredNorm();
}

double MulticlassHinge::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits,
                                           const RowBlock& block, Eigen::Index row) const {
  const Label y = LabelOf(block, row);
  Eigen::Index rival = y == 0 ? 1 : 0;
  for (Eigen::Index k = rival + 1; k < logits.size(); ++k) {
    if (k != y && logits(k) > logits(rival)) rival = k;
  }
  const double loss = std::max(0.0, 1.0 + logits(rival) - logits(y));
  logits.setZero();
  if (loss > 0.0) {
    logits(rival) = 1.0;
    logits(y) = -1.0;
  }
  return loss;
}

double Sigmoid(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

double SigmoidCrossEntropy::RowLossAndGradient(Eigen::Ref<Eigen::RowVectorXd> logits,
                                               const RowBlock& block, Eigen::Index row) const {
  const auto targets = block.targets.row(row);
  double loss = 0.0;
  for (Eigen::Index k = 0; k < logits.size(); ++k) {
    const double z = logits(k);
    const double target = static_cast<double>(targets(k));
    loss += std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))) - target * z;
    logits(k) = Sigmoid(z) - target;
  }
  return loss;
}

void SigmoidCrossEntropy::ToProbabilities(Eigen::Ref<Eigen::RowVectorXd> logits) const {
  for (Eigen::Index k = 0; k < logits.size(); ++k) logits(k) = Sigmoid(logits(k));
}

void SigmoidCrossEntropy::CurvatureOf(Eigen::Ref<Eigen::RowVectorXd> logits) const {
  ToProbabilities(logits);
}

void SigmoidCrossEntropy::CurvatureTimes(Eigen::Ref<const Eigen::RowVectorXd> curvature,
                                         Eigen::Ref<Eigen::RowVectorXd> u) const {
  for (Eigen::Index k = 0; k < u.size(); ++k) u(k) *= curvature(k) * (1.0 - curvature(k));
}

std::unique_ptr<Loss> MakeLoss(std::string_view name) {
  if (name == "softmax") return std::make_unique<SoftmaxCrossEntropy>();
  if (name == "squared") return std::make_unique<SquaredError>();
  if (name == "hinge") return std::make_unique<MulticlassHinge>();
  if (name == "sigmoid") return std::make_unique<SigmoidCrossEntropy>();
  throw UsageError("unknown loss '" + std::string(name) +
                   "' (known: softmax, squared, hinge, sigmoid)");
}

}  // namespace shardmax
