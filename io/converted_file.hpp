// The one writer behind every converter (`shardmax convert`): a data file in the documented
// layout (README.md, "Data format"), written row by row in blocks of chunk rows, atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/types.hpp"
#include "io/hdf5_file.hpp"
#include "io/sparse_writer.hpp"

namespace shardmax {

// Rows are held and written dense: a row of more features than this (64 MiB of float32) is
// refused before anything is allocated for it, whatever a file's header or index claims.
inline constexpr std::int64_t kMaxConvertedFeatures = std::int64_t{1} << 24;

// Where and how a converted file is written. storage.chunk_rows is also the number of rows
// held in memory before each write.
struct ConvertOutput {
  std::string path;
  bool overwrite = false;
  h5::Storage storage{8192, h5::Compression::kNone, 4};
  DatasetLayout layout;
  std::vector<std::string> class_names;  // optional: one name per class
};

// Everything about the data known before the rows are written (converters read their input
// once before writing to learn it).
struct ConvertedShape {
  std::int64_t rows = 0;
  std::int64_t features = 0;
  FeatureType feature_type = FeatureType::kFloat32;  // kFloat32 or kUint8
  std::int64_t classes = 0;                          // K: every label is in 0..K-1
  std::vector<std::int64_t> label_values;            // optional: original label of class k
  std::string format;                                // "idx", "csv", "libsvm"
  std::vector<std::string> sources;                  // the input file(s)
  bool is_sparse = false;  // written in the sparse (CSR) layout by WriteSparseConvertedFile

  // "'a.csv'", or "'images.gz' and 'labels.gz'": for messages.
  std::string QuotedSources() const;
};

// Takes rows in order and writes them out a block at a time.
class ConvertedFileWriter {
 public:
  ConvertedFileWriter(const h5::Handle& file, const ConvertOutput& output,
                      const ConvertedShape& shape);

  // One row of shape.features values, of the type the shape declares.
  void AddRow(std::span<const float> features, Label label);
  void AddRow(std::span<const std::uint8_t> features, Label label);

  // Writes the last partial block; throws unless exactly shape.rows rows were added.
  void Finish();

 private:
  template <typename Value>
  void Add(std::span<const Value> features, Label label, std::vector<Value>* block);
  void WriteBlock();

  ConvertedShape shape_;
  std::string context_;
  std::int64_t block_rows_ = 0;
  h5::Handle features_;
  h5::Handle labels_;
  std::vector<float> float_block_;
  std::vector<std::uint8_t> byte_block_;
  std::vector<Label> label_block_;
  std::int64_t rows_written_ = 0;
};

// Throws unless output.path may be written: it must not exist (unless output.overwrite), and
// its directory must. Converters call it before reading their input, to fail fast.
void CheckOutputWritable(const ConvertOutput& output);

// Checks the output as above and refuses a class-name list whose length is not K; then creates the
// datasets in a temporary file, lets add_rows add every row, writes `label_values`, `class_names`
// and the root attributes and renames the file into place. After a failure output.path is as it was
// before.
void WriteConvertedFile(const ConvertOutput& output, const ConvertedShape& shape,
                        const std::function<void(ConvertedFileWriter& writer)>& add_rows);

// The sparse counterpart of ConvertedFileWriter: rows of (columns, values) go to a CSR
// features group (io/sparse_writer.hpp), labels a block of chunk rows at a time.
class SparseConvertedFileWriter {
 public:
  SparseConvertedFileWriter(const h5::Handle& file, const ConvertOutput& output,
                            const ConvertedShape& shape);
  ~SparseConvertedFileWriter();

  // Columns from 0, strictly increasing and below shape.features.
  void AddRow(std::span<const std::int64_t> columns, std::span<const float> values, Label label);
  void Finish();

 private:
  void WriteLabels();

  ConvertedShape shape_;
  std::string context_;
  std::int64_t block_rows_ = 0;
  std::unique_ptr<SparseFeaturesWriter> features_;
  h5::Handle labels_;
  std::vector<Label> label_block_;
  std::int64_t rows_written_ = 0;
};

// WriteConvertedFile for sparse rows: the same checks, metadata and atomic rename.
void WriteSparseConvertedFile(
    const ConvertOutput& output, const ConvertedShape& shape,
    const std::function<void(SparseConvertedFileWriter& writer)>& add_rows);

}  // namespace shardmax
