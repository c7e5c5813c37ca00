#include "io/hdf5_file.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/hdf5_crash_report.hpp"

namespace shardmax::h5 {
namespace {

herr_t CollectMessage(unsigned /*depth*/, const H5E_error2_t* error, void* messages) {
  if (error->desc != nullptr && error->desc[0] != '\0') {
    static_cast<std::vector<std::string>*>(messages)->push_back(error->desc);
  }
  return 0;
}

// The innermost two descriptions say what really failed ("file not found", "bad checksum");
// the outer ones only repeat which API call it was.
std::string ErrorStackText() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, CollectMessage, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "unknown HDF5 error";
  std::string text;
  const std::size_t first = messages.size() > 2 ? messages.size() - 2 : 0;
  for (std::size_t i = messages.size(); i-- > first;) {
    if (!text.empty()) text += "; ";
    text += messages[i];
  }
  return text;
}

Handle Property(hid_t kind) { return Handle(CheckId(H5Pcreate(kind), "H5Pcreate"), H5Pclose); }

Handle Dataspace(const std::vector<hsize_t>& dims) {
  return Handle(CheckId(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                        "H5Screate_simple"),
                H5Sclose);
}

// The file-side selection of rows [first_row, first_row + rows) and a matching memory space.
std::pair<Handle, Handle> RowSelection(const Handle& dataset, std::int64_t first_row,
                                       std::int64_t rows, const std::string& context) {
  Handle file_space(CheckId(H5Dget_space(dataset.get()), context), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 1)));
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  std::vector<hsize_t> start(dims.size(), 0);
  std::vector<hsize_t> count = dims;
  start[0] = static_cast<hsize_t>(first_row);
  count[0] = static_cast<hsize_t>(rows);
  Check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr),
        context + ": selecting rows");
  return {std::move(file_space), Dataspace(count)};
}

Handle StringType() {
  Handle type(CheckId(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  Check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  Check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  return type;
}

Handle OpenAttribute(const Handle& file, const std::string& object, const std::string& name,
                     const std::string& context) {
  ErrorPrintingOff quiet;
  if (H5Aexists_by_name(file.get(), object.c_str(), name.c_str(), H5P_DEFAULT) <= 0) {
    throw UserError(context + ": attribute '" + name + "' of '" + object + "' is missing");
  }
  return Handle(CheckId(H5Aopen_by_name(file.get(), object.c_str(), name.c_str(), H5P_DEFAULT,
                                        H5P_DEFAULT),
                        context + ": attribute '" + name + "'"),
                H5Aclose);
}

void WriteScalarAttribute(const Handle& file, const std::string& object, const std::string& name,
                          hid_t type, const void* value) {
  ErrorPrintingOff quiet;
  const std::string what = "writing attribute '" + name + "'";
  Handle space(CheckId(H5Screate(H5S_SCALAR), what), H5Sclose);
  Handle attribute(CheckId(H5Acreate_by_name(file.get(), object.c_str(), name.c_str(), type,
                                             space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                           what),
                   H5Aclose);
  Check(H5Awrite(attribute.get(), type, value), what);
}

void ReadScalarAttribute(const Handle& file, const std::string& object, const std::string& name,
                         const std::string& context, hid_t memory_type, void* value) {
  Handle attribute = OpenAttribute(file, object, name, context);
  ErrorPrintingOff quiet;
  Check(H5Aread(attribute.get(), memory_type, value), context + ": attribute '" + name + "'");
}

}  // namespace

ErrorPrintingOff::ErrorPrintingOff() {
  H5Eget_auto2(H5E_DEFAULT, &saved_function_, &saved_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

ErrorPrintingOff::~ErrorPrintingOff() { H5Eset_auto2(H5E_DEFAULT, saved_function_, saved_data_); }

std::unique_lock<std::mutex> LockLibrary() {
  static std::mutex library;
  return std::unique_lock<std::mutex>(library);
}

void Check(herr_t status, const std::string& what) {
  if (status < 0) throw UserError(what + ": " + ErrorStackText());
}

hid_t CheckId(hid_t id, const std::string& what) {
  if (id < 0) throw UserError(what + ": " + ErrorStackText());
  return id;
}

namespace {

herr_t CloseFileOpenForReading(hid_t file) {
  UnregisterFileForCrashReport(file);
  return H5Fclose(file);
}

}  // namespace

Handle OpenFileForReading(const std::string& path, const Communicator* comm) {
  ErrorPrintingOff quiet;
  Handle access = Property(H5P_FILE_ACCESS);
  if (comm != nullptr) {
    Check(H5Pset_fapl_mpio(access.get(), comm->get(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
  }
  // Named in a crash report from before H5Fopen (which parses the superblock) to the close.
  const hid_t opening = NewOpeningKeyForCrashReport();
  RegisterFileForCrashReport(opening, path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.get());
  if (file < 0) UnregisterFileForCrashReport(opening);
  Handle handle(CheckId(file, "cannot open HDF5 file '" + path + "'"), CloseFileOpenForReading);
  RekeyFileForCrashReport(opening, file);
  return handle;
}

Handle CreateFile(const std::string& path, const Communicator* comm) {
  ErrorPrintingOff quiet;
  Handle access = Property(H5P_FILE_ACCESS);
  if (comm != nullptr) {
    Check(H5Pset_fapl_mpio(access.get(), comm->get(), MPI_INFO_NULL), "H5Pset_fapl_mpio");
  }
  // Large objects (feature data, chunks of it) start on page boundaries, so rows read in place
  // (--stream) start on cache lines when a row is a whole number of them: a 64-byte vector
  // load across two lines made AVX-512 passes over a mapped file 5-10% slower.
  Check(H5Pset_alignment(access.get(), kAlignedObjectBytes, kObjectAlignment),
        "H5Pset_alignment");
  return Handle(CheckId(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()),
                        "cannot create HDF5 file '" + path + "'"),
                H5Fclose);
}

Handle CreateFileInMemory(hsize_t user_block_bytes) {
  ErrorPrintingOff quiet;
  Handle access = Property(H5P_FILE_ACCESS);
  Check(H5Pset_fapl_core(access.get(), 1 << 16, /*backing_store=*/false), "H5Pset_fapl_core");
  Handle creation = Property(H5P_FILE_CREATE);
  if (user_block_bytes > 0) {
    Check(H5Pset_userblock(creation.get(), user_block_bytes), "H5Pset_userblock");
  }
  // The core driver still wants a name, unique among the files open in this process.
  static int serial = 0;
  const std::string name = "in-memory-" + std::to_string(++serial) + ".h5";
  return Handle(CheckId(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, creation.get(), access.get()),
                        "cannot create an HDF5 file in memory"),
                H5Fclose);
}

void CopyFileImage(const Handle& file, const std::string& what, std::size_t offset,
                   std::vector<char>* image) {
  ErrorPrintingOff quiet;
  Check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), what + ": flushing");
  const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
  if (size < 0) Check(-1, what + ": sizing the file image");
  image->assign(offset + static_cast<std::size_t>(size), '\0');
  if (H5Fget_file_image(file.get(), image->data() + offset, static_cast<std::size_t>(size)) !=
      size) {
    Check(-1, what + ": copying the file image");
  }
}

bool HasObject(const Handle& file, const std::string& name) {
  ErrorPrintingOff quiet;
  // H5LTpath_valid-like walk: every component of the path must exist.
  std::size_t position = 0;
  while (true) {
    position = name.find('/', position + 1);
    const std::string prefix = name.substr(0, position);
    if (!prefix.empty() && prefix != "/" &&
        H5Lexists(file.get(), prefix.c_str(), H5P_DEFAULT) <= 0) {
      return false;
    }
    if (position == std::string::npos) return true;
  }
}

Handle OpenDataset(const Handle& file, const std::string& name, const std::string& context) {
  if (!HasObject(file, name)) throw UserError(context + ": no dataset '" + name + "'");
  ErrorPrintingOff quiet;
  return Handle(CheckId(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT),
                        context + ": '" + name + "' is not a readable dataset"),
                H5Dclose);
}

std::vector<hsize_t> DatasetDims(const Handle& dataset, const std::string& context) {
  ErrorPrintingOff quiet;
  Handle space(CheckId(H5Dget_space(dataset.get()), context), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw UserError(context + ": cannot read the dataset's shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  hsize_t values = 1;
  for (const hsize_t size : dims) {
    if (size > kMaxDatasetValues || __builtin_mul_overflow(values, size, &values) ||
        values > kMaxDatasetValues) {
      std::string shape;
      for (const hsize_t each : dims) shape += (shape.empty() ? "" : " x ") + std::to_string(each);
      throw UserError(context + ": claims a shape of " + shape +
                      ", more values than a machine can address (a damaged file?)");
    }
  }
  return dims;
}

namespace {

// A number type laid out as usual: 1, 2, 4 or 8 bytes, every bit of them used, and for floats
// IEEE 754. A damaged or crafted file can declare others (a 65540-byte integer, say), which
// HDF5 1.10 converts past the end of its buffers (found by tests/fuzz/fuzz_data).
bool IsStandardNumber(hid_t type) {
  const std::size_t size = H5Tget_size(type);
  if (size != 1 && size != 2 && size != 4 && size != 8) return false;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return H5Tget_precision(type) == 8 * size && H5Tget_offset(type) == 0;
    case H5T_FLOAT:
      for (const hid_t ieee : {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE}) {
        if (H5Tequal(type, ieee) > 0) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

std::string DescribeType(const Handle& dataset) {
  ErrorPrintingOff quiet;
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  if (type.get() < 0) return "unknown";
  const std::size_t bits = H5Tget_size(type.get()) * 8;
  const H5T_class_t type_class = H5Tget_class(type.get());
  if ((type_class == H5T_FLOAT || type_class == H5T_INTEGER) && !IsStandardNumber(type.get())) {
    return "nonstandard number type (" + std::to_string(bits) + " bits)";
  }
  switch (type_class) {
    case H5T_FLOAT:
      return "float" + std::to_string(bits);
    case H5T_INTEGER:
      return (H5Tget_sign(type.get()) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    default:
      return "unsupported type";
  }
}

bool IsIntegerType(const Handle& dataset) {
  ErrorPrintingOff quiet;
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  return type.get() >= 0 && H5Tget_class(type.get()) == H5T_INTEGER &&
         IsStandardNumber(type.get());
}

bool IsNumericType(const Handle& dataset) {
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  if (type.get() < 0) return false;
  const H5T_class_t type_class = H5Tget_class(type.get());
  return type_class == H5T_INTEGER || type_class == H5T_FLOAT;
}

namespace {

// HDF5 1.10 trusts the stored size of a compact dataset's data and of each unfiltered chunk,
// and the keys of its chunk index: a damaged file with a shorter chunk, or with index entries
// that no lookup finds, makes it copy past the end of a buffer (found by tests/fuzz/fuzz_data:
// heap-buffer-overflow in H5VM_memcpyvv). So the chunks holding rows [first_row, first_row +
// rows) are checked before they are read: each must be stored, in the bytes its shape needs
// when unfiltered. A chunk or a contiguous dataset never written (read as fill values) is
// refused too: it is what a conversion stopped halfway leaves, never meant as data.
void CheckStoredSizes(const Handle& dataset, std::int64_t first_row, std::int64_t rows,
                      const std::string& context) {
  Handle creation(CheckId(H5Dget_create_plist(dataset.get()), context), H5Pclose);
  Handle type(CheckId(H5Dget_type(dataset.get()), context), H5Tclose);
  const std::vector<hsize_t> dims = DatasetDims(dataset, context);
  const auto type_bytes = static_cast<hsize_t>(H5Tget_size(type.get()));
  const H5D_layout_t layout = H5Pget_layout(creation.get());
  if (layout == H5D_COMPACT) {
    hsize_t expected = type_bytes;
    for (const hsize_t size : dims) expected *= size;
    if (H5Dget_storage_size(dataset.get()) != expected) {
      throw UserError(context + ": damaged: its data is stored in fewer bytes than its shape needs");
    }
    return;
  }
  if (layout == H5D_CONTIGUOUS) {
    if (H5Dget_storage_size(dataset.get()) == 0) {
      throw UserError(context + ": damaged or incomplete: its data was never written");
    }
    return;
  }
  if (layout != H5D_CHUNKED || dims.empty()) return;
  const bool filtered = H5Pget_nfilters(creation.get()) != 0;
  std::vector<hsize_t> chunk(dims.size());
  if (H5Pget_chunk(creation.get(), static_cast<int>(chunk.size()), chunk.data()) !=
      static_cast<int>(chunk.size())) {
    throw UserError(context + ": damaged: its chunk shape does not match its rank");
  }
  hsize_t chunk_bytes = type_bytes;
  for (const hsize_t size : chunk) chunk_bytes *= size;
  const hsize_t column_chunks = dims.size() == 2 ? (dims[1] + chunk[1] - 1) / chunk[1] : 1;
  for (hsize_t row = static_cast<hsize_t>(first_row) / chunk[0] * chunk[0];
       row < static_cast<hsize_t>(first_row + rows); row += chunk[0]) {
    for (hsize_t column_chunk = 0; column_chunk < column_chunks; ++column_chunk) {
      std::vector<hsize_t> offset{row};
      if (dims.size() == 2) offset.push_back(column_chunk * chunk[1]);
      unsigned filter_mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t stored = 0;
      Check(H5Dget_chunk_info_by_coord(dataset.get(), offset.data(), &filter_mask, &address,
                                       &stored),
            context + ": reading the chunk index");
      if (address == HADDR_UNDEF) {
        throw UserError(StrCat(context, ": damaged or incomplete: the chunk at row ", row,
                               " was never written"));
      }
      if (!filtered && stored != chunk_bytes) {
        throw UserError(StrCat(context, ": damaged: the chunk at row ", row, " is stored in ",
                               stored, " bytes, not the ", chunk_bytes, " its shape needs"));
      }
    }
  }
}

}  // namespace

void ReadRows(const Handle& dataset, std::int64_t first_row, std::int64_t rows, hid_t memory_type,
              void* out, const std::string& context, hid_t transfer) {
  if (rows == 0) return;
  ErrorPrintingOff quiet;
  CheckStoredSizes(dataset, first_row, rows, context);
  auto [file_space, memory_space] = RowSelection(dataset, first_row, rows, context);
  Check(H5Dread(dataset.get(), memory_type, memory_space.get(), file_space.get(), transfer, out),
        context + ": reading rows " + std::to_string(first_row) + ".." +
            std::to_string(first_row + rows - 1));
}

// 256 KiB: HDF5 converts a larger selection piece by piece through it.
ConversionBuffer::ConversionBuffer()
    : buffer_(std::size_t{1} << 18), transfer_(Property(H5P_DATASET_XFER)) {
  Check(H5Pset_buffer(transfer_.get(), buffer_.size(), buffer_.data(), nullptr), "H5Pset_buffer");
}

Handle CreateDataset(const Handle& file, const std::string& name, hid_t file_type,
                     std::int64_t rows, std::int64_t cols, const Storage& storage) {
  ErrorPrintingOff quiet;
  std::vector<hsize_t> dims{static_cast<hsize_t>(rows)};
  if (cols > 0) dims.push_back(static_cast<hsize_t>(cols));
  Handle space = Dataspace(dims);
  Handle link = Property(H5P_LINK_CREATE);
  Check(H5Pset_create_intermediate_group(link.get(), 1), "H5Pset_create_intermediate_group");
  Handle creation = Property(H5P_DATASET_CREATE);
  if (storage.chunk_rows > 0 && rows > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = static_cast<hsize_t>(std::clamp<std::int64_t>(storage.chunk_rows, 1, rows));
    Check(H5Pset_chunk(creation.get(), static_cast<int>(chunk.size()), chunk.data()),
          "H5Pset_chunk");
    if (storage.compression == Compression::kShuffleGzip) {
      Check(H5Pset_shuffle(creation.get()), "H5Pset_shuffle");
    }
    if (storage.compression != Compression::kNone) {
      Check(H5Pset_deflate(creation.get(), static_cast<unsigned>(storage.gzip_level)),
            "H5Pset_deflate");
    }
  } else if (storage.compression != Compression::kNone) {
    throw UserError("dataset '" + name + "': compression needs chunked storage");
  }
  return Handle(CheckId(H5Dcreate2(file.get(), name.c_str(), file_type, space.get(), link.get(),
                                   creation.get(), H5P_DEFAULT),
                        "cannot create dataset '" + name + "'"),
                H5Dclose);
}

void WriteRows(const Handle& dataset, std::int64_t first_row, std::int64_t rows,
               hid_t memory_type, const void* data, const std::string& context) {
  if (rows == 0) return;
  ErrorPrintingOff quiet;
  auto [file_space, memory_space] = RowSelection(dataset, first_row, rows, context);
  Check(H5Dwrite(dataset.get(), memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT,
                 data),
        context + ": writing rows");
}

void WriteStrings(const Handle& file, const std::string& name,
                  const std::vector<std::string>& values) {
  Handle type = StringType();
  std::vector<const char*> pointers;
  for (const std::string& value : values) pointers.push_back(value.c_str());
  Handle dataset = CreateDataset(file, name, type.get(), static_cast<std::int64_t>(values.size()),
                                 0, Storage{});
  WriteRows(dataset, 0, static_cast<std::int64_t>(values.size()), type.get(), pointers.data(),
            "dataset '" + name + "'");
}

std::vector<std::string> ReadStrings(const Handle& file, const std::string& name,
                                     const std::string& context) {
  Handle dataset = OpenDataset(file, name, context);
  const auto dims = DatasetDims(dataset, context);
  if (dims.size() != 1) throw UserError(context + ": dataset '" + name + "' is not 1-D");
  Handle type = StringType();
  std::vector<char*> pointers(dims[0], nullptr);
  ReadRows(dataset, 0, static_cast<std::int64_t>(dims[0]), type.get(), pointers.data(),
           context + ", dataset '" + name + "'");
  std::vector<std::string> values;
  for (char* pointer : pointers) {
    values.emplace_back(pointer != nullptr ? pointer : "");
    H5free_memory(pointer);
  }
  return values;
}

void WriteInts(const Handle& file, const std::string& name,
               const std::vector<std::int64_t>& values) {
  const auto count = static_cast<std::int64_t>(values.size());
  Handle dataset = CreateDataset(file, name, H5T_STD_I64LE, count, 0, Storage{});
  WriteRows(dataset, 0, count, H5T_NATIVE_INT64, values.data(), "dataset '" + name + "'");
}

std::vector<std::int64_t> ReadInts(const Handle& file, const std::string& name,
                                   const std::string& context) {
  Handle dataset = OpenDataset(file, name, context);
  const auto dims = DatasetDims(dataset, context);
  if (dims.size() != 1 || !IsIntegerType(dataset)) {
    throw UserError(context + ": dataset '" + name + "' is not a 1-D integer dataset");
  }
  std::vector<std::int64_t> values(dims[0]);
  ReadRows(dataset, 0, static_cast<std::int64_t>(dims[0]), H5T_NATIVE_INT64, values.data(),
           context + ", dataset '" + name + "'");
  return values;
}

void WriteDoubles(const Handle& file, const std::string& name, const Vector& values) {
  const auto count = static_cast<std::int64_t>(values.size());
  Handle dataset = CreateDataset(file, name, H5T_IEEE_F64LE, count, 0, Storage{});
  WriteRows(dataset, 0, count, H5T_NATIVE_DOUBLE, values.data(), "dataset '" + name + "'");
}

Vector ReadDoubles(const Handle& file, const std::string& name, const std::string& context) {
  Handle dataset = OpenDataset(file, name, context);
  const auto dims = DatasetDims(dataset, context);
  if (dims.size() != 1) throw UserError(context + ": dataset '" + name + "' is not 1-D");
  Vector values(static_cast<Eigen::Index>(dims[0]));
  ReadRows(dataset, 0, values.size(), H5T_NATIVE_DOUBLE, values.data(),
           context + ", dataset '" + name + "'");
  return values;
}

void WriteMatrix(const Handle& file, const std::string& name, const Matrix& values) {
  Handle dataset = CreateDataset(file, name, H5T_IEEE_F64LE, values.rows(), values.cols(), 0);
  WriteRows(dataset, 0, values.rows(), H5T_NATIVE_DOUBLE, values.data(), "dataset '" + name + "'");
}

Matrix ReadMatrix(const Handle& file, const std::string& name, const std::string& context) {
  Handle dataset = OpenDataset(file, name, context);
  const std::vector<hsize_t> dims = DatasetDims(dataset, context + ", dataset '" + name + "'");
  if (dims.size() != 2) {
    throw UserError(context + ": dataset '" + name + "' is not 2-D");
  }
  const std::string type = DescribeType(dataset);
  if (type != "float64" && type != "float32") {
    throw UserError(context + ": dataset '" + name + "' holds " + type + ", not floating point");
  }
  Matrix values(static_cast<Eigen::Index>(dims[0]), static_cast<Eigen::Index>(dims[1]));
  ReadRows(dataset, 0, values.rows(), H5T_NATIVE_DOUBLE, values.data(),
           context + ", dataset '" + name + "'");
  return values;
}

void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    double value) {
  WriteScalarAttribute(file, object, name, H5T_NATIVE_DOUBLE, &value);
}

void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    std::int64_t value) {
  WriteScalarAttribute(file, object, name, H5T_NATIVE_INT64, &value);
}

void WriteAttribute(const Handle& file, const std::string& object, const std::string& name,
                    const std::string& value) {
  Handle type = StringType();
  const char* text = value.c_str();
  WriteScalarAttribute(file, object, name, type.get(), &text);
}

bool HasAttribute(const Handle& file, const std::string& object, const std::string& name) {
  ErrorPrintingOff quiet;
  return H5Aexists_by_name(file.get(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

double ReadDoubleAttribute(const Handle& file, const std::string& object, const std::string& name,
                           const std::string& context) {
  double value = 0.0;
  ReadScalarAttribute(file, object, name, context, H5T_NATIVE_DOUBLE, &value);
  return value;
}

std::int64_t ReadIntAttribute(const Handle& file, const std::string& object,
                              const std::string& name, const std::string& context) {
  std::int64_t value = 0;
  ReadScalarAttribute(file, object, name, context, H5T_NATIVE_INT64, &value);
  return value;
}

std::string ReadStringAttribute(const Handle& file, const std::string& object,
                                const std::string& name, const std::string& context) {
  Handle attribute = OpenAttribute(file, object, name, context);
  Handle type = StringType();
  char* text = nullptr;
  ErrorPrintingOff quiet;
  Check(H5Aread(attribute.get(), type.get(), &text), context + ": attribute '" + name + "'");
  std::string value = text != nullptr ? text : "";
  H5free_memory(text);
  return value;
}

}  // namespace shardmax::h5
