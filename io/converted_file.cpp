#include "io/converted_file.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"

namespace shardmax {
namespace {

// A block (and HDF5 chunk) never exceeds this, so very wide inputs stay in bounded memory
// (and under HDF5's 4 GiB chunk limit) whatever --chunk-rows says.
constexpr std::int64_t kMaxBlockBytes = std::int64_t{64} << 20;

std::int64_t ElementBytes(FeatureType type) { return type == FeatureType::kUint8 ? 1 : 4; }

std::int64_t BlockRows(const ConvertOutput& output, const ConvertedShape& shape) {
  const std::int64_t row_bytes = shape.features * ElementBytes(shape.feature_type);
  const std::int64_t fitting = std::max<std::int64_t>(1, kMaxBlockBytes / row_bytes);
  return std::clamp<std::int64_t>(std::min(output.storage.chunk_rows, fitting), 1, shape.rows);
}

void CheckBeforeWriting(const ConvertOutput& output, const ConvertedShape& shape) {
  CheckOutputWritable(output);
  if (shape.rows < 1) throw UserError(shape.QuotedSources() + ": no rows to convert");
  if (shape.features < 1) throw UserError(shape.QuotedSources() + ": rows of 0 features");
  if (!output.class_names.empty() &&
      static_cast<std::int64_t>(output.class_names.size()) != shape.classes) {
    throw UserError(StrCat("--class-names gives ", output.class_names.size(), " names for the ",
                           shape.classes, " classes of the labels in ", shape.QuotedSources()));
  }
}

// `label_values`, `class_names` and the root attributes of a converted file.
void WriteConvertedMetadata(const h5::Handle& file, const ConvertOutput& output,
                            const ConvertedShape& shape) {
  if (!shape.label_values.empty()) h5::WriteInts(file, "label_values", shape.label_values);
  if (!output.class_names.empty()) h5::WriteStrings(file, "class_names", output.class_names);
  h5::WriteAttribute(file, "/", "classes", shape.classes);
  h5::WriteAttribute(file, "/", "converted_from", shape.format);
  std::string sources;
  for (const std::string& source : shape.sources) {
    sources += (sources.empty() ? "" : ", ") + source;
  }
  h5::WriteAttribute(file, "/", "source", sources);
}

}  // namespace

void CheckOutputWritable(const ConvertOutput& output) {
  namespace fs = std::filesystem;
  if (fs::exists(output.path) && !output.overwrite) {
    throw UserError("output file '" + output.path + "' already exists; pass --overwrite to " +
                    "replace it");
  }
  const fs::path directory = fs::path(output.path).parent_path();
  if (!directory.empty() && !fs::is_directory(directory)) {
    throw UserError("output file '" + output.path + "': directory '" + directory.string() +
                    "' does not exist");
  }
}

std::string ConvertedShape::QuotedSources() const {
  std::string text;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (i > 0) text += i + 1 == sources.size() ? " and " : ", ";
    text += "'" + sources[i] + "'";
  }
  return text;
}

ConvertedFileWriter::ConvertedFileWriter(const h5::Handle& file, const ConvertOutput& output,
                                         const ConvertedShape& shape)
    : shape_(shape),
      context_("writing '" + output.path + "'"),
      block_rows_(BlockRows(output, shape)) {
  h5::Storage storage = output.storage;
  storage.chunk_rows = block_rows_;  // whole chunks per write: no read-modify-write
  const hid_t file_type = shape.feature_type == FeatureType::kUint8 ? H5T_STD_U8LE : H5T_IEEE_F32LE;
  features_ = h5::CreateDataset(file, output.layout.features, file_type, shape.rows, shape.features,
                                storage);
  labels_ = h5::CreateDataset(file, output.layout.labels, H5T_STD_I32LE, shape.rows, 0, storage);
  label_block_.reserve(static_cast<std::size_t>(block_rows_));
}

void ConvertedFileWriter::AddRow(std::span<const float> features, Label label) {
  if (shape_.feature_type != FeatureType::kFloat32) {
    throw std::logic_error("AddRow: float32 row for a uint8 features dataset");
  }
  Add(features, label, &float_block_);
}

void ConvertedFileWriter::AddRow(std::span<const std::uint8_t> features, Label label) {
  if (shape_.feature_type != FeatureType::kUint8) {
    throw std::logic_error("AddRow: uint8 row for a float32 features dataset");
  }
  Add(features, label, &byte_block_);
}

template <typename Value>
void ConvertedFileWriter::Add(std::span<const Value> features, Label label,
                              std::vector<Value>* block) {
  if (static_cast<std::int64_t>(features.size()) != shape_.features || label < 0 ||
      label >= shape_.classes) {
    throw std::logic_error(StrCat("AddRow: row of ", features.size(), " values with label ", label,
                                  " for ", shape_.features, " features, ", shape_.classes,
                                  " classes"));
  }
  if (rows_written_ + static_cast<std::int64_t>(label_block_.size()) >= shape_.rows) {
    throw UserError(StrCat(context_, ": ", shape_.QuotedSources(), " now hold more than the ",
                           shape_.rows, " rows first read; did the input change?"));
  }
  block->insert(block->end(), features.begin(), features.end());
  label_block_.push_back(label);
  if (static_cast<std::int64_t>(label_block_.size()) == block_rows_) WriteBlock();
}

void ConvertedFileWriter::WriteBlock() {
  const auto count = static_cast<std::int64_t>(label_block_.size());
  if (count == 0) return;
  if (shape_.feature_type == FeatureType::kUint8) {
    h5::WriteRows(features_, rows_written_, count, H5T_NATIVE_UINT8, byte_block_.data(), context_);
    byte_block_.clear();
  } else {
    h5::WriteRows(features_, rows_written_, count, H5T_NATIVE_FLOAT, float_block_.data(), context_);
    float_block_.clear();
  }
  h5::WriteRows(labels_, rows_written_, count, H5T_NATIVE_INT32, label_block_.data(), context_);
  label_block_.clear();
  rows_written_ += count;
}

void ConvertedFileWriter::Finish() {
  WriteBlock();
  if (rows_written_ != shape_.rows) {
    throw UserError(StrCat(context_, ": ", shape_.QuotedSources(), " now hold ", rows_written_,
                           " rows, not the ", shape_.rows, " first read; did the input change?"));
  }
}

void WriteConvertedFile(const ConvertOutput& output, const ConvertedShape& shape,
                        const std::function<void(ConvertedFileWriter& writer)>& add_rows) {
  CheckBeforeWriting(output, shape);
  WriteFileAtomically(output.path, [&](const std::string& temporary) {
    h5::Handle file = h5::CreateFile(temporary);
    {
      ConvertedFileWriter writer(file, output, shape);
      add_rows(writer);
      writer.Finish();
    }
    WriteConvertedMetadata(file, output, shape);
  });
}

SparseConvertedFileWriter::SparseConvertedFileWriter(const h5::Handle& file,
                                                     const ConvertOutput& output,
                                                     const ConvertedShape& shape)
    : shape_(shape),
      context_("writing '" + output.path + "'"),
      block_rows_(std::clamp<std::int64_t>(output.storage.chunk_rows, 1, shape.rows)) {
  features_ = std::make_unique<SparseFeaturesWriter>(
      file, output.layout.features, shape.features, context_,
      SparseFeaturesWriter::kDefaultChunkEntries, output.storage);
  h5::Storage storage = output.storage;
  storage.chunk_rows = block_rows_;
  labels_ = h5::CreateDataset(file, output.layout.labels, H5T_STD_I32LE, shape.rows, 0, storage);
}

SparseConvertedFileWriter::~SparseConvertedFileWriter() = default;

void SparseConvertedFileWriter::AddRow(std::span<const std::int64_t> columns,
                                       std::span<const float> values, Label label) {
  if (label < 0 || label >= shape_.classes) {
    throw std::logic_error(StrCat("AddRow: label ", label, " for ", shape_.classes, " classes"));
  }
  if (features_->rows() >= shape_.rows) {
    throw UserError(StrCat(context_, ": ", shape_.QuotedSources(), " now hold more than the ",
                           shape_.rows, " rows first read; did the input change?"));
  }
  features_->AddRow(columns, values);
  label_block_.push_back(label);
  if (std::ssize(label_block_) == block_rows_) WriteLabels();
}

void SparseConvertedFileWriter::WriteLabels() {
  const auto count = static_cast<std::int64_t>(label_block_.size());
  h5::WriteRows(labels_, rows_written_, count, H5T_NATIVE_INT32, label_block_.data(), context_);
  rows_written_ += count;
  label_block_.clear();
}

void SparseConvertedFileWriter::Finish() {
  WriteLabels();
  features_->Finish();
  if (rows_written_ != shape_.rows) {
    throw UserError(StrCat(context_, ": ", shape_.QuotedSources(), " now hold ", rows_written_,
                           " rows, not the ", shape_.rows, " first read; did the input change?"));
  }
}

void WriteSparseConvertedFile(
    const ConvertOutput& output, const ConvertedShape& shape,
    const std::function<void(SparseConvertedFileWriter& writer)>& add_rows) {
  CheckBeforeWriting(output, shape);
  WriteFileAtomically(output.path, [&](const std::string& temporary) {
    h5::Handle file = h5::CreateFile(temporary);
    {
      SparseConvertedFileWriter writer(file, output, shape);
      add_rows(writer);
      writer.Finish();
    }
    WriteConvertedMetadata(file, output, shape);
  });
}

}  // namespace shardmax
