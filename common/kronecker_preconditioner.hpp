// A preconditioner for Newton-CG (common/newton_cg.hpp): the inverse of the Kronecker-factored
// approximation of the Hessian (K-FAC; Martens & Grosse, 2015, here for a single layer). With
// x~ = [x; 1] and H_i the loss's Hessian in the logits at row i, parameters [W | b] as K x (D+1):
//   H = (1/S) sum_i w_i H_i (x) x~_i x~_i^T + lambda I                  (common/hessian.hpp)
//     ~ A (x) C + lambda I,    A = (1/S) sum_i w_i H_i   (K x K),   C = (1/N) sum_i x~_i x~_i^T
// the expectation of a product taken as the product of expectations. With A = R diag(a) R^T and
// C = Q diag(c) Q^T its inverse is cheap to apply to V (K x (D+1)):
//   M^-1 V = R ((R^T V Q) ./ (a c^T + lambda + delta)) Q^T,   delta = 1e-8 max_kj a_k c_j
// delta keeps M positive definite without weight decay: softmax's A is singular (H_i 1 = 0),
// and a feature that is always 0 makes C singular. The decay also lands on the bias here (H has
// none there): M need only be close to H for CG to converge in fewer products.
// C depends on the data alone: eigendecomposed once per run, (D+1)^3; A on the point, once per
// Newton step, K^3. An application costs 2K(D+1)(K + D+1) multiply-adds, in float32: M need not
// be exact, and Q is read twice per application (half the bytes, twice the lanes).
#pragma once

#include "common/types.hpp"

namespace shardmax {

class KroneckerPreconditioner {
 public:
  // `feature_moments` is C above ((D+1) x (D+1), symmetric; its last row and column belong to
  // the bias's constant 1).
  KroneckerPreconditioner(const Matrix& feature_moments, double weight_decay);

  // A above (K x K, symmetric), for the products at the current point.
  void SetClassCurvature(const Matrix& class_curvature);

  // M^-1 r for r = [W row-major (K x D) | b (K)], as FlattenParameters lays parameters out.
  Vector Apply(const Vector& r) const;

 private:
  double weight_decay_;
  Eigen::MatrixXf feature_vectors_;  // Q
  Vector feature_values_;            // c
  Eigen::MatrixXf class_vectors_;    // R
  Eigen::MatrixXf inverse_denominators_;  // 1 / (a c^T + lambda + delta), K x (D+1)
};

}  // namespace shardmax
