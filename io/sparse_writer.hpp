// Writes sparse features in the CSR layout that io/sparse_reader.hpp reads: a group with 1-D
// `data` (float32), `indices` (int32) and `indptr` (int64, N + 1) and the attributes `shape`
// = [N, D] and `encoding-type` = "csr_matrix". Rows are appended one at a time and written a
// chunk of entries at a time into extendible datasets, so N and the non-zero count need not be
// known in advance and memory stays bounded.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/hdf5_file.hpp"

namespace shardmax {

class SparseFeaturesWriter {
 public:
  // Entries buffered (and chunked) per write.
  static constexpr std::int64_t kDefaultChunkEntries = std::int64_t{1} << 16;

  // Creates group `name` in `file` for rows of `features` (D) columns.
  SparseFeaturesWriter(const h5::Handle& file, const std::string& name, std::int64_t features,
                       const std::string& context,
                       std::int64_t chunk_entries = kDefaultChunkEntries,
                       const h5::Storage& compression = {});

  // One row: columns strictly increasing in [0, D) (std::logic_error otherwise), values
  // finite. Zero values are kept as given.
  void AddRow(std::span<const std::int64_t> columns, std::span<const float> values);
  // Writes what is buffered, the last row offset and the attributes.
  void Finish();

  std::int64_t rows() const { return rows_; }
  std::int64_t nonzeros() const { return written_ + std::ssize(columns_); }

 private:
  void WriteEntries();
  void WriteOffsets();

  const h5::Handle& file_;
  std::string name_;
  std::int64_t features_;
  std::string context_;
  std::int64_t chunk_entries_;
  h5::Handle data_;
  h5::Handle indices_;
  h5::Handle indptr_;
  std::vector<float> values_;
  std::vector<std::int32_t> columns_;
  std::vector<std::int64_t> offsets_;  // buffered indptr entries
  std::int64_t written_ = 0;           // entries already in the file
  std::int64_t offsets_written_ = 0;
  std::int64_t rows_ = 0;
};

}  // namespace shardmax
