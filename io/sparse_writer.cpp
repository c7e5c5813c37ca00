#include "io/sparse_writer.hpp"

#include <cmath>
#include <stdexcept>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/sparse_reader.hpp"

namespace shardmax {
namespace {

// Compression as `storage` asks (its chunk_rows is not used: chunks hold `chunk` entries).
h5::Handle CreateExtendible(const h5::Handle& file, const std::string& name, hid_t type,
                            std::int64_t chunk, const h5::Storage& storage,
                            const std::string& context) {
  h5::ErrorPrintingOff quiet;
  const hsize_t zero = 0;
  const hsize_t unlimited = H5S_UNLIMITED;
  const auto chunk_size = static_cast<hsize_t>(chunk);
  h5::Handle space(h5::CheckId(H5Screate_simple(1, &zero, &unlimited), context), H5Sclose);
  h5::Handle creation(h5::CheckId(H5Pcreate(H5P_DATASET_CREATE), context), H5Pclose);
  h5::Check(H5Pset_chunk(creation.get(), 1, &chunk_size), context);
  if (storage.compression == h5::Compression::kShuffleGzip) {
    h5::Check(H5Pset_shuffle(creation.get()), context);
  }
  if (storage.compression != h5::Compression::kNone) {
    h5::Check(H5Pset_deflate(creation.get(), static_cast<unsigned>(storage.gzip_level)), context);
  }
  return h5::Handle(h5::CheckId(H5Dcreate2(file.get(), name.c_str(), type, space.get(),
                                           H5P_DEFAULT, creation.get(), H5P_DEFAULT),
                                context + ": cannot create dataset '" + name + "'"),
                    H5Dclose);
}

// Appends `count` elements to a 1-D extendible dataset holding `done` elements.
void Append(const h5::Handle& dataset, std::int64_t done, std::int64_t count, hid_t memory_type,
            const void* values, const std::string& context) {
  if (count == 0) return;
  h5::ErrorPrintingOff quiet;
  const auto size = static_cast<hsize_t>(done + count);
  h5::Check(H5Dset_extent(dataset.get(), &size), context + ": extending");
  h5::WriteRows(dataset, done, count, memory_type, values, context);
}

}  // namespace

SparseFeaturesWriter::SparseFeaturesWriter(const h5::Handle& file, const std::string& name,
                                           std::int64_t features, const std::string& context,
                                           std::int64_t chunk_entries,
                                           const h5::Storage& compression)
    : file_(file),
      name_(name),
      features_(features),
      context_(context),
      chunk_entries_(std::max<std::int64_t>(chunk_entries, 1)) {
  if (features < 1 || features > INT32_MAX) {
    throw UserError(StrCat(context, ": ", features, " features; sparse data holds 1 to 2^31 - 1"));
  }
  {
    h5::ErrorPrintingOff quiet;
    h5::Handle link(h5::CheckId(H5Pcreate(H5P_LINK_CREATE), context), H5Pclose);
    h5::Check(H5Pset_create_intermediate_group(link.get(), 1), context);
    h5::Handle group(h5::CheckId(H5Gcreate2(file.get(), name.c_str(), link.get(), H5P_DEFAULT,
                                            H5P_DEFAULT),
                                 context + ": cannot create group '" + name + "'"),
                     H5Gclose);
  }
  const auto create = [&](const char* member, hid_t type) {
    return CreateExtendible(file, name + "/" + member, type, chunk_entries_, compression, context);
  };
  data_ = create("data", H5T_IEEE_F32LE);
  indices_ = create("indices", H5T_STD_I32LE);
  indptr_ = create("indptr", H5T_STD_I64LE);
  offsets_.push_back(0);
}

void SparseFeaturesWriter::AddRow(std::span<const std::int64_t> columns,
                                  std::span<const float> values) {
  if (columns.size() != values.size()) throw std::logic_error("AddRow: columns and values differ");
  for (std::size_t e = 0; e < columns.size(); ++e) {
    if (columns[e] < 0 || columns[e] >= features_ || (e > 0 && columns[e] <= columns[e - 1]) ||
        !std::isfinite(values[e])) {
      throw std::logic_error(StrCat("AddRow: column ", columns[e], " out of order or range, or ",
                                    "value ", values[e], " not finite"));
    }
    columns_.push_back(static_cast<std::int32_t>(columns[e]));
    values_.push_back(values[e]);
  }
  ++rows_;
  offsets_.push_back(nonzeros());
  if (std::ssize(columns_) >= chunk_entries_) WriteEntries();
  if (std::ssize(offsets_) >= chunk_entries_) WriteOffsets();
}

void SparseFeaturesWriter::WriteEntries() {
  const std::int64_t count = std::ssize(columns_);
  Append(data_, written_, count, H5T_NATIVE_FLOAT, values_.data(), context_ + ", 'data'");
  Append(indices_, written_, count, H5T_NATIVE_INT32, columns_.data(), context_ + ", 'indices'");
  written_ += count;
  columns_.clear();
  values_.clear();
}

void SparseFeaturesWriter::WriteOffsets() {
  const std::int64_t count = std::ssize(offsets_);
  Append(indptr_, offsets_written_, count, H5T_NATIVE_INT64, offsets_.data(),
         context_ + ", 'indptr'");
  offsets_written_ += count;
  offsets_.clear();
}

void SparseFeaturesWriter::Finish() {
  WriteEntries();
  WriteOffsets();
  h5::ErrorPrintingOff quiet;
  const std::string what = context_ + ": writing the attributes of '" + name_ + "'";
  const hsize_t two = 2;
  const std::int64_t shape[2] = {rows_, features_};
  h5::Handle space(h5::CheckId(H5Screate_simple(1, &two, nullptr), what), H5Sclose);
  h5::Handle attribute(h5::CheckId(H5Acreate_by_name(file_.get(), name_.c_str(),
                                                     kSparseShapeAttribute, H5T_STD_I64LE,
                                                     space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                                     H5P_DEFAULT),
                                   what),
                       H5Aclose);
  h5::Check(H5Awrite(attribute.get(), H5T_NATIVE_INT64, shape), what);
  h5::WriteAttribute(file_, name_, kSparseEncodingAttribute, std::string(kSparseEncoding));
}

}  // namespace shardmax
