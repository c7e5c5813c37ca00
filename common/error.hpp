// Error types: what went wrong is the user's to fix (input, options) or a fault of ours.
#pragma once

#include <stdexcept>
#include <string>

namespace shardmax {

// Bad input or environment the user can fix: a file, dataset, row or option is named.
// Reported as one line, exit status 1.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad command line or config file: exit status 2, like other command-line tools.
class UsageError : public UserError {
 public:
  using UserError::UserError;
};

// An error that every rank of a communicator has agreed on (see AgreeOnError): each rank
// holds the same text, so the job can end cleanly with MPI_Finalize instead of MPI_Abort.
class AgreedError : public UserError {
 public:
  using UserError::UserError;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// Stopped by SIGUSR1 or SIGUSR2 after writing a checkpoint: run it again with --resume auto.
// 75 is EX_TEMPFAIL of <sysexits.h>, "try again later"; launch/slurm/ requeues on it.
inline constexpr int kExitStoppedToResume = 75;

}  // namespace shardmax
