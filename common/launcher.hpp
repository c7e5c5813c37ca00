// Ties a rank's life to its launcher's. Open MPI puts each rank in a process group of its own,
// so when mpirun is killed with SIGKILL (which it cannot forward) the ranks would go on
// training, and writing checkpoints, as orphans.
#pragma once

namespace shardmax {

// When started by an MPI launcher (OMPI_COMM_WORLD_RANK, PMIX_RANK or PMI_RANK is set), asks
// the kernel to SIGKILL this process when its parent (mpirun, orted, slurmstepd) dies, and
// dies at once if the parent is already gone. Does nothing for a process started by hand:
// closing a terminal should not kill a `nohup shardmax convert`. Linux only; elsewhere a no-op.
void DieWithLauncher();

}  // namespace shardmax
