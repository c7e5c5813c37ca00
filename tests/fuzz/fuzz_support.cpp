#include "tests/fuzz/fuzz_support.hpp"

#include <mpi.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace shardmax::fuzz {

namespace {

// Made on first use, removed when the process exits normally.
struct Scratch {
  std::string path;
  Scratch() : path((std::filesystem::temp_directory_path() / "shardmax-fuzz-XXXXXX").string()) {
    if (mkdtemp(path.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

const std::string& ScratchDirectory() {
  static const Scratch scratch;
  return scratch.path;
}

std::string WriteInput(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = ScratchDirectory() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error("cannot create " + path);
  if (size > 0 && std::fwrite(data, 1, size, file) != size) throw std::runtime_error("short write");
  std::fclose(file);
  return path;
}

void InitializeMpi() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(nullptr, nullptr);
}

}  // namespace shardmax::fuzz
