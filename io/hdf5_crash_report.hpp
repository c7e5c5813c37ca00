// HDF5 1.10 crashes on some damaged files instead of reporting them: a chunk dimension of 0
// in a damaged layout message divides by zero inside H5Dopen2 (README.md, "Fuzzing"), before
// shardmax can look at the dataset. With the report installed, a crash (SIGSEGV, SIGFPE,
// SIGBUS, SIGILL) whose instruction is in libhdf5 first prints one line naming the files open
// for reading; then the process dies of the signal as it would have (the handlers installed
// before it, Open MPI's or a sanitizer's, still run), and mpirun stops the other ranks.
#pragma once

#include <hdf5.h>

#include <string>

namespace shardmax::h5 {

// Installs the signal handlers; `rank` goes into the line, as in the other error messages.
void InstallCrashReport(int rank);

// The files a report names (at most 16 at a time), by key: OpenFileForReading registers a
// path under a negative key while H5Fopen runs, then under the file's id until it is closed.
void RegisterFileForCrashReport(hid_t key, const std::string& path);
void RekeyFileForCrashReport(hid_t key, hid_t new_key);
void UnregisterFileForCrashReport(hid_t key);
// A negative key no other thread holds, for a file being opened.
hid_t NewOpeningKeyForCrashReport();

}  // namespace shardmax::h5
