#include "io/file_summary.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/sparse_reader.hpp"

namespace shardmax {
namespace {

// Values read per block when summarizing: bounded whatever the width of the rows.
constexpr std::int64_t kSummaryBlockValues = std::int64_t{1} << 22;
// Attribute arrays longer than this are shown shortened.
constexpr std::size_t kShownAttributeValues = 8;

std::string ShortestText(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

std::vector<std::string> FilterNames(hid_t creation, const std::string& context) {
  std::vector<std::string> names;
  const int count = H5Pget_nfilters(creation);
  for (int i = 0; i < count; ++i) {
    unsigned flags = 0;
    unsigned config = 0;
    unsigned parameters[8] = {};
    std::size_t parameter_count = 8;
    char name[64] = {};
    const H5Z_filter_t filter =
        H5Pget_filter2(creation, static_cast<unsigned>(i), &flags, &parameter_count, parameters,
                       sizeof name, name, &config);
    h5::Check(filter, context + ": reading the filter pipeline");
    if (filter == H5Z_FILTER_DEFLATE && parameter_count >= 1) {
      names.push_back(StrCat("gzip level ", parameters[0]));
    } else if (filter == H5Z_FILTER_SHUFFLE) {
      names.push_back("shuffle");
    } else if (filter == H5Z_FILTER_FLETCHER32) {
      names.push_back("fletcher32");
    } else {
      names.push_back(name[0] != '\0' ? std::string(name) : StrCat("filter ", filter));
    }
  }
  return names;
}

// The chunk shape of a chunked dataset; empty for contiguous or compact storage.
std::vector<std::int64_t> ChunkDims(hid_t creation, std::size_t rank, const std::string& context) {
  std::vector<std::int64_t> dims;
  if (H5Pget_layout(creation) != H5D_CHUNKED) return dims;
  std::vector<hsize_t> chunk(std::max<std::size_t>(rank, 1));
  const int chunk_rank = H5Pget_chunk(creation, static_cast<int>(chunk.size()), chunk.data());
  h5::Check(chunk_rank, context + ": reading the chunk shape");
  for (int i = 0; i < chunk_rank; ++i) dims.push_back(static_cast<std::int64_t>(chunk[i]));
  return dims;
}

h5::Handle CreationProperties(const h5::Handle& dataset, const std::string& context) {
  h5::ErrorPrintingOff quiet;
  return h5::Handle(h5::CheckId(H5Dget_create_plist(dataset.get()), context), H5Pclose);
}

herr_t CollectDatasetPath(hid_t group, const char* name, const H5L_info_t* info, void* paths) {
  if (info->type != H5L_TYPE_HARD) return 0;
  const hid_t object = H5Oopen(group, name, H5P_DEFAULT);
  if (object < 0) return -1;
  if (H5Iget_type(object) == H5I_DATASET) {
    static_cast<std::vector<std::string>*>(paths)->push_back(std::string("/") + name);
  }
  H5Oclose(object);
  return 0;
}

herr_t CollectAttributeName(hid_t /*object*/, const char* name, const H5A_info_t* /*info*/,
                            void* names) {
  static_cast<std::vector<std::string>*>(names)->push_back(name);
  return 0;
}

std::vector<std::string> ReadStringValues(hid_t attribute, hid_t file_type, std::size_t count,
                                          const std::string& what) {
  h5::Handle memory_type(h5::CheckId(H5Tcopy(file_type), what), H5Tclose);
  std::vector<std::string> values;
  if (H5Tis_variable_str(file_type) > 0) {
    std::vector<char*> pointers(count, nullptr);
    h5::Check(H5Aread(attribute, memory_type.get(), pointers.data()), what);
    for (char* pointer : pointers) {
      values.emplace_back(pointer != nullptr ? pointer : "");
      H5free_memory(pointer);
    }
    return values;
  }
  const std::size_t size = H5Tget_size(file_type);
  std::vector<char> buffer(count * size);
  h5::Check(H5Aread(attribute, memory_type.get(), buffer.data()), what);
  for (std::size_t i = 0; i < count; ++i) {
    const char* start = buffer.data() + i * size;
    values.emplace_back(start, std::find(start, start + size, '\0'));
  }
  return values;
}

std::string AttributeValueText(const h5::Handle& object, const std::string& name,
                               const std::string& context) {
  const std::string what = context + ": attribute '" + name + "'";
  h5::Handle attribute(h5::CheckId(H5Aopen(object.get(), name.c_str(), H5P_DEFAULT), what),
                       H5Aclose);
  h5::Handle type(h5::CheckId(H5Aget_type(attribute.get()), what), H5Tclose);
  h5::Handle space(h5::CheckId(H5Aget_space(attribute.get()), what), H5Sclose);
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  const bool is_scalar = H5Sget_simple_extent_type(space.get()) == H5S_SCALAR;
  const auto count = static_cast<std::size_t>(std::max<hssize_t>(points, 0));
  std::vector<std::string> values;
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: {
      std::vector<std::int64_t> numbers(count);
      if (count > 0) h5::Check(H5Aread(attribute.get(), H5T_NATIVE_INT64, numbers.data()), what);
      for (const std::int64_t number : numbers) values.push_back(std::to_string(number));
      break;
    }
    case H5T_FLOAT: {
      std::vector<double> numbers(count);
      if (count > 0) h5::Check(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, numbers.data()), what);
      for (const double number : numbers) values.push_back(ShortestText(number));
      break;
    }
    case H5T_STRING:
      for (const std::string& text :
           count > 0 ? ReadStringValues(attribute.get(), type.get(), count, what)
                     : std::vector<std::string>{}) {
        values.push_back("\"" + text + "\"");
      }
      break;
    default:
      return "(a value of an unsupported type)";
  }
  if (is_scalar && values.size() == 1) return values[0];
  std::string text = "[";
  for (std::size_t i = 0; i < std::min(values.size(), kShownAttributeValues); ++i) {
    text += (i > 0 ? ", " : "") + values[i];
  }
  if (values.size() > kShownAttributeValues) text += StrCat(", ... (", values.size(), " values)");
  return text + "]";
}

}  // namespace

DatasetInfo DescribeDataset(const h5::Handle& file, const std::string& path,
                            const std::string& context) {
  h5::Handle dataset = h5::OpenDataset(file, path, context);
  const std::string what = context + ", dataset '" + path + "'";
  h5::ErrorPrintingOff quiet;
  DatasetInfo info;
  info.path = path;
  for (const hsize_t size : h5::DatasetDims(dataset, what)) {
    info.dims.push_back(static_cast<std::int64_t>(size));
  }
  info.type = h5::DescribeType(dataset);
  const h5::Handle creation = CreationProperties(dataset, what);
  info.chunk = ChunkDims(creation.get(), info.dims.size(), what);
  info.filters = FilterNames(creation.get(), what);
  return info;
}

std::vector<DatasetInfo> ListDatasets(const h5::Handle& file, const std::string& context) {
  std::vector<std::string> paths;
  {
    h5::ErrorPrintingOff quiet;
    h5::Check(H5Lvisit(file.get(), H5_INDEX_NAME, H5_ITER_INC, CollectDatasetPath, &paths),
              context + ": listing the datasets");
  }
  std::sort(paths.begin(), paths.end());
  std::vector<DatasetInfo> datasets;
  for (const std::string& path : paths) datasets.push_back(DescribeDataset(file, path, context));
  return datasets;
}

std::vector<AttributeText> ListAttributes(const h5::Handle& file, const std::string& object,
                                          const std::string& context) {
  h5::ErrorPrintingOff quiet;
  h5::Handle opened(h5::CheckId(H5Oopen(file.get(), object.c_str(), H5P_DEFAULT),
                                context + ": cannot open '" + object + "'"),
                    H5Oclose);
  std::vector<std::string> names;
  hsize_t position = 0;
  h5::Check(H5Aiterate2(opened.get(), H5_INDEX_NAME, H5_ITER_INC, &position, CollectAttributeName,
                        &names),
            context + ": listing the attributes of '" + object + "'");
  std::vector<AttributeText> attributes;
  for (const std::string& name : names) {
    attributes.push_back({name, AttributeValueText(opened, name, context)});
  }
  return attributes;
}

DataSummary SummarizeData(const h5::Handle& file, const DatasetLayout& layout,
                          const std::string& context) {
  const std::string features_context = context + ", dataset '" + layout.features + "'";
  const std::string labels_context = context + ", dataset '" + layout.labels + "'";
  // Sparse features: the shape from the group, the value range from `data` (below).
  const bool is_sparse = IsSparseFeatures(file, layout.features);
  std::optional<SparseFeaturesSource> sparse;
  h5::Handle features;
  std::vector<hsize_t> feature_dims;
  if (is_sparse) {
    sparse = OpenSparseFeatures(file, layout.features,
                                context + ", sparse features '" + layout.features + "'");
    feature_dims = {static_cast<hsize_t>(sparse->rows), static_cast<hsize_t>(sparse->features)};
  } else {
    features = h5::OpenDataset(file, layout.features, context);
    feature_dims = h5::DatasetDims(features, features_context);
  }
  h5::Handle labels = h5::OpenDataset(file, layout.labels, context);
  const auto label_dims = h5::DatasetDims(labels, labels_context);
  if (feature_dims.size() != 2) {
    throw UserError(StrCat(features_context, ": must be 2-D (rows x features), found ",
                           feature_dims.size(), "-D"));
  }
  const bool multi_label = label_dims.size() == 2 && h5::IsNumericType(labels);
  if (!multi_label && (label_dims.size() != 1 || !h5::IsIntegerType(labels))) {
    throw UserError(StrCat(labels_context, ": must be 1-D integers or a 2-D 0/1 matrix, found ",
                           label_dims.size(), "-D ", h5::DescribeType(labels)));
  }
  DataSummary summary;
  if (multi_label) summary.label_columns = static_cast<std::int64_t>(label_dims[1]);
  const std::int64_t label_values_per_row = std::max<std::int64_t>(summary.label_columns, 1);
  summary.rows = static_cast<std::int64_t>(feature_dims[0]);
  summary.features = static_cast<std::int64_t>(feature_dims[1]);
  summary.feature_type = is_sparse ? sparse->value_type : h5::DescribeType(features);
  if (static_cast<std::int64_t>(label_dims[0]) != summary.rows) {
    throw UserError(StrCat(context, ": '", layout.features, "' has ", summary.rows, " rows but '",
                           layout.labels, "' has ", label_dims[0]));
  }

  // Whole chunks per read where the data is chunked: a compressed chunk read in parts would be
  // decompressed once per part.
  const std::int64_t row_values = is_sparse ? 1 : std::max<std::int64_t>(summary.features, 1);
  std::int64_t block_rows = std::max<std::int64_t>(1, kSummaryBlockValues / row_values);
  const std::vector<std::int64_t> chunk =
      is_sparse ? std::vector<std::int64_t>()
                : ChunkDims(CreationProperties(features, features_context).get(), 2,
                            features_context);
  if (!chunk.empty()) block_rows = chunk[0] * std::max<std::int64_t>(1, block_rows / chunk[0]);
  std::vector<double> values;
  std::vector<double> block_labels;
  double sum = 0.0;
  std::int64_t finite = 0;
  summary.min = std::numeric_limits<double>::infinity();
  summary.max = -std::numeric_limits<double>::infinity();
  const auto add_values = [&] {
    for (const double value : values) {
      if (!std::isfinite(value)) {
        ++summary.non_finite;
        continue;
      }
      summary.min = std::min(summary.min, value);
      summary.max = std::max(summary.max, value);
      sum += value;
      ++finite;
    }
  };
  if (is_sparse) {
    summary.nonzeros = sparse->nonzeros;
    for (std::int64_t first = 0; first < sparse->nonzeros; first += kSummaryBlockValues) {
      const std::int64_t count = std::min(kSummaryBlockValues, sparse->nonzeros - first);
      values.resize(static_cast<std::size_t>(count));
      h5::ReadRows(sparse->data, first, count, H5T_NATIVE_DOUBLE, values.data(),
                   features_context + "/data");
      add_values();
    }
  }
  for (std::int64_t first = 0; first < summary.rows; first += block_rows) {
    const std::int64_t count = std::min(block_rows, summary.rows - first);
    block_labels.resize(static_cast<std::size_t>(count * label_values_per_row));
    if (!is_sparse) {
      values.resize(static_cast<std::size_t>(count * summary.features));
      h5::ReadRows(features, first, count, H5T_NATIVE_DOUBLE, values.data(), features_context);
      add_values();
    }
    h5::ReadRows(labels, first, count, H5T_NATIVE_DOUBLE, block_labels.data(), labels_context);
    if (!multi_label) {
      for (const double label : block_labels) {
        ++summary.label_counts[static_cast<std::int64_t>(label)];
      }
      continue;
    }
    for (std::size_t i = 0; i < block_labels.size(); ++i) {
      const auto column = static_cast<std::int64_t>(i) % summary.label_columns;
      summary.label_counts[column] += block_labels[i] == 1.0 ? 1 : 0;
      summary.invalid_targets += block_labels[i] != 0.0 && block_labels[i] != 1.0 ? 1 : 0;
    }
  }
  if (finite > 0) {
    summary.mean = sum / static_cast<double>(finite);
  } else {
    summary.min = summary.max = summary.mean = std::numeric_limits<double>::quiet_NaN();
  }
  if (h5::HasObject(file, "label_values")) {
    summary.classes.label_values = h5::ReadInts(file, "label_values", context);
  }
  if (h5::HasObject(file, "class_names")) {
    summary.classes.class_names = h5::ReadStrings(file, "class_names", context);
  }
  return summary;
}

}  // namespace shardmax
