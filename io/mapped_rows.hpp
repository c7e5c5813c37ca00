// Rows of a 2-D HDF5 dataset read where they lie: the file mapped read-only, so a streamed
// pass reads a chunk's rows straight from the page cache instead of having HDF5 copy them into
// a buffer first (the copy was a fifth of a float32 pass on a rank's one core: README,
// "Streaming"). Only rows stored as the kernel reads them qualify: an unfiltered contiguous
// dataset, or unfiltered chunks that span every column, of the memory type itself (float32 or
// uint8 in this machine's byte order), at an address aligned for it. Anything else (compressed,
// float64, big-endian, external storage, a block of rows across two chunks, a damaged chunk
// index) is read through HDF5 as before, whose checks then name what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/hdf5_file.hpp"

namespace shardmax {

// Where a dataset's rows lie in its file.
struct MappedRowsLayout {
  std::int64_t total_rows = 0;
  std::int64_t row_bytes = 0;
  std::int64_t alignment = 1;          // of the values: a row must start at a multiple of it
  std::int64_t contiguous_offset = -1;  // contiguous: the rows' offset from the file's start
  std::int64_t chunk_rows = 0;          // chunked: rows per chunk, whose addresses count
  std::int64_t base_offset = 0;         // from this offset (the user block)
};

// The features of one data file, mapped; the file stays mapped while the object lives (one
// streamed pass or epoch). A page-in failure (an I/O error, a file truncated under the run) is
// reported by the kernel as an error of MADV_POPULATE_READ, not as a SIGBUS: mapping is used
// only where the kernel has it (Linux 5.14 and later).
class MappedRows {
 public:
  // Null when the dataset's rows cannot be read in place. `memory_type`: H5T_NATIVE_FLOAT or
  // H5T_NATIVE_UINT8, what the caller would read them as. Calls HDF5 (under h5::LockLibrary()
  // where a reader thread runs).
  static std::unique_ptr<MappedRows> Open(const std::string& path, const h5::Handle& file,
                                          const h5::Handle& dataset, hid_t memory_type,
                                          const std::string& context);
  // Why Open would return null for this dataset ("" when it would not, unless the kernel or
  // the mapping itself fails), for the log.
  static std::string WhyNotInPlace(const h5::Handle& file, const h5::Handle& dataset,
                                   hid_t memory_type);

  ~MappedRows();
  MappedRows(const MappedRows&) = delete;
  MappedRows& operator=(const MappedRows&) = delete;

  // Rows [first_row, first_row + rows) where they lie in the mapping, or null when they are not
  // stored there in one aligned piece: the caller then reads them through HDF5. Calls HDF5 for
  // a chunked dataset's index (under h5::LockLibrary() where a reader thread runs).
  const std::byte* Locate(std::int64_t first_row, std::int64_t rows);
  // Consecutive rows where they lie: from global row first_row, `rows` rows at `data`.
  struct Piece {
    std::int64_t first_row = 0;
    std::int64_t rows = 0;
    const std::byte* data = nullptr;
  };
  // Rows [first_row, first_row + rows) located in pieces, one per HDF5 chunk they span (one
  // for a contiguous dataset). Empty when a piece cannot be located, or when a piece after the
  // first would start elsewhere than at a global multiple of cut_rows: the caller cuts its rows
  // there (blocks) and needs each cut within one piece.
  std::vector<Piece> LocatePieces(std::int64_t first_row, std::int64_t rows,
                                  std::int64_t cut_rows);
  // Bytes past a cache line (64 bytes) at which the first row starts, when every row is a whole
  // number of lines long; 0 otherwise or when it cannot be located. Rows off their lines cost
  // wide vector loads two lines each (files made by h5::CreateFile align them).
  std::int64_t BytesOffCacheLine();
  // Pages the located rows in (the file is read here if they are not in the page cache); an
  // I/O error throws UserError naming the dataset and rows. No HDF5 call.
  void PageIn(const std::byte* located, std::int64_t first_row, std::int64_t rows) const;
  // Done with these rows: their pages, and those the kernel mapped beside them (the 64 KiB
  // fault-around windows they lie in), leave the process's resident set (they stay in the page
  // cache), so a pass holds only what it reads, as with buffers. No HDF5 call.
  void Release(const std::byte* located, std::int64_t rows) const;

 private:
  MappedRows() = default;
  // madvise on the pages that hold `bytes` bytes from `located`; 0 or -1 (errno set).
  int Advise(const std::byte* located, std::int64_t bytes, int advice) const;

  std::string context_;
  hid_t dataset_ = H5I_INVALID_HID;  // the caller's handle, which outlives this object
  const std::byte* map_ = nullptr;
  std::int64_t file_bytes_ = 0;
  MappedRowsLayout layout_;
  std::int64_t cached_chunk_ = -1;   // the last chunk looked up
  std::int64_t cached_offset_ = -1;  // its rows' file offset; -1: not stored in place
};

}  // namespace shardmax
