// Sparse rows in compressed sparse row (CSR) form: the in-memory side of the sparse data
// layout (README.md, "Sparse data"). Row i holds the entries [offsets[i], offsets[i+1]) of
// `columns` and `values`, columns strictly increasing within a row.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shardmax {

// A view of consecutive CSR rows. offsets has rows + 1 entries; they index columns and values
// relative to offsets[0], so a view of rows in the middle of a matrix needs no copy.
struct SparseRows {
  std::span<const std::int64_t> offsets;
  std::span<const std::int32_t> columns;
  std::span<const float> values;

  bool is_sparse() const { return !offsets.empty(); }
  std::int64_t rows() const { return offsets.empty() ? 0 : std::ssize(offsets) - 1; }
  std::int64_t RowBegin(std::int64_t row) const { return offsets[Index(row)] - offsets[0]; }
  std::int64_t RowEnd(std::int64_t row) const { return offsets[Index(row) + 1] - offsets[0]; }

 private:
  static std::size_t Index(std::int64_t row) { return static_cast<std::size_t>(row); }
};

// Owns CSR rows (a shard's, or a gathered batch's). Column indices are int32: D < 2^31.
struct SparseMatrix {
  std::vector<std::int64_t> offsets{0};  // rows + 1, from 0
  std::vector<std::int32_t> columns;
  std::vector<float> values;

  std::int64_t rows() const { return std::ssize(offsets) - 1; }
  std::int64_t nonzeros() const { return offsets.back(); }
  void Clear() {
    offsets.assign(1, 0);
    columns.clear();
    values.clear();
  }
  // Rows [first, first + count) as a view.
  SparseRows Rows(std::int64_t first, std::int64_t count) const {
    const auto begin = static_cast<std::size_t>(offsets[static_cast<std::size_t>(first)]);
    const auto end = static_cast<std::size_t>(offsets[static_cast<std::size_t>(first + count)]);
    return SparseRows{std::span(offsets).subspan(static_cast<std::size_t>(first),
                                                 static_cast<std::size_t>(count + 1)),
                      std::span(columns).subspan(begin, end - begin),
                      std::span(values).subspan(begin, end - begin)};
  }
  SparseRows View() const { return Rows(0, rows()); }
  // Appends row `row` of `from`.
  void AppendRow(const SparseRows& from, std::int64_t row) {
    const auto begin = static_cast<std::size_t>(from.RowBegin(row));
    const auto end = static_cast<std::size_t>(from.RowEnd(row));
    columns.insert(columns.end(), from.columns.begin() + static_cast<std::ptrdiff_t>(begin),
                   from.columns.begin() + static_cast<std::ptrdiff_t>(end));
    values.insert(values.end(), from.values.begin() + static_cast<std::ptrdiff_t>(begin),
                  from.values.begin() + static_cast<std::ptrdiff_t>(end));
    offsets.push_back(static_cast<std::int64_t>(columns.size()));
  }
};

}  // namespace shardmax
