// Shared by the converter tests: writing small inputs, reading converted files back whole, and
// catching the message of the error a conversion throws.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax::testing {

inline void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A whole 1-D or 2-D dataset, converted to `memory_type` (which must match Value).
template <typename Value>
std::vector<Value> ReadWholeDataset(const std::string& path, const std::string& name,
                                    hid_t memory_type) {
  h5::Handle file = h5::OpenFileForReading(path);
  h5::Handle dataset = h5::OpenDataset(file, name, path);
  const std::vector<hsize_t> dims = h5::DatasetDims(dataset, path);
  std::size_t count = 1;
  for (const hsize_t size : dims) count *= size;
  std::vector<Value> values(count);
  h5::ReadRows(dataset, 0, static_cast<std::int64_t>(dims.at(0)), memory_type, values.data(), path);
  return values;
}

inline std::vector<std::int64_t> DatasetShape(const std::string& path, const std::string& name) {
  h5::Handle file = h5::OpenFileForReading(path);
  h5::Handle dataset = h5::OpenDataset(file, name, path);
  std::vector<std::int64_t> shape;
  for (const hsize_t size : h5::DatasetDims(dataset, path))
    shape.push_back(static_cast<std::int64_t>(size));
  return shape;
}

inline std::string DatasetType(const std::string& path, const std::string& name) {
  h5::Handle file = h5::OpenFileForReading(path);
  return h5::DescribeType(h5::OpenDataset(file, name, path));
}

// The message of the UserError `action` throws; "(no error)" if it throws none.
inline std::string UserErrorOf(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace shardmax::testing
