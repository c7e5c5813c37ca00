#include "common/stop_signal.hpp"

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "common/collective.hpp"
#include "common/mpi_layer.hpp"

namespace shardmax {
namespace {

// Written by the handler, read by the loop: the one type a handler may safely write.
volatile std::sig_atomic_t received_signal = 0;

extern "C" void RecordStopSignal(int signal_number) { received_signal = signal_number; }

}  // namespace

void InstallStopSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = RecordStopSignal;
  sigemptyset(&action.sa_mask);
  // Restart interrupted system calls, so a signal in the middle of a file write or an MPI
  // wait does not turn into an I/O error.
  action.sa_flags = SA_RESTART;
  for (const int signal_number : {SIGUSR1, SIGUSR2}) {
    if (sigaction(signal_number, &action, nullptr) != 0) {
      throw std::runtime_error(std::string("cannot install the handler of ") +
                               StopSignalName(signal_number));
    }
  }
}

int ReceivedStopSignal() { return received_signal; }

void ClearStopSignal() { received_signal = 0; }

int AgreeOnStopSignal(const Communicator& comm) {
  return static_cast<int>(AllreduceMax(comm, ReceivedStopSignal()));
}

const char* StopSignalName(int signal_number) {
  if (signal_number == SIGUSR1) return "SIGUSR1";
  if (signal_number == SIGUSR2) return "SIGUSR2";
  static thread_local char text[32];
  std::snprintf(text, sizeof text, "signal %d", signal_number);
  return text;
}

}  // namespace shardmax
