// Newton-CG on functions whose Hessians are known, and the loss curvature it relies on
// (Loss::CurvatureOf / CurvatureTimes) against central finite differences of the gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <Eigen/LU>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/hessian.hpp"
#include "common/loss.hpp"
#include "common/newton_cg.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

// f(x) = sum_i (exp(x_i) - x_i) + (1/2) sum_i (x_i - x_{i+1})^2: strictly convex, minimum 0 at
// x = 0; its Hessian diag(exp(x)) + L (L the path graph's Laplacian) is only used as H v.
double ExpValley(const Vector& x, Vector* gradient) {
  const Eigen::Index n = x.size();
  double value = 0.0;
  *gradient = Vector::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    value += std::exp(x(i)) - x(i);
    (*gradient)(i) += std::exp(x(i)) - 1.0;
    if (i + 1 < n) {
      const double d = x(i) - x(i + 1);
      value += 0.5 * d * d;
      (*gradient)(i) += d;
      (*gradient)(i + 1) -= d;
    }
  }
  return value;
}

Vector ExpValleyHessianTimes(const Vector& at, const Vector& v) {
  const Eigen::Index n = at.size();
  Vector hv = Vector::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    hv(i) += std::exp(at(i)) * v(i);
    if (i + 1 < n) {
      const double d = v(i) - v(i + 1);
      hv(i) += d;
      hv(i + 1) -= d;
    }
  }
  return hv;
}

// The solver on ExpValley, its Hessian taken at the point of the last objective call, as the
// trainer's products are.
struct ExpValleyProblem {
  Vector last_point;
  NewtonCg Solver(const NewtonCgOptions& options) {
    return NewtonCg(
        options,
        [this](const Vector& x, Vector* gradient) {
          last_point = x;
          return ExpValley(x, gradient);
        },
        [this](const Vector& v) { return ExpValleyHessianTimes(last_point, v); });
  }
};

SolverStatus RunToEnd(NewtonCg* solver) {
  SolverStatus status = solver->CheckStart();
  while (status == SolverStatus::kRunning) status = solver->Iterate();
  return status;
}

Vector ValleyStart() {
  Vector x(5);
  x << 1.0, -2.0, 3.0, 0.5, -1.0;
  return x;
}

TEST(NewtonCg, ConvergesQuadraticallyToTheMinimum) {
  NewtonCgOptions options;
  options.gradient_tolerance = 1e-12;
  options.objective_tolerance = 0.0;
  ExpValleyProblem problem;
  NewtonCg solver = problem.Solver(options);
  solver.Start(ValleyStart());
  EXPECT_EQ(RunToEnd(&solver), SolverStatus::kGradientTolerance);
  EXPECT_LT(solver.state().x.cwiseAbs().maxCoeff(), 1e-12);
  // Newton's method needs a handful of steps here; gradient descent would need hundreds.
  EXPECT_LE(solver.state().iteration, 10);
  EXPECT_GE(solver.state().evaluations, solver.state().iteration + 1);
}

// Newton-CG on f = (1/2) x'Ax - b'x to a gradient of 1e-12 (`a` and `b` outlive the solver).
NewtonCg QuadraticSolver(const Matrix& a, const Vector& b, Preconditioner preconditioner = nullptr) {
  NewtonCgOptions options;
  options.gradient_tolerance = 1e-12;
  return NewtonCg(
      options,
      [&a, &b](const Vector& x, Vector* gradient) {
        *gradient = a * x - b;
        return 0.5 * x.dot(a * x) - b.dot(x);
      },
      [&a](const Vector& v) { return Vector(a * v); }, std::move(preconditioner));
}

TEST(NewtonCg, SolvesAQuadratic) {
  // A = [[4, 1], [1, 3]]: CG ends within 2 products (exact after 2), and the steps stay 1.
  Matrix a(2, 2);
  a << 4.0, 1.0, 1.0, 3.0;
  Vector b(2);
  b << 1.0, 2.0;
  NewtonCg solver = QuadraticSolver(a, b);
  solver.Start(Vector::Zero(2));
  EXPECT_EQ(RunToEnd(&solver), SolverStatus::kGradientTolerance);
  EXPECT_LE(solver.state().hessian_products, 2 * solver.state().iteration);
  EXPECT_LE(solver.state().iteration, 4);
  EXPECT_EQ(solver.state().last_step, 1.0);
  const Vector expected = a.inverse() * b;
  EXPECT_NEAR(solver.state().x(0), expected(0), 1e-14);
  EXPECT_NEAR(solver.state().x(1), expected(1), 1e-14);
}

TEST(NewtonCg, AnExactPreconditionerEndsCgInOneProduct) {
  // With M^-1 = A^-1, preconditioned CG's first step is the Newton step, so the first
  // iteration lands on the minimum after one product.
  Matrix a(3, 3);
  a << 4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 100.0;
  Vector b(3);
  b << 1.0, 2.0, -3.0;
  const Matrix a_inverse = a.inverse();
  NewtonCg solver =
      QuadraticSolver(a, b, [&a_inverse](const Vector& r) { return Vector(a_inverse * r); });
  solver.Start(Vector::Zero(3));
  EXPECT_EQ(solver.Iterate(), SolverStatus::kGradientTolerance);
  EXPECT_EQ(solver.state().hessian_products, 1);
  const Vector expected = a_inverse * b;
  EXPECT_LT((solver.state().x - expected).cwiseAbs().maxCoeff(), 1e-13);
}

TEST(NewtonCg, StopsAtMaxIterationsAndResumesWithTheSameBits) {
  NewtonCgOptions options;
  options.gradient_tolerance = 0.0;
  options.objective_tolerance = 0.0;
  options.max_iterations = 6;
  ExpValleyProblem straight_problem;
  NewtonCg straight = straight_problem.Solver(options);
  straight.Start(ValleyStart());
  EXPECT_EQ(RunToEnd(&straight), SolverStatus::kMaxIterations);

  options.max_iterations = 2;
  ExpValleyProblem first_problem;
  NewtonCg first = first_problem.Solver(options);
  first.Start(ValleyStart());
  EXPECT_EQ(RunToEnd(&first), SolverStatus::kMaxIterations);
  // What a checkpoint keeps: x and the counters; the gradient comes back from x.
  NewtonCgState saved;
  saved.x = first.state().x;
  saved.iteration = first.state().iteration;
  saved.evaluations = first.state().evaluations;
  saved.hessian_products = first.state().hessian_products;
  options.max_iterations = 6;
  ExpValleyProblem resumed_problem;
  NewtonCg resumed = resumed_problem.Solver(options);
  resumed.Resume(saved);
  EXPECT_EQ(RunToEnd(&resumed), SolverStatus::kMaxIterations);
  ASSERT_EQ(resumed.state().x.size(), straight.state().x.size());
  EXPECT_EQ(std::memcmp(resumed.state().x.data(), straight.state().x.data(),
                        sizeof(double) * static_cast<std::size_t>(straight.state().x.size())),
            0);
  EXPECT_EQ(resumed.state().evaluations, straight.state().evaluations);
  EXPECT_EQ(resumed.state().hessian_products, straight.state().hessian_products);
}

TEST(NewtonCg, AlreadyAtTheMinimumDoesNotIterate) {
  NewtonCgOptions options;
  ExpValleyProblem problem;
  NewtonCg solver = problem.Solver(options);
  solver.Start(Vector::Zero(4));
  EXPECT_EQ(solver.CheckStart(), SolverStatus::kGradientTolerance);
  EXPECT_EQ(solver.Iterate(), SolverStatus::kGradientTolerance);
  EXPECT_EQ(solver.state().hessian_products, 0);
}

// H u of one row against (g(z + eps u) - g(z - eps u)) / (2 eps), g = dl/dz of that row.
TEST(LossCurvature, MatchesFiniteDifferencesOfTheLogitGradient) {
  const std::vector<Label> label = {2};
  TargetMatrix targets(1, 4);
  targets << 1, 0, 1, 0;
  Eigen::RowVectorXd z(4);
  z << 0.3, -1.2, 2.0, 0.7;
  Eigen::RowVectorXd u(4);
  u << 0.5, 1.5, -0.8, 0.2;
  for (const char* name : {"softmax", "sigmoid", "squared"}) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Loss> loss = MakeLoss(name);
    ASSERT_TRUE(loss->has_curvature());
    const RowBlock row =
        loss->is_multi_label()
            ? RowBlock{Eigen::Map<const FeatureMatrix>(nullptr, 1, 0), {}, {},
                       Eigen::Map<const TargetMatrix>(targets.data(), 1, 4)}
            : shardmax::testing::LabelsOnly(label);
    const double eps = 1e-6;
    Eigen::RowVectorXd plus = z + eps * u;
    Eigen::RowVectorXd minus = z - eps * u;
    loss->RowLossAndGradient(plus, row, 0);
    loss->RowLossAndGradient(minus, row, 0);
    const Eigen::RowVectorXd expected = (plus - minus) / (2.0 * eps);
    Eigen::RowVectorXd curvature = z;
    loss->CurvatureOf(curvature);
    Eigen::RowVectorXd hu = u;
    loss->CurvatureTimes(curvature, hu);
    EXPECT_LT((hu - expected).norm(), 1e-8 * expected.norm() + 1e-9)
        << hu << "\nexpected " << expected;
  }
  EXPECT_FALSE(MakeLoss("hinge")->has_curvature());
  Eigen::RowVectorXd logits = z;
  EXPECT_THROW(MakeLoss("hinge")->CurvatureOf(logits), std::logic_error);
}

// A block's products at once (what a Newton-CG pass takes) give the bits of row by row, with
// and without row weights; and the curvature is looked up by the rows' global index.
TEST(LossCurvature, BlockProductsMatchRowByRowBitwise) {
  const Eigen::Index rows = 7;
  const Eigen::Index classes = 5;
  const Matrix logits = Matrix::Random(rows, classes) * 4.0;
  const Matrix directions = Matrix::Random(rows, classes);
  const std::int64_t first_row = 40;  // the block's rows are 40..46 of the data
  const std::vector<double> weights = {0.5, 2.0, 1.0, 3.0, 0.25, 1.5, 0.75};
  for (const char* name : {"softmax", "sigmoid", "squared"}) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Loss> loss = MakeLoss(name);
    RowCurvatures curvatures(first_row - 2, rows + 4, classes);
    for (Eigen::Index i = 0; i < rows; ++i) {
      Eigen::Ref<Eigen::RowVectorXd> curvature = curvatures.Row(first_row + i);
      curvature = logits.row(i);
      loss->CurvatureOf(curvature);
    }
    Matrix block_at_once = directions;
    loss->CurvatureTimesRows(curvatures.Rows(first_row, rows), &block_at_once);
    for (Eigen::Index i = 0; i < rows; ++i) {
      Eigen::RowVectorXd one_row = directions.row(i);
      loss->CurvatureTimes(curvatures.Row(first_row + i), one_row);
      for (Eigen::Index k = 0; k < classes; ++k) {
        EXPECT_EQ(block_at_once(i, k), one_row(k)) << "row " << i << ", class " << k;
      }
    }

    const CurvatureProductLoss product(*loss, &curvatures);
    const std::vector<Label> labels(rows, 0);
    for (const bool weighted : {false, true}) {
      RowBlock block = shardmax::testing::LabelsOnly(labels);
      block.first_row = first_row;
      if (weighted) block.weights = weights;
      Matrix at_once = directions;
      Matrix by_rows = directions;
      EXPECT_EQ(product.SumAndLogitGradient(&at_once, block), 0.0);
      EXPECT_EQ(product.Loss::SumAndLogitGradient(&by_rows, block), 0.0);  // row by row
      EXPECT_TRUE(at_once == by_rows) << (weighted ? "weighted" : "unweighted");
    }
  }
  RowCurvatures curvatures(0, 3, classes);
  EXPECT_THROW(curvatures.Rows(1, 3), std::logic_error);
}

// sum_i w_i H_i: softmax's one product against the default, column by column through
// CurvatureTimes; and that default against H_i written out for each loss.
TEST(LossCurvature, CurvatureSumsMatchTheHessiansWrittenOut) {
  const Eigen::Index rows = 6;
  const Eigen::Index classes = 4;
  const Matrix logits = Matrix::Random(rows, classes) * 3.0;
  Vector weights(rows);
  weights << 0.5, 2.0, 1.0, 0.0, 1.5, 0.75;
  for (const char* name : {"softmax", "sigmoid", "squared"}) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Loss> loss = MakeLoss(name);
    Matrix curvature = logits;
    for (Eigen::Index i = 0; i < rows; ++i) loss->CurvatureOf(curvature.row(i));
    Matrix expected = Matrix::Zero(classes, classes);
    for (Eigen::Index i = 0; i < rows; ++i) {
      const Eigen::RowVectorXd p = curvature.row(i);
      Matrix h = Matrix::Identity(classes, classes);  // squared: H = I
      if (std::string(name) == "softmax") {
        h = Matrix(p.asDiagonal()) - p.transpose() * p;
      } else if (std::string(name) == "sigmoid") {
        h = Matrix(p.cwiseProduct((1.0 - p.array()).matrix()).asDiagonal());
      }
      expected += weights(i) * h;
    }
    Matrix by_columns = Matrix::Zero(classes, classes);
    loss->Loss::AddCurvatureSum(curvature, weights, &by_columns);
    Matrix sum = Matrix::Ones(classes, classes);  // it adds
    loss->AddCurvatureSum(curvature, weights, &sum);
    sum.array() -= 1.0;
    EXPECT_LT((by_columns - expected).cwiseAbs().maxCoeff(), 1e-14);
    EXPECT_LT((sum - expected).cwiseAbs().maxCoeff(), 1e-14);
  }
}

// What the recording pass keeps for the preconditioner: every row's curvature and weight.
TEST(LossCurvature, RecordingKeepsEachRowsWeightForTheCurvatureSums) {
  const Eigen::Index classes = 3;
  const Matrix logits = Matrix::Random(4, classes);
  const std::unique_ptr<Loss> loss = MakeLoss("softmax");
  RowCurvatures curvatures(10, 4, classes);
  const CurvatureRecordingLoss recording(*loss, &curvatures);
  const std::vector<Label> labels = {0, 2, 1, 1};
  const std::vector<double> weights = {0.5, 2.0, 1.0, 3.0};
  RowBlock block = shardmax::testing::LabelsOnly(labels);
  block.first_row = 10;
  block.weights = weights;
  Matrix gradient = logits;
  recording.SumAndLogitGradient(&gradient, block);
  const std::vector<double> sums = curvatures.CurvatureSums(*loss);
  ASSERT_EQ(sums.size(), static_cast<std::size_t>(classes * classes + 1));
  EXPECT_EQ(sums.back(), 6.5);
  Matrix expected = Matrix::Zero(classes, classes);
  for (Eigen::Index i = 0; i < 4; ++i) {
    Eigen::RowVectorXd p = logits.row(i);
    loss->CurvatureOf(p);
    expected += weights[static_cast<std::size_t>(i)] *
                (Matrix(p.asDiagonal()) - p.transpose() * p);
  }
  for (Eigen::Index j = 0; j < classes * classes; ++j) {
    EXPECT_NEAR(sums[static_cast<std::size_t>(j)], expected.data()[j], 1e-14);
  }
}

}  // namespace
}  // namespace shardmax
