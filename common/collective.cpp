#include "common/collective.hpp"

#include <mpi.h>

#include <exception>
#include <vector>

#include "common/error.hpp"

namespace shardmax {
namespace {

std::int64_t AllreduceInt64(const Communicator& comm, std::int64_t value, MPI_Op op) {
  CheckMpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, op, comm.get()), "MPI_Allreduce");
  return value;
}

}  // namespace

void AllreduceSum(const Communicator& comm, std::span<double> values) {
  if (comm.size() == 1 || values.empty()) return;
  CheckMpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                         MPI_SUM, comm.get()),
           "MPI_Allreduce");
}

void AllreduceSum(const Communicator& comm, std::span<std::int64_t> values) {
  if (comm.size() == 1 || values.empty()) return;
  CheckMpi(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                         MPI_UINT64_T, MPI_SUM, comm.get()),
           "MPI_Allreduce");
}

double AllreduceMaxDouble(const Communicator& comm, double value) {
  CheckMpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, comm.get()),
           "MPI_Allreduce");
  return value;
}

std::int64_t AllreduceSum(const Communicator& comm, std::int64_t value) {
  return AllreduceInt64(comm, value, MPI_SUM);
}
std::int64_t AllreduceMax(const Communicator& comm, std::int64_t value) {
  return AllreduceInt64(comm, value, MPI_MAX);
}
std::int64_t AllreduceMin(const Communicator& comm, std::int64_t value) {
  return AllreduceInt64(comm, value, MPI_MIN);
}

void Broadcast(const Communicator& comm, std::string* text, int root) {
  std::int64_t length = static_cast<std::int64_t>(text->size());
  CheckMpi(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm.get()), "MPI_Bcast");
  text->resize(static_cast<std::size_t>(length));
  if (length > 0) {
    CheckMpi(MPI_Bcast(text->data(), static_cast<int>(length), MPI_CHAR, root, comm.get()),
             "MPI_Bcast");
  }
}

void AgreeOnError(const Communicator& comm, const std::optional<std::string>& local_error) {
  const std::int64_t no_error = comm.size();
  const std::int64_t first_failing_rank =
      AllreduceMin(comm, local_error ? static_cast<std::int64_t>(comm.rank()) : no_error);
  if (first_failing_rank == no_error) return;
  std::string message = local_error.value_or("");
  Broadcast(comm, &message, static_cast<int>(first_failing_rank));
  throw AgreedError(message);
}

void RunAndAgree(const Communicator& comm, const std::function<void()>& local_work) {
  std::optional<std::string> local_error;
  try {
    local_work();
  } catch (const std::exception& error) {
    local_error = error.what();
  }
  AgreeOnError(comm, local_error);
}

}  // namespace shardmax
