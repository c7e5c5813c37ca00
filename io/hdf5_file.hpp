// A thin checked layer over the HDF5 C API: move-only handles closed in their destructors,
// and failures turned into UserError messages that carry HDF5's own error stack text.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/mpi_layer.hpp"
#include "common/types.hpp"

namespace shardmax::h5 {

// Owns one hid_t; closes it (without throwing) when destroyed.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { Close(); }
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      Close();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }

 private:
  void Close() noexcept {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// While alive, HDF5 does not print its error stack on its own; we put it in our messages.
class ErrorPrintingOff {
 public:
  ErrorPrintingOff();
  ~ErrorPrintingOff();
  ErrorPrintingOff(const ErrorPrintingOff&) = delete;
  ErrorPrintingOff& operator=(const ErrorPrintingOff&) = delete;

 private:
  H5E_auto2_t saved_function_ = nullptr;
  void* saved_data_ = nullptr;
};

// HDF5 here is not built thread-safe: while a shard stream's reader thread runs
// (io/shard_stream.hpp), any thread calling HDF5 holds this lock. Outside streamed passes
// only the main thread calls HDF5 and need not take it.
std::unique_lock<std::mutex> LockLibrary();

// Throws UserError("<what>: <HDF5's innermost error text>") when `status` is negative.
void Check(herr_t status, const std::string& what);
hid_t CheckId(hid_t id, const std::string& what);

// Files. With a communicator the file is opened through the MPI-IO driver (collective).
Handle OpenFileForReading(const std::string& path, const Communicator* comm = nullptr);
// Objects of at least kAlignedObjectBytes in files made by CreateFile start at a multiple of
// kObjectAlignment bytes (from HDF5's base address, after any user block).
inline constexpr hsize_t kAlignedObjectBytes = 64 * 1024;
inline constexpr hsize_t kObjectAlignment = 4096;
// Truncates. With a communicator: collective, through MPI-IO, so every rank can write its rows.
Handle CreateFile(const std::string& path, const Communicator* comm = nullptr);

// A file held in memory only (HDF5's core driver), for building a file image that the caller
// writes to disk itself; user_block_bytes (0, or a power of two >= 512) reserves that many
// bytes at the start for a header of the caller's, which HDF5 leaves alone.
Handle CreateFileInMemory(hsize_t user_block_bytes = 0);
// Resizes *image to `offset` + the file's size and copies there the bytes of the file as they
// would be on disk after its user block (which is left out); bytes before `offset` are zero.
void CopyFileImage(const Handle& file, const std::string& what, std::size_t offset,
                   std::vector<char>* image);

bool HasObject(const Handle& file, const std::string& name);
Handle OpenDataset(const Handle& file, const std::string& name, const std::string& context);
// A dataset's shape; a UserError if it claims more than kMaxDatasetValues values. Shapes are
// read from the file, and a damaged one can claim any: below 2^58 values of at most 8 bytes,
// every byte count computed from shapes (a row's features, labels and weights times the rows)
// fits in int64.
inline constexpr hsize_t kMaxDatasetValues = hsize_t{1} << 58;
std::vector<hsize_t> DatasetDims(const Handle& dataset, const std::string& context);

// The stored element type, as users name it: "float32", "float64", "uint8", "int32", ...
std::string DescribeType(const Handle& dataset);
bool IsIntegerType(const Handle& dataset);
bool IsNumericType(const Handle& dataset);  // integer or floating point

// Reads rows [first_row, first_row + rows) of a 1-D or 2-D dataset, converted to memory_type,
// through the transfer property list `transfer` (e.g. a ConversionBuffer's).
void ReadRows(const Handle& dataset, std::int64_t first_row, std::int64_t rows, hid_t memory_type,
              void* out, const std::string& context, hid_t transfer = H5P_DEFAULT);

// A transfer property list with a type-conversion buffer of its own, for reads repeated chunk
// after chunk: without one HDF5 allocates and zeroes 1 MiB for every read that converts (int32
// labels read as int64), 2% of a streamed pass over uint8 rows.
class ConversionBuffer {
 public:
  ConversionBuffer();
  // Not copied: the property list points into buffer_.
  ConversionBuffer(const ConversionBuffer&) = delete;
  ConversionBuffer& operator=(const ConversionBuffer&) = delete;
  hid_t transfer() const { return transfer_.get(); }

 private:
  std::vector<unsigned char> buffer_;
  Handle transfer_;
};

enum class Compression { kNone, kGzip, kShuffleGzip };

// How a dataset is stored: chunk_rows = 0 gives a contiguous dataset (needed for parallel
// writes); compression needs chunks.
struct Storage {
  std::int64_t chunk_rows = 0;
  Compression compression = Compression::kNone;
  int gzip_level = 4;
};

// Creates an N x D (or N, when cols == 0) dataset of file_type, with intermediate groups.
Handle CreateDataset(const Handle& file, const std::string& name, hid_t file_type,
                     std::int64_t rows, std::int64_t cols, const Storage& storage);
inline Handle CreateDataset(const Handle& file, const std::string& name, hid_t file_type,
                            std::int64_t rows, std::int64_t cols, std::int64_t chunk_rows) {
  return CreateDataset(file, name, file_type, rows, cols, Storage{chunk_rows});
}
void WriteRows(const Handle& dataset, std::int64_t first_row, std::int64_t rows,
               hid_t memory_type, const void* data, const std::string& context);

// 1-D datasets of variable-length UTF-8 strings (class names, for instance).
void WriteStrings(const Handle& file, const std::string& name,
                  const std::vector<std::string>& values);
std::vector<std::string> ReadStrings(const Handle& file, const std::string& name,
                                     const std::string& context);

// Whole 1-D int64 datasets (any stored integer type is converted).
void WriteInts(const Handle& file, const std::string& name, const std::vector<std::int64_t>& values);
std::vector<std::int64_t> ReadInts(const Handle& file, const std::string& name,
                                   const std::string& context);

// Whole 1-D float64 datasets (any stored numeric type is converted).
void WriteDoubles(const Handle& file, const std::string& name, const Vector& values);
Vector ReadDoubles(const Handle& file, const std::string& name, const std::string& context);

// Whole double matrices (contiguous, row-major).
void WriteMatrix(const Handle& file, const std::string& name, const Matrix& values);
Matrix ReadMatrix(const Handle& file, const std::string& name, const std::string& context);

// Scalar attributes on an object (the file root is "/").
void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    double value);
void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    std::int64_t value);
void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    const std::string& value);
bool HasAttribute(const Handle& file, const std::string& object, const std::string& name);
double ReadDoubleAttribute(const Handle& file, const std::string& object, const std::string& name,
                           const std::string& context);
std::int64_t ReadIntAttribute(const Handle& file, const std::string& object,
                              const std::string& name, const std::string& context);
std::string ReadStringAttribute(const Handle& file, const std::string& object,
                                const std::string& name, const std::string& context);

}  // namespace shardmax::h5
