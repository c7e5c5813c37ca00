// `shardmax inspect FILE`: what an HDF5 file holds. Its attributes and datasets (shape, type,
// chunks, filters); for a data file also N, D, the class counts and the value range; for a
// model or checkpoint its attributes say what it is. Rank 0 reads and prints.
#pragma once

#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/mpi_layer.hpp"

namespace shardmax {

// The report `shardmax inspect` prints for `path`; `layout` names the data datasets.
std::string DescribeFile(const std::string& path, const DatasetLayout& layout);

int RunInspect(const Communicator& comm, const std::vector<std::string>& args);

}  // namespace shardmax
