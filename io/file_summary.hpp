// What is inside an HDF5 file, for `shardmax inspect` and for tests: every dataset with its
// shape, type and storage, attributes as text, and for a data file in the documented layout
// its class counts and value range, read a block of rows at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "io/hdf5_file.hpp"
#include "io/model_file.hpp"

namespace shardmax {

struct DatasetInfo {
  std::string path;  // "/features"
  std::vector<std::int64_t> dims;
  std::string type;                  // as h5::DescribeType names it: "uint8", "string", ...
  std::vector<std::int64_t> chunk;   // empty when not chunked
  std::vector<std::string> filters;  // in pipeline order: "shuffle", "gzip level 4", ...
};

// `path` names a dataset in `file`.
DatasetInfo DescribeDataset(const h5::Handle& file, const std::string& path,
                            const std::string& context);

// Every dataset in the file, in all groups, in name order.
std::vector<DatasetInfo> ListDatasets(const h5::Handle& file, const std::string& context);

struct AttributeText {
  std::string name;
  std::string value;  // 42, 0.1, "text", [1, 2, 3]
};

// The attributes of the group or dataset `object` ("/" for the root), in name order.
std::vector<AttributeText> ListAttributes(const h5::Handle& file, const std::string& object,
                                          const std::string& context);

struct DataSummary {
  std::int64_t rows = 0;
  std::int64_t features = 0;
  std::string feature_type;
  std::map<std::int64_t, std::int64_t> label_counts;  // stored label -> rows holding it
  // 2-D (multi-label) labels: K columns, and label_counts holds column k -> rows with it on.
  std::int64_t label_columns = 0;
  std::int64_t invalid_targets = 0;  // 2-D entries other than 0 and 1, which training refuses
  ClassInfo classes;                                  // `label_values`, `class_names` if present
  // Over every finite feature value as stored (uint8 as 0..255).
  double min = 0.0;
  double max = 0.0;
  double mean = 0.0;
  std::int64_t non_finite = 0;  // NaN and infinite values, which training refuses
  // Sparse features (io/sparse_reader.hpp): the stored entries, and min, max, mean and
  // non_finite are over them only; -1 for dense features.
  std::int64_t nonzeros = -1;
};

// Reads the features and labels of `layout` a block of rows at a time. Throws a UserError
// naming `context` and the dataset if they do not have a data file's shapes and types.
DataSummary SummarizeData(const h5::Handle& file, const DatasetLayout& layout,
                          const std::string& context);

}  // namespace shardmax
