#include "io/dataset_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {
namespace {

// Rows read per H5Dread call, so the conversion buffers stay small.
constexpr std::int64_t kReadRows = 16384;

// Only a readable regular file may reach HDF5: opening a FIFO would block for ever, and a
// directory gives an obscure HDF5 message.
void CheckReadable(const std::string& path) {
  const std::string context = "cannot open data file '" + path + "': ";
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) throw UserError(context + "no such file");
  if (std::filesystem::is_directory(status)) throw UserError(context + "it is a directory");
  if (!std::filesystem::is_regular_file(status)) {
    throw UserError(context + "not a regular file (a FIFO, socket or device)");
  }
  if (::access(path.c_str(), R_OK) != 0) throw UserError(context + std::strerror(errno));
}

void ReadFeatures(const h5::Handle& dataset, const std::string& context, Shard* shard) {
  const bool is_uint8 = shard->feature_type == "uint8";
  shard->features.resize(shard->rows.size(), shard->feature_count);
  for (std::int64_t done = 0; done < shard->rows.size(); done += kReadRows) {
    const std::int64_t count = std::min(kReadRows, shard->rows.size() - done);
    float* out = shard->features.data() + done * shard->feature_count;
    h5::ReadRows(dataset, shard->rows.begin + done, count, H5T_NATIVE_FLOAT, out, context);
    auto block = shard->features.middleRows(done, count);
    if (is_uint8) {
      block *= 1.0f / 255.0f;
      continue;
    }
    for (Eigen::Index i = 0; i < block.rows(); ++i) {
      if (block.row(i).allFinite()) continue;
      Eigen::Index column = 0;
      while (std::isfinite(block(i, column))) ++column;
      throw UserError(StrCat(context, ": row ", shard->rows.begin + done + i, ", column ", column,
                             " is ", std::isnan(block(i, column)) ? "NaN" : "infinite"));
    }
  }
}

void ReadLabels(const h5::Handle& dataset, const std::string& context, Shard* shard) {
  std::vector<std::int64_t> raw(static_cast<std::size_t>(shard->rows.size()));
  h5::ReadRows(dataset, shard->rows.begin, shard->rows.size(), H5T_NATIVE_INT64, raw.data(),
               context);
  shard->labels.resize(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] < 0 || raw[i] > INT32_MAX) {
      throw UserError(StrCat(context, ": row ", shard->rows.begin + static_cast<std::int64_t>(i),
                             " has label ", raw[i], "; labels must be class indices 0..K-1"));
    }
    shard->labels[i] = static_cast<Label>(raw[i]);
  }
}

}  // namespace

RowBlock Shard::Block(std::int64_t local_begin, std::int64_t count) const {
  if (!has_labels()) {
    return RowBlock{
        Eigen::Map<const FeatureMatrix>(features.data() + local_begin * feature_count, count,
                                        feature_count),
        std::span<const Label>()};
  }
  return MakeRowBlock(features.data() + local_begin * feature_count,
                      labels.data() + local_begin, count, feature_count);
}

void Shard::ForEachBlock(const std::function<void(const RowBlock&)>& visit) const {
  std::int64_t global = rows.begin;
  while (global < rows.end) {
    const std::int64_t block_end = std::min(rows.end, (global / kBlockRows + 1) * kBlockRows);
    visit(Block(global - rows.begin, block_end - global));
    global = block_end;
  }
}

Shard ReadShard(const Communicator& comm, const std::string& path, const DatasetLayout& layout,
                ShardLabels labels_to_read) {
  // Every rank checks the file first: a collective open on a file some rank cannot see would hang.
  RunAndAgree(comm, [&] { CheckReadable(path); });

  Shard shard;
  shard.path = path;
  RunAndAgree(comm, [&] {
    const std::string file_context = "data file '" + path + "'";
    h5::Handle file = h5::OpenFileForReading(path, &comm);
    const std::string features_context = file_context + ", dataset '" + layout.features + "'";
    const std::string labels_context = file_context + ", dataset '" + layout.labels + "'";
    h5::Handle features = h5::OpenDataset(file, layout.features, file_context);
    const bool reads_labels = labels_to_read == ShardLabels::kRead;
    h5::Handle labels;
    if (reads_labels) labels = h5::OpenDataset(file, layout.labels, file_context);

    const auto feature_dims = h5::DatasetDims(features, features_context);
    if (feature_dims.size() != 2) {
      throw UserError(StrCat(features_context, ": must be 2-D (rows x features), found ",
                             feature_dims.size(), "-D"));
    }
    shard.feature_type = h5::DescribeType(features);
    if (shard.feature_type != "float32" && shard.feature_type != "float64" &&
        shard.feature_type != "uint8") {
      throw UserError(features_context + ": element type " + shard.feature_type +
                      " is not supported (float32, float64 or uint8)");
    }
    shard.total_rows = static_cast<std::int64_t>(feature_dims[0]);
    shard.feature_count = static_cast<std::int64_t>(feature_dims[1]);
    if (reads_labels) {
      const auto label_dims = h5::DatasetDims(labels, labels_context);
      if (label_dims.size() != 1) {
        throw UserError(StrCat(labels_context, ": must be 1-D (one label per row), found ",
                               label_dims.size(), "-D"));
      }
      if (!h5::IsIntegerType(labels)) {
        throw UserError(labels_context + ": labels must be integers, found " +
                        h5::DescribeType(labels));
      }
      if (static_cast<std::int64_t>(label_dims[0]) != shard.total_rows) {
        throw UserError(StrCat(file_context, ": '", layout.features, "' has ", shard.total_rows,
                               " rows but '", layout.labels, "' has ", label_dims[0]));
      }
    }
    if (shard.total_rows == 0) throw UserError(features_context + ": has 0 rows");
    if (shard.feature_count == 0) throw UserError(features_context + ": has 0 features");
    if (shard.total_rows < comm.size()) {
      throw UserError(StrCat(file_context, ": has ", shard.total_rows, " rows, fewer than the ",
                             comm.size(), " ranks; run with at most ", shard.total_rows,
                             " ranks"));
    }
    shard.rows = ShardRows(shard.total_rows, comm.size(), comm.rank());
    ReadFeatures(features, features_context, &shard);
    if (reads_labels) ReadLabels(labels, labels_context, &shard);
    if (h5::HasObject(file, "label_values")) {
      shard.classes.label_values = h5::ReadInts(file, "label_values", file_context);
    }
    if (h5::HasObject(file, "class_names")) {
      shard.classes.class_names = h5::ReadStrings(file, "class_names", file_context);
    }
  });
  return shard;
}

std::int64_t CountClasses(const Communicator& comm, const Shard& shard) {
  Label largest = 0;
  for (Label label : shard.labels) largest = std::max(largest, label);
  return AllreduceMax(comm, static_cast<std::int64_t>(largest)) + 1;
}

void CheckLabelsBelow(const Communicator& comm, const Shard& shard, const DatasetLayout& layout,
                      std::int64_t classes, const std::string& classes_source) {
  RunAndAgree(comm, [&] {
    for (std::size_t i = 0; i < shard.labels.size(); ++i) {
      if (shard.labels[i] < classes) continue;
      throw UserError(StrCat("data file '", shard.path, "', dataset '", layout.labels, "': row ",
                             shard.rows.begin + static_cast<std::int64_t>(i), " has label ",
                             shard.labels[i], ", not below the number of classes ", classes,
                             " (", classes_source, ")"));
    }
  });
}

}  // namespace shardmax
