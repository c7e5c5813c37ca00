// Shared by the libFuzzer targets: a private scratch directory and writing the input to a file
// there, since every parser under test reads files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shardmax::fuzz {

// A directory made once per process (removed at exit).
const std::string& ScratchDirectory();

// Writes `size` bytes to ScratchDirectory()/name and returns the path.
std::string WriteInput(const std::string& name, const std::uint8_t* data, std::size_t size);

// Initializes MPI once (an MPI singleton), for the targets that read through HDF5's MPI layer.
void InitializeMpi();

}  // namespace shardmax::fuzz
