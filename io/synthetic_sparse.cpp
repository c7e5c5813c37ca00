#include "io/synthetic_sparse.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "common/error.hpp"
#include "common/random.hpp"
#include "io/atomic_file.hpp"
#include "io/hdf5_file.hpp"
#include "io/sparse_writer.hpp"
#include "io/synthetic.hpp"

namespace shardmax {
namespace {

// Distinct from the dense generator's streams (io/synthetic.cpp).
enum SparseStream : std::uint64_t { kSparseRows = 11, kTopics = 12 };

void WriteLibsvmRow(const SparseSyntheticRow& row, bool multi_label, std::ostream& out) {
  if (multi_label) {
    bool first = true;
    for (std::size_t k = 0; k < row.targets.size(); ++k) {
      if (row.targets[k] == 0) continue;
      out << (first ? "" : ",") << k;
      first = false;
    }
  } else {
    out << row.label;
  }
  for (std::size_t e = 0; e < row.columns.size(); ++e) {
    out << ' ' << row.columns[e] + 1 << ':' << row.values[e];
  }
  out << '\n';
}

void WriteSparseSplit(const SyntheticConfig& config, int split, const std::string& path,
                      std::int64_t rows, const std::string& libsvm_path = "") {
  std::ofstream libsvm;
  if (!libsvm_path.empty()) {
    libsvm.open(libsvm_path, std::ios::binary | std::ios::trunc);
    if (!libsvm) throw UserError("cannot write '" + libsvm_path + "' (--libsvm-output)");
    libsvm.precision(9);  // float32 values round-trip
  }
  WriteFileAtomically(path, [&](const std::string& temporary) {
    h5::Handle file = h5::CreateFile(temporary);
    const std::string context = "writing '" + path + "'";
    SparseFeaturesWriter features(file, config.layout.features, config.features, context);
    h5::Handle labels = CreateSyntheticLabels(file, config, rows);
    SparseSyntheticRow row;
    std::vector<Label> block_labels;
    std::vector<std::uint8_t> block_targets;
    for (std::int64_t first = 0; first < rows; first += config.chunk_rows) {
      const std::int64_t count = std::min(config.chunk_rows, rows - first);
      block_labels.clear();
      block_targets.clear();
      for (std::int64_t i = 0; i < count; ++i) {
        GenerateSparseRow(config, split, first + i, &row);
        features.AddRow(row.columns, row.values);
        if (libsvm.is_open()) WriteLibsvmRow(row, config.multi_label, libsvm);
        block_labels.push_back(row.label);
        block_targets.insert(block_targets.end(), row.targets.begin(), row.targets.end());
      }
      if (config.multi_label) {
        h5::WriteRows(labels, first, count, H5T_NATIVE_UINT8, block_targets.data(), context);
      } else {
        h5::WriteRows(labels, first, count, H5T_NATIVE_INT32, block_labels.data(), context);
      }
    }
    features.Finish();
    h5::WriteAttribute(file, "/", "classes", config.classes);
    h5::WriteAttribute(file, "/", "generator", std::string("shardmax gen --sparse"));
    h5::WriteAttribute(file, "/", "seed", static_cast<std::int64_t>(config.seed));
    h5::WriteAttribute(file, "/", "row_nonzeros", config.sparse_row_nonzeros);
    h5::WriteAttribute(file, "/", "multi_label", static_cast<std::int64_t>(config.multi_label));
  });
  if (libsvm.is_open() && !libsvm.flush()) {
    throw UserError("cannot write '" + libsvm_path + "' (--libsvm-output): " +
                    std::strerror(errno));
  }
}

}  // namespace

void GenerateSparseRow(const SyntheticConfig& config, int split, std::int64_t row,
                       SparseSyntheticRow* out) {
  SplitMix64 generator = SplitMix64::ForStream(config.seed, kSparseRows,
                                               static_cast<std::uint64_t>(split),
                                               static_cast<std::uint64_t>(row));
  const auto classes = static_cast<std::uint64_t>(config.classes);
  const auto vocabulary = static_cast<std::uint64_t>(config.features);
  std::vector<std::uint64_t> topics;  // the classes whose topic words this row may use
  out->targets.clear();
  if (config.multi_label) {
    for (std::uint64_t k = 0; k < classes; ++k) {
      out->targets.push_back(static_cast<std::uint8_t>(generator.Below(2)));
      if (out->targets.back() != 0) topics.push_back(k);
    }
    out->label = 0;
  } else {
    out->label = static_cast<Label>(generator.Below(classes));
    topics.push_back(static_cast<std::uint64_t>(out->label));
  }
  const double log_size = std::log(static_cast<double>(vocabulary) + 1.0);
  const auto zipf_rank = [&] {
    const auto rank = static_cast<std::uint64_t>(std::exp(generator.UniformOpen() * log_size));
    return std::clamp<std::uint64_t>(rank, 1, vocabulary);
  };
  std::unordered_map<std::int64_t, int> counts;
  const std::int64_t wanted = std::min<std::int64_t>(config.sparse_row_nonzeros, config.features);
  for (std::int64_t draw = 0; std::ssize(counts) < wanted && draw < 20 * wanted; ++draw) {
    const bool is_topic_word = !topics.empty() && generator.UniformOpen() < kTopicShare;
    std::uint64_t column = 0;
    if (is_topic_word) {
      const std::uint64_t topic = topics[generator.Below(topics.size())];
      column = SplitMix64::ForStream(config.seed, kTopics, topic, zipf_rank()).Next() % vocabulary;
    } else {
      column = zipf_rank() - 1;
    }
    ++counts[static_cast<std::int64_t>(column)];
  }
  out->columns.clear();
  for (const auto& entry : counts) out->columns.push_back(entry.first);
  std::sort(out->columns.begin(), out->columns.end());
  double squares = 0.0;
  for (const std::int64_t column : out->columns) {
    const double count = counts[column];
    squares += count * count;
  }
  const double scale = squares > 0.0 ? 1.0 / std::sqrt(squares) : 0.0;
  out->values.clear();
  for (const std::int64_t column : out->columns) {
    out->values.push_back(static_cast<float>(counts[column] * scale));
  }
}

void WriteSparseSyntheticDataset(const SyntheticConfig& config) {
  WriteSparseSplit(config, 0, config.output_path, config.rows, config.libsvm_output_path);
  if (!config.validation_output_path.empty()) {
    WriteSparseSplit(config, 1, config.validation_output_path, config.validation_rows);
  }
}

}  // namespace shardmax
