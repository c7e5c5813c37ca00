// Stop signals: SIGUSR1 or SIGUSR2 asks a training run to checkpoint and exit with
// kExitStoppedToResume, so that a batch job can be requeued before its time limit or
// preemption. mpirun forwards both signals to every rank; SIGTERM cannot serve, because
// mpirun answers it by killing the job.
#pragma once

namespace shardmax {

class Communicator;

// Installs the handler for SIGUSR1 and SIGUSR2. The handler only records the signal
// (async-signal-safe); the training loop looks at the record between steps.
void InstallStopSignalHandlers();

// The stop signal this process has received (the last one), or 0.
int ReceivedStopSignal();

// Forgets a received signal (tests).
void ClearStopSignal();

// Collective: one all-reduce (MAX) of every rank's received signal, so one rank receiving
// it is enough and all ranks stop after the same step. Returns the agreed signal, or 0.
int AgreeOnStopSignal(const Communicator& comm);

// "SIGUSR1", "SIGUSR2", or "signal N".
const char* StopSignalName(int signal_number);

}  // namespace shardmax
