#include "trainer/sparse_sgd.hpp"

#include <algorithm>

#include "common/collective.hpp"
#include "common/sparse_objective.hpp"

namespace shardmax {
namespace {

// The sorted union over all ranks of the columns each rank's rows touch.
std::vector<std::int32_t> UnionOfColumns(const Communicator& comm, const SparseRows& rows) {
  std::vector<std::int32_t> local(rows.columns.begin(), rows.columns.end());
  std::sort(local.begin(), local.end());
  local.erase(std::unique(local.begin(), local.end()), local.end());
  if (comm.size() == 1) return local;
  const int count = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<std::size_t>(comm.size()));
  CheckMpi(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm.get()),
           "MPI_Allgather");
  std::vector<int> offsets(counts.size(), 0);
  for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  std::vector<std::int32_t> all(static_cast<std::size_t>(offsets.back() + counts.back()));
  CheckMpi(MPI_Allgatherv(local.data(), count, MPI_INT32_T, all.data(), counts.data(),
                          offsets.data(), MPI_INT32_T, comm.get()),
           "MPI_Allgatherv");
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

}  // namespace

SparseSgd::SparseSgd(Eigen::Index classes, Eigen::Index features)
    : decay_(features), held_weights_(Matrix::Zero(classes, features)) {}

SparseStepSums SparseSgd::Step(const Communicator& comm, const Loss& loss, const RowBlock& block,
                               double learning_rate, double weight_decay, SoftmaxModel* model) {
  const Eigen::Index classes = model->classes();
  const SparseRows& rows = block.sparse;
  columns_ = UnionOfColumns(comm, rows);
  decay_.BringUpToDate(columns_, &model->weights);

  // This rank's sums, as AccumulateSparseBlock makes them, on the columns of U only.
  const auto touched = static_cast<Eigen::Index>(columns_.size());
  buffer_.assign(static_cast<std::size_t>(touched * classes + classes + 3), 0.0);
  Matrix logit_gradient(block.rows(), classes);
  for (Eigen::Index i = 0; i < block.rows(); ++i) {
    SparseRowLogits(*model, rows, i, logit_gradient.row(i));
  }
  double* const tail = buffer_.data() + touched * classes;
  tail[classes] = block.rows() > 0 ? loss.SumAndLogitGradient(&logit_gradient, block) : 0.0;
  for (Eigen::Index i = 0; i < block.rows(); ++i) {
    for (std::int64_t e = rows.RowBegin(i); e < rows.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      const auto position =
          std::lower_bound(columns_.begin(), columns_.end(), rows.columns[at]) - columns_.begin();
      double* gradient = buffer_.data() + position * classes;
      for (Eigen::Index k = 0; k < classes; ++k) {
        gradient[k] += static_cast<double>(rows.values[at]) * logit_gradient(i, k);
      }
    }
  }
  for (Eigen::Index k = 0; k < classes; ++k) tail[k] = logit_gradient.col(k).sum();
  tail[classes + 1] = block.WeightSum();
  tail[classes + 2] = static_cast<double>(block.rows());
  AllreduceSum(comm, buffer_);

  // The eager formula (FinishObjective, then SGD) on the touched columns and the bias.
  const double count = tail[classes + 1];
  const double inverse_count = count > 0.0 ? 1.0 / count : 0.0;
  for (Eigen::Index u = 0; u < touched; ++u) {
    const Eigen::Index column = columns_[static_cast<std::size_t>(u)];
    const double* gradient = buffer_.data() + u * classes;
    for (Eigen::Index k = 0; k < classes; ++k) {
      double& weight = model->weights(k, column);
      weight -= learning_rate * (gradient[k] * inverse_count + weight_decay * weight);
    }
  }
  for (Eigen::Index k = 0; k < classes; ++k) {
    model->bias(k) -= learning_rate * (tail[k] * inverse_count);
  }
  decay_.Advance(learning_rate, weight_decay, columns_);
  return SparseStepSums{tail[classes], count, tail[classes + 2]};
}

std::vector<OptimizerStateArray> SparseSgd::State() {
  return {{"lazy_decay_weights", &held_weights_}, {"lazy_decay_marks", &decay_.state()}};
}

}  // namespace shardmax
