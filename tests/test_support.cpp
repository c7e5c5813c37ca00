#include "test_support.hpp"

#include <cstdlib>
#include <cstring>
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

TrainConfig SmallTrainConfig(const std::string& train_path,
                             const std::string& checkpoint_directory) {
  TrainConfig config;
  config.train_path = train_path;
  config.epochs = 3;
  config.batch_size = 64;
  config.optimizer.learning_rate = 0.2;
  config.optimizer.momentum = 0.9;
  config.optimizer.weight_decay = 1e-3;
  config.seed = 5;
  config.checkpoint.directory = checkpoint_directory;
  return config;
}

bool SameBits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
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

CsrParts ToCsr(const Matrix& features) {
  CsrParts parts;
  parts.rows = features.rows();
  parts.features = features.cols();
  parts.indptr.push_back(0);
  for (Eigen::Index i = 0; i < features.rows(); ++i) {
    for (Eigen::Index j = 0; j < features.cols(); ++j) {
      const auto value = static_cast<float>(features(i, j));
      if (value == 0.0f) continue;
      parts.data.push_back(value);
      parts.indices.push_back(j);
    }
    parts.indptr.push_back(static_cast<std::int64_t>(parts.data.size()));
  }
  return parts;
}

void WriteCsrFile(const std::string& path, const CsrParts& parts,
                  const std::vector<long long>& labels, const TargetMatrix& targets,
                  const std::vector<double>& sample_weights) {
  h5::Handle file = h5::CreateFile(path);
  const auto write = [&](const char* name, hid_t file_type, hid_t memory_type, const void* values,
                         std::size_t count) {
    h5::Handle dataset = h5::CreateDataset(file, name, file_type,
                                           static_cast<std::int64_t>(count), 0, 0);
    h5::WriteRows(dataset, 0, static_cast<std::int64_t>(count), memory_type, values, path);
  };
  write("features/data", H5T_IEEE_F32LE, H5T_NATIVE_DOUBLE, parts.data.data(), parts.data.size());
  write("features/indices", H5T_STD_I32LE, H5T_NATIVE_INT64, parts.indices.data(),
        parts.indices.size());
  write("features/indptr", H5T_STD_I64LE, H5T_NATIVE_INT64, parts.indptr.data(),
        parts.indptr.size());
  if (parts.has_shape) {
    const hsize_t two = 2;
    const std::int64_t shape[2] = {parts.rows, parts.features};
    h5::Handle space(H5Screate_simple(1, &two, nullptr), H5Sclose);
    h5::Handle attribute(H5Acreate_by_name(file.get(), "features", "shape", H5T_STD_I64LE,
                                           space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose);
    h5::Check(H5Awrite(attribute.get(), H5T_NATIVE_INT64, shape), path);
  }
  if (!labels.empty()) {
    write("labels", H5T_STD_I64LE, H5T_NATIVE_LLONG, labels.data(), labels.size());
  }
  if (targets.size() > 0) {
    h5::Handle dataset =
        h5::CreateDataset(file, "labels", H5T_STD_U8LE, targets.rows(), targets.cols(), 0);
    h5::WriteRows(dataset, 0, targets.rows(), H5T_NATIVE_UINT8, targets.data(), path);
  }
  if (!sample_weights.empty()) {
    write("weights", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sample_weights.data(),
          sample_weights.size());
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
