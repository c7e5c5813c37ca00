// shardmax: distributed softmax regression. Every failure ends every rank with a non-zero
// status: agreed errors through MPI_Finalize, anything else through MPI_Abort, because
// finalizing while another rank waits in a collective would hang the job.
#include <mpi.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/launcher.hpp"
#include "common/logging.hpp"
#include "common/mpi_layer.hpp"
#include "io/hdf5_crash_report.hpp"
#include "trainer/commands.hpp"

int main(int argc, char** argv) {
  using namespace shardmax;
  // First of all: a rank whose mpirun is gone must not train on (or hang in MPI_Init).
  DieWithLauncher();
  std::optional<MpiEnvironment> environment;
  try {
    environment.emplace(&argc, &argv);
  } catch (const std::exception& error) {
    LogRankError(error.what());
    return kExitFailure;
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  SetLogRank(rank);
  // After MPI_Init, so that Open MPI's own crash handlers still run after the report.
  h5::InstallCrashReport(rank);

  try {
    const Communicator world(MPI_COMM_WORLD);
    return RunCommandLine(world, std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& error) {
    // Every rank parsed the same arguments and failed the same way.
    LogError(error.what());
    return kExitUsage;
  } catch (const AgreedError& error) {
    LogError(error.what());
    return kExitFailure;
  } catch (const std::exception& error) {
    LogRankError(error.what());
  } catch (...) {
    LogRankError("unknown exception");
  }
  MPI_Abort(MPI_COMM_WORLD, kExitFailure);
  return kExitFailure;
}
