// The Kronecker-factored preconditioner against the matrix it inverts: exactly A (x) C +
// lambda I when H is that, symmetric positive definite, and finite when A and C are singular.
#include <gtest/gtest.h>

#include <Eigen/QR>
#include <cmath>
#include <stdexcept>

#include "common/kronecker_preconditioner.hpp"

namespace shardmax {
namespace {

// A symmetric positive definite n x n matrix with eigenvalues spread over `spread`.
Matrix SpreadSpd(Eigen::Index n, double spread, double seed) {
  Matrix g(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < n; ++j) g(i, j) = std::sin(seed + 1.3 * i + 0.7 * j * j);
  }
  const Eigen::HouseholderQR<Matrix> qr(g);
  const Matrix q = qr.householderQ();
  Vector values(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    values(i) = std::pow(spread, static_cast<double>(i) / static_cast<double>(n - 1));
  }
  return q * values.asDiagonal() * q.transpose();
}

// (A (x) C + lambda I) r in the flattened layout [W row-major (K x D) | b]: A V C + lambda V.
Vector KroneckerTimes(const Matrix& a, const Matrix& c, double lambda, const Vector& r) {
  const Eigen::Index classes = a.rows();
  const Eigen::Index features = c.rows() - 1;
  Matrix v(classes, features + 1);
  v.leftCols(features) = Eigen::Map<const Matrix>(r.data(), classes, features);
  v.col(features) = r.tail(classes);
  const Matrix product = a * v * c + lambda * v;
  Vector out(r.size());
  Eigen::Map<Matrix>(out.data(), classes, features) = product.leftCols(features);
  out.tail(classes) = product.col(features);
  return out;
}

Vector Wavy(Eigen::Index n, double frequency) {
  Vector v(n);
  for (Eigen::Index i = 0; i < n; ++i) v(i) = std::cos(frequency * static_cast<double>(i) + 0.3);
  return v;
}

TEST(KroneckerPreconditioner, InvertsAKroneckerProduct) {
  const Matrix a = SpreadSpd(3, 10.0, 0.1);
  const Matrix c = SpreadSpd(6, 100.0, 2.0);  // D = 5
  const double lambda = 0.01;
  KroneckerPreconditioner preconditioner(c, lambda);
  preconditioner.SetClassCurvature(a);
  const Vector v = Wavy(3 * 6, 0.9);
  const Vector back = preconditioner.Apply(KroneckerTimes(a, c, lambda, v));
  // float32 arithmetic, and the damping delta = 1e-8 max a_k c_j.
  EXPECT_LT((back - v).norm(), 1e-4 * v.norm());

  // A new point's class factor replaces the old one.
  const Matrix a2 = SpreadSpd(3, 5.0, 4.0);
  preconditioner.SetClassCurvature(a2);
  EXPECT_LT((preconditioner.Apply(KroneckerTimes(a2, c, lambda, v)) - v).norm(), 1e-4 * v.norm());
}

TEST(KroneckerPreconditioner, IsSymmetricPositiveDefinite) {
  KroneckerPreconditioner preconditioner(SpreadSpd(5, 1e4, 1.0), 1e-4);
  preconditioner.SetClassCurvature(SpreadSpd(4, 10.0, 3.0));
  const Vector u = Wavy(20, 0.4);
  const Vector v = Wavy(20, 1.9);
  const double uv = u.dot(preconditioner.Apply(v));
  EXPECT_NEAR(uv, v.dot(preconditioner.Apply(u)), 1e-5 * std::abs(uv));
  EXPECT_GT(u.dot(preconditioner.Apply(u)), 0.0);
  EXPECT_GT(v.dot(preconditioner.Apply(v)), 0.0);
}

TEST(KroneckerPreconditioner, StaysFiniteWhenBothFactorsAreSingularWithoutDecay) {
  // Softmax's A = diag(p) - p p^T (A 1 = 0), and a feature that is always 0 (a zero row and
  // column of C), with lambda = 0: delta keeps every denominator positive.
  Vector p(3);
  p << 0.2, 0.5, 0.3;
  const Matrix a = Matrix(p.asDiagonal()) - p * p.transpose();
  Matrix c = Matrix::Zero(4, 4);  // D = 3, feature 1 always 0
  c(0, 0) = 2.0;
  c(2, 2) = 0.5;
  c(0, 2) = c(2, 0) = 0.3;
  c(3, 3) = 1.0;
  KroneckerPreconditioner preconditioner(c, 0.0);
  preconditioner.SetClassCurvature(a);
  const Vector r = Wavy(12, 0.8);
  const Vector z = preconditioner.Apply(r);
  EXPECT_TRUE(z.allFinite());
  EXPECT_GT(r.dot(z), 0.0);
  EXPECT_THROW(preconditioner.Apply(Wavy(11, 0.8)), std::logic_error);
}

}  // namespace
}  // namespace shardmax
