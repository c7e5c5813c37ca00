#include "io/sparse_reader.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {
namespace {

// Entries read per H5Dread call, so the conversion buffer stays small.
constexpr std::int64_t kReadEntries = std::int64_t{1} << 20;

std::vector<std::int64_t> ReadShape(const h5::Handle& file, const std::string& name,
                                    const std::string& context) {
  h5::ErrorPrintingOff quiet;
  const std::string what = context + ": attribute '" + kSparseShapeAttribute + "'";
  if (H5Aexists_by_name(file.get(), name.c_str(), kSparseShapeAttribute, H5P_DEFAULT) <= 0) {
    throw UserError(what + " ([rows, features]) is missing");
  }
  h5::Handle attribute(h5::CheckId(H5Aopen_by_name(file.get(), name.c_str(), kSparseShapeAttribute,
                                                   H5P_DEFAULT, H5P_DEFAULT),
                                   what),
                       H5Aclose);
  h5::Handle space(h5::CheckId(H5Aget_space(attribute.get()), what), H5Sclose);
  h5::Handle type(h5::CheckId(H5Aget_type(attribute.get()), what), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 2) {
    throw UserError(what + ": must be two integers [rows, features]");
  }
  std::vector<std::int64_t> shape(2);
  h5::Check(H5Aread(attribute.get(), H5T_NATIVE_INT64, shape.data()), what);
  return shape;
}

// The dataset `name`/`member` must be 1-D; returns its length.
std::int64_t Length1D(const h5::Handle& dataset, const std::string& context) {
  const auto dims = h5::DatasetDims(dataset, context);
  if (dims.size() != 1) {
    throw UserError(StrCat(context, ": must be 1-D, found ", dims.size(), "-D"));
  }
  return static_cast<std::int64_t>(dims[0]);
}

}  // namespace

bool IsSparseFeatures(const h5::Handle& file, const std::string& name) {
  if (!h5::HasObject(file, name)) return false;
  h5::ErrorPrintingOff quiet;
  const hid_t object = H5Oopen(file.get(), name.c_str(), H5P_DEFAULT);
  if (object < 0) return false;
  const h5::Handle owner(object, H5Oclose);
  return H5Iget_type(object) == H5I_GROUP;
}

SparseFeaturesSource OpenSparseFeatures(const h5::Handle& file, const std::string& name,
                                        const std::string& context) {
  SparseFeaturesSource source;
  const std::vector<std::int64_t> shape = ReadShape(file, name, context);
  source.rows = shape[0];
  source.features = shape[1];
  // Below h5::kMaxDatasetValues, as every row count read from a dataset's shape.
  if (source.rows < 1 || static_cast<std::uint64_t>(source.rows) > h5::kMaxDatasetValues) {
    throw UserError(StrCat(context, ": has ", source.rows, " rows"));
  }
  if (source.features < 1 || source.features > INT32_MAX) {
    throw UserError(StrCat(context, ": has ", source.features,
                           " features; sparse data holds 1 to 2^31 - 1"));
  }
  const auto member = [&](const char* dataset) {
    return context + ", dataset '" + dataset + "'";
  };
  source.data = h5::OpenDataset(file, name + "/data", context);
  source.indices = h5::OpenDataset(file, name + "/indices", context);
  source.indptr = h5::OpenDataset(file, name + "/indptr", context);
  source.nonzeros = Length1D(source.data, member("data"));
  if (!h5::IsNumericType(source.data)) {
    throw UserError(member("data") + ": values must be numbers, found " +
                    h5::DescribeType(source.data));
  }
  source.value_type = h5::DescribeType(source.data);
  const std::int64_t indices = Length1D(source.indices, member("indices"));
  if (!h5::IsIntegerType(source.indices)) {
    throw UserError(member("indices") + ": column indices must be integers, found " +
                    h5::DescribeType(source.indices));
  }
  if (indices != source.nonzeros) {
    throw UserError(StrCat(context, ": 'data' has ", source.nonzeros, " values but 'indices' has ",
                           indices));
  }
  const std::int64_t offsets = Length1D(source.indptr, member("indptr"));
  if (!h5::IsIntegerType(source.indptr)) {
    throw UserError(member("indptr") + ": row offsets must be integers, found " +
                    h5::DescribeType(source.indptr));
  }
  if (offsets != source.rows + 1) {
    throw UserError(StrCat(member("indptr"), ": has ", offsets, " entries; ", source.rows,
                           " rows need ", source.rows + 1));
  }
  return source;
}

SparseMatrix ReadSparseRows(const SparseFeaturesSource& source, RowRange rows,
                            const std::string& context) {
  const std::string indptr_context = context + ", dataset 'indptr'";
  SparseMatrix matrix;
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(rows.size() + 1));
  h5::ReadRows(source.indptr, rows.begin, rows.size() + 1, H5T_NATIVE_INT64, offsets.data(),
               indptr_context);
  if (rows.begin == 0 && offsets[0] != 0) {
    throw UserError(StrCat(indptr_context, ": starts at ", offsets[0], ", not 0"));
  }
  for (std::int64_t i = 0; i <= rows.size(); ++i) {
    const std::int64_t offset = offsets[static_cast<std::size_t>(i)];
    const std::int64_t row = rows.begin + i;  // the row this entry starts (or N: the end)
    if (offset < 0 || offset > source.nonzeros) {
      throw UserError(StrCat(indptr_context, ": entry ", row, " is ", offset,
                             ", outside 0..nnz = ", source.nonzeros));
    }
    if (i > 0 && offset < offsets[static_cast<std::size_t>(i - 1)]) {
      throw UserError(StrCat(indptr_context, ": row ", row - 1, " ends at ", offset,
                             " before it starts at ", offsets[static_cast<std::size_t>(i - 1)],
                             "; offsets must not decrease"));
    }
  }
  if (rows.end == source.rows && offsets.back() != source.nonzeros) {
    throw UserError(StrCat(indptr_context, ": ends at ", offsets.back(), ", not at nnz = ",
                           source.nonzeros, " (the length of 'data' and 'indices')"));
  }

  const std::int64_t first = offsets.front();
  const std::int64_t count = offsets.back() - first;
  matrix.offsets.resize(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) matrix.offsets[i] = offsets[i] - first;
  matrix.columns.resize(static_cast<std::size_t>(count));
  matrix.values.resize(static_cast<std::size_t>(count));
  h5::ReadRows(source.data, first, count, H5T_NATIVE_FLOAT, matrix.values.data(),
               context + ", dataset 'data'");
  std::vector<std::int64_t> columns;
  for (std::int64_t done = 0; done < count; done += kReadEntries) {
    const std::int64_t chunk = std::min(kReadEntries, count - done);
    columns.resize(static_cast<std::size_t>(chunk));
    h5::ReadRows(source.indices, first + done, chunk, H5T_NATIVE_INT64, columns.data(),
                 context + ", dataset 'indices'");
    for (std::int64_t e = 0; e < chunk; ++e) {
      matrix.columns[static_cast<std::size_t>(done + e)] =
          static_cast<std::int32_t>(std::clamp<std::int64_t>(columns[static_cast<std::size_t>(e)],
                                                              -1, INT32_MAX));
    }
  }
  // Every entry checked in row order, so the message names the first bad row.
  const SparseRows view = matrix.View();
  for (std::int64_t i = 0; i < view.rows(); ++i) {
    const std::int64_t row = rows.begin + i;
    for (std::int64_t e = view.RowBegin(i); e < view.RowEnd(i); ++e) {
      const auto at = static_cast<std::size_t>(e);
      const std::int64_t column = view.columns[at];
      if (column < 0 || column >= source.features) {
        throw UserError(StrCat(context, ", dataset 'indices': row ", row, " has column ",
                               column < 0 ? "below 0" : StrCat(column),
                               ", outside 0..D-1 (D = ", source.features, ")"));
      }
      if (e > view.RowBegin(i) && column <= view.columns[at - 1]) {
        throw UserError(StrCat(context, ", dataset 'indices': row ", row, " has column ", column,
                               " after column ", view.columns[at - 1],
                               column == view.columns[at - 1] ? " (a duplicate)" : "",
                               "; columns must increase strictly within a row"));
      }
      if (!std::isfinite(view.values[at])) {
        throw UserError(StrCat(context, ", dataset 'data': row ", row, ", column ", column, " is ",
                               std::isnan(view.values[at]) ? "NaN" : "infinite or beyond float32"));
      }
    }
  }
  return matrix;
}

}  // namespace shardmax
