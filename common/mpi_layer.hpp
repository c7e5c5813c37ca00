// Thin RAII layer over MPI: the environment and a private, move-only communicator.
#pragma once

#include <mpi.h>

namespace shardmax {

// Throws std::runtime_error with MPI's own text when an MPI call did not succeed.
void CheckMpi(int return_code, const char* call);

// Initializes MPI unless someone already did, and finalizes only what it initialized.
class MpiEnvironment {
 public:
  MpiEnvironment(int* argc, char*** argv);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

 private:
  bool owns_mpi_ = false;
};

// Owns an MPI_Comm_dup of a communicator, so library traffic never mixes with the caller's.
class Communicator {
 public:
  explicit Communicator(MPI_Comm parent = MPI_COMM_WORLD);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

 private:
  void Free() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace shardmax
