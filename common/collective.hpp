// Every cross-rank reduction goes through here, so it can later be made exact and
// independent of the rank count in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/mpi_layer.hpp"

namespace shardmax {

// In-place elementwise sum over all ranks (one MPI_Allreduce for the whole buffer).
void AllreduceSum(const Communicator& comm, std::span<double> values);
std::int64_t AllreduceSum(const Communicator& comm, std::int64_t value);
// Integers: exact, so the same in any order (the exact sums of common/exact_sum.hpp); summed
// as unsigned, so they wrap modulo 2^64 as the grid sums' entries do on the way.
void AllreduceSum(const Communicator& comm, std::span<std::int64_t> values);
double AllreduceMaxDouble(const Communicator& comm, double value);
std::int64_t AllreduceMax(const Communicator& comm, std::int64_t value);
std::int64_t AllreduceMin(const Communicator& comm, std::int64_t value);

// Every rank ends with root's text.
void Broadcast(const Communicator& comm, std::string* text, int root);

// The error-agreement step: every rank passes its own error (or none). If any rank
// has one, every rank throws the same AgreedError carrying the lowest such rank's text.
// Call it before the next collective, so no rank is left waiting in a reduction.
void AgreeOnError(const Communicator& comm, const std::optional<std::string>& local_error);

// Runs rank-local work that may throw, then agrees on the outcome: an exception on any
// rank becomes the same AgreedError on all ranks.
void RunAndAgree(const Communicator& comm, const std::function<void()>& local_work);

}  // namespace shardmax
