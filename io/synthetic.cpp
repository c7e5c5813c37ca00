#include "io/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/random.hpp"
#include "io/atomic_file.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {
namespace {

enum Stream : std::uint64_t { kMeans = 1, kRows = 2 };

Matrix ClassMeans(const SyntheticConfig& config) {
  SplitMix64 generator = SplitMix64::ForStream(config.seed, kMeans);
  Matrix means(config.classes, config.features);
  for (Eigen::Index k = 0; k < means.rows(); ++k) {
    for (Eigen::Index j = 0; j < means.cols(); ++j) means(k, j) = generator.Normal();
    means.row(k) *= config.separation * std::sqrt(2.0) / means.row(k).norm();
  }
  return means;
}

hid_t FileType(FeatureType type) {
  switch (type) {
    case FeatureType::kFloat64:
      return H5T_IEEE_F64LE;
    case FeatureType::kUint8:
      return H5T_STD_U8LE;
    case FeatureType::kFloat32:
      break;
  }
  return H5T_IEEE_F32LE;
}

// uint8 storage keeps 8 bits of x: round(128 + 32 x), clamped to 0..255.
std::vector<std::uint8_t> ToUint8(const Matrix& features) {
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(features.size()));
  for (Eigen::Index i = 0; i < features.size(); ++i) {
    const double value = std::round(128.0 + 32.0 * features.data()[i]);
    bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(std::clamp(value, 0.0, 255.0));
  }
  return bytes;
}

}  // namespace

h5::Handle CreateSyntheticLabels(const h5::Handle& file, const SyntheticConfig& config,
                                 std::int64_t rows) {
  return config.multi_label
             ? h5::CreateDataset(file, config.layout.labels, H5T_STD_U8LE, rows, config.classes,
                                 config.chunk_rows)
             : h5::CreateDataset(file, config.layout.labels, H5T_STD_I32LE, rows, 0,
                                 config.chunk_rows);
}

namespace {

void WriteSplit(const SyntheticConfig& config, int split, const std::string& path,
                std::int64_t rows) {
  WriteFileAtomically(path, [&](const std::string& temporary) {
  h5::Handle file = h5::CreateFile(temporary);
  h5::Handle features = h5::CreateDataset(file, config.layout.features, FileType(config.type),
                                          rows, config.features, config.chunk_rows);
  h5::Handle labels = CreateSyntheticLabels(file, config, rows);
  const std::string context = "writing '" + path + "'";
  Matrix block_features;
  std::vector<Label> block_labels;
  TargetMatrix block_targets;
  for (std::int64_t first = 0; first < rows; first += config.chunk_rows) {
    const std::int64_t count = std::min(config.chunk_rows, rows - first);
    block_features.resize(count, config.features);
    if (config.multi_label) {
      block_targets.resize(count, config.classes);
      GenerateMultiLabelRows(config, split, first, block_features, block_targets);
      h5::WriteRows(labels, first, count, H5T_NATIVE_UINT8, block_targets.data(), context);
    } else {
      block_labels.resize(static_cast<std::size_t>(count));
      GenerateSyntheticRows(config, split, first, block_features, block_labels);
      h5::WriteRows(labels, first, count, H5T_NATIVE_INT32, block_labels.data(), context);
    }
    if (config.type == FeatureType::kUint8) {
      h5::WriteRows(features, first, count, H5T_NATIVE_UINT8, ToUint8(block_features).data(),
                    context);
    } else {
      h5::WriteRows(features, first, count, H5T_NATIVE_DOUBLE, block_features.data(), context);
    }
  }
  h5::WriteAttribute(file, "/", "classes", config.classes);
  h5::WriteAttribute(file, "/", "generator", std::string("shardmax gen"));
  h5::WriteAttribute(file, "/", "seed", static_cast<std::int64_t>(config.seed));
  h5::WriteAttribute(file, "/", "separation", config.separation);
  h5::WriteAttribute(file, "/", "multi_label", static_cast<std::int64_t>(config.multi_label));
  });
}

}  // namespace

void GenerateSyntheticRows(const SyntheticConfig& config, int split, std::int64_t first_row,
                           Eigen::Ref<Matrix> features, std::span<Label> labels) {
  const Matrix means = ClassMeans(config);
  for (Eigen::Index i = 0; i < features.rows(); ++i) {
    SplitMix64 generator = SplitMix64::ForStream(
        config.seed, kRows, static_cast<std::uint64_t>(split),
        static_cast<std::uint64_t>(first_row + i));
    const auto label = static_cast<Label>(generator.Below(static_cast<std::uint64_t>(config.classes)));
    labels[static_cast<std::size_t>(i)] = label;
    for (Eigen::Index j = 0; j < features.cols(); ++j) {
      features(i, j) = means(label, j) + generator.Normal();
    }
  }
}

void GenerateMultiLabelRows(const SyntheticConfig& config, int split, std::int64_t first_row,
                            Eigen::Ref<Matrix> features, Eigen::Ref<TargetMatrix> targets) {
  const Matrix means = ClassMeans(config);
  for (Eigen::Index i = 0; i < features.rows(); ++i) {
    SplitMix64 generator = SplitMix64::ForStream(
        config.seed, kRows, static_cast<std::uint64_t>(split),
        static_cast<std::uint64_t>(first_row + i));
    features.row(i).setZero();
    for (Eigen::Index k = 0; k < config.classes; ++k) {
      targets(i, k) = static_cast<std::uint8_t>(generator.Below(2));
      if (targets(i, k) != 0) features.row(i) += means.row(k);
    }
    for (Eigen::Index j = 0; j < features.cols(); ++j) features(i, j) += generator.Normal();
  }
}

void WriteSyntheticDataset(const SyntheticConfig& config) {
  WriteSplit(config, 0, config.output_path, config.rows);
  if (!config.validation_output_path.empty()) {
    WriteSplit(config, 1, config.validation_output_path, config.validation_rows);
  }
}

}  // namespace shardmax
