// `shardmax predict`: the predicted class (and, on request, the class probabilities) of every
// row of a data file, in input order, written by all ranks into one HDF5 or CSV file
// (io/prediction_writer.hpp); for a multi-label model the K label decisions at --threshold
// (and the K label probabilities). The data needs no labels.
#pragma once

#include <string>
#include <vector>

#include "common/mpi_layer.hpp"

namespace shardmax {

// A CommandFunction (trainer/commands.hpp): parses `args` and returns the exit status.
int RunPredict(const Communicator& comm, const std::vector<std::string>& args);

}  // namespace shardmax
