#include "test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/collective.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax::testing {

std::string MakeScratchDirectory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "shardmax-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string DeterministicMetricsColumns(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::string kept;
  while (std::getline(in, line)) {
    std::size_t cut = 0;
    for (int comma = 0; comma < 6; ++comma) cut = line.find(',', cut) + 1;
    kept += line.substr(0, cut) + "\n";
  }
  return kept;
}

std::string MakeScratchDirectory(const Communicator& comm) {
  std::string directory = comm.is_root() ? MakeScratchDirectory() : std::string();
  Broadcast(comm, &directory, 0);
  return directory;
}

void WriteDataFile(const std::string& path, const Matrix& features,
                   const std::vector<long long>& labels, hid_t file_type,
                   const std::vector<double>& sample_weights) {
  h5::Handle file = h5::CreateFile(path);
  h5::Handle feature_set =
      h5::CreateDataset(file, "features", file_type, features.rows(), features.cols(), 0);
  h5::WriteRows(feature_set, 0, features.rows(), H5T_NATIVE_DOUBLE, features.data(), path);
  h5::Handle label_set = h5::CreateDataset(file, "labels", H5T_STD_I64LE,
                                           static_cast<std::int64_t>(labels.size()), 0, 0);
  h5::WriteRows(label_set, 0, static_cast<std::int64_t>(labels.size()), H5T_NATIVE_LLONG,
                labels.data(), path);
  if (!sample_weights.empty()) {
    h5::WriteDoubles(file, "weights",
                     Eigen::Map<const Vector>(sample_weights.data(),
                                              static_cast<Eigen::Index>(sample_weights.size())));
  }
}

SyntheticConfig SmallSynthetic(const std::string& path, std::int64_t rows, std::int64_t features,
                               std::int64_t classes, double separation) {
  SyntheticConfig config;
  config.output_path = path;
  config.rows = rows;
  config.features = features;
  config.classes = classes;
  config.separation = separation;
  config.seed = 11;
  config.chunk_rows = 500;
  return config;
}

}  // namespace shardmax::testing
