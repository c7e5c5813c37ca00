// Reads one rank's rows of sparse features stored in the CSR layout (README.md, "Sparse
// data"): the features object is a group holding 1-D `data` (values), `indices` (the column of
// each value, integers) and `indptr` (N + 1 row offsets, integers), with an integer attribute
// `shape` = [N, D]; the convention of scipy.sparse and anndata. A rank reads only the `indptr`
// entries of its rows and the ranges of `data` and `indices` they point to.
#pragma once

#include <cstdint>
#include <string>

#include "common/sparse_rows.hpp"
#include "io/hdf5_file.hpp"
#include "io/shard.hpp"

namespace shardmax {

// The name of the group attribute holding [N, D], and of the one naming the encoding.
inline constexpr const char* kSparseShapeAttribute = "shape";
inline constexpr const char* kSparseEncodingAttribute = "encoding-type";
inline constexpr const char* kSparseEncoding = "csr_matrix";

// True when `name` in the file is a group (the sparse layout) rather than a dataset.
bool IsSparseFeatures(const h5::Handle& file, const std::string& name);

// The open datasets of a sparse features group and its checked shape.
struct SparseFeaturesSource {
  h5::Handle data;
  h5::Handle indices;
  h5::Handle indptr;
  std::int64_t rows = 0;      // N
  std::int64_t features = 0;  // D
  std::int64_t nonzeros = 0;  // entries of data and indices
  std::string value_type;     // of `data` as stored: "float32", "float64", ...
};

// Opens group `name` and checks its shape: `shape` two integers N >= 1, 1 <= D < 2^31;
// 1-D numeric `data` and integer `indices` of equal length; 1-D integer `indptr` of N + 1.
// `context` names the file and the group in every message.
SparseFeaturesSource OpenSparseFeatures(const h5::Handle& file, const std::string& name,
                                        const std::string& context);

// Rows `rows` of the source, checked: indptr starts at 0, never decreases and ends at nnz;
// every column in [0, D) and strictly increasing within its row (duplicates are refused);
// every value finite. A violation is a UserError naming the row.
SparseMatrix ReadSparseRows(const SparseFeaturesSource& source, RowRange rows,
                            const std::string& context);

}  // namespace shardmax
