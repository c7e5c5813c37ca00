#include "common/kronecker_preconditioner.hpp"

#include <Eigen/Eigenvalues>
#include <stdexcept>

namespace shardmax {
namespace {

// delta / max_kj a_k c_j (see the header).
constexpr double kRelativeDamping = 1e-8;

// Eigenvalues (clamped at 0: rounding leaves a singular factor's slightly negative) and
// eigenvectors (rounded to float32) of a symmetric matrix.
void Eigendecompose(const Matrix& symmetric, Vector* values, Eigen::MatrixXf* vectors) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver{Eigen::MatrixXd(symmetric)};
  if (solver.info() != Eigen::Success) {
    throw std::runtime_error("KroneckerPreconditioner: eigendecomposition did not converge");
  }
  *values = solver.eigenvalues().cwiseMax(0.0);
  *vectors = solver.eigenvectors().cast<float>();
}

}  // namespace

KroneckerPreconditioner::KroneckerPreconditioner(const Matrix& feature_moments,
                                                 double weight_decay)
    : weight_decay_(weight_decay) {
  if (feature_moments.rows() != feature_moments.cols() || feature_moments.rows() < 1) {
    throw std::logic_error("KroneckerPreconditioner: feature moments must be square");
  }
  Eigendecompose(feature_moments, &feature_values_, &feature_vectors_);
}

void KroneckerPreconditioner::SetClassCurvature(const Matrix& class_curvature) {
  if (class_curvature.rows() != class_curvature.cols()) {
    throw std::logic_error("KroneckerPreconditioner: class curvature must be square");
  }
  Vector class_values;
  Eigendecompose(class_curvature, &class_values, &class_vectors_);
  const Eigen::MatrixXd products = class_values * feature_values_.transpose();  // a c^T
  const double shift = weight_decay_ + kRelativeDamping * products.maxCoeff();
  // All zero only when every row's curvature and the decay are: leave M = I then.
  if (shift > 0.0) {
    inverse_denominators_ = (products.array() + shift).inverse().matrix().cast<float>();
  } else {
    inverse_denominators_.setOnes(products.rows(), products.cols());
  }
}

Vector KroneckerPreconditioner::Apply(const Vector& r) const {
  const Eigen::Index classes = class_vectors_.rows();
  const Eigen::Index columns = feature_vectors_.rows();  // D + 1
  const Eigen::Index features = columns - 1;
  if (classes == 0 || r.size() != classes * columns) {
    throw std::logic_error("KroneckerPreconditioner::Apply: no class curvature, or a vector of "
                           "another shape");
  }
  Eigen::MatrixXf v(classes, columns);  // [W | b]
  v.leftCols(features) = Eigen::Map<const Matrix>(r.data(), classes, features)  // W row-major
                             .cast<float>();
  v.col(features) = r.tail(classes).cast<float>();
  const Eigen::MatrixXf rotated = class_vectors_.transpose() * v * feature_vectors_;
  v = class_vectors_ * rotated.cwiseProduct(inverse_denominators_) * feature_vectors_.transpose();
  Vector out(r.size());
  Eigen::Map<Matrix>(out.data(), classes, features) = v.leftCols(features).cast<double>();
  out.tail(classes) = v.col(features).cast<double>();
  return out;
}

}  // namespace shardmax
