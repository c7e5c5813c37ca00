// What each subcommand does once its options are parsed.
#pragma once

#include <string>
#include <vector>

#include "common/mpi_layer.hpp"

namespace shardmax {

// A subcommand beyond train and gen: parses its own options with ParseOptions (options.hpp)
// and returns the exit status. Each lives in its own file, e.g. trainer/evaluate_command.cpp.
using CommandFunction = int (*)(const Communicator& comm, const std::vector<std::string>& args);

// Parses `args` (without the program name), runs the command and returns the exit status.
// Throws UsageError, AgreedError or other exceptions for main to report.
int RunCommandLine(const Communicator& comm, const std::vector<std::string>& args);

}  // namespace shardmax
