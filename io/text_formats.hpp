// Text inputs of `shardmax convert`, stored as float32 features, dense (or for LIBSVM sparse
// when the data is: LibsvmInput::layout):
//   CSV: one row per line, the label in one column and a feature in every other;
//   LIBSVM / SVMlight: `label [qid:q] index:value ... [# comment]`, indices from 1, absent
//   indices are 0.
// Labels may be any integers: class k stands for the k-th of the label values (by default the
// distinct labels of the file in ascending order), which are stored as `label_values`.
// Each file is read twice, once to check every line and learn N, D and the labels, then to
// write, so memory stays at one block of rows whatever the size of the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/converted_file.hpp"

namespace shardmax {

struct CsvInput {
  std::string path;
  std::string label_column = "0";  // a 0-based index, or a column name from the header line
  bool has_header = false;
  char delimiter = ',';
  std::vector<std::int64_t> label_values;  // optional: class k is label_values[k]
};

// How ConvertLibsvm stores the features: kAuto writes the sparse (CSR) layout when at most one
// value in kSparseDensity is non-zero or D is beyond kMaxConvertedFeatures, else dense.
enum class FeatureLayout { kAuto, kDense, kSparse };
inline constexpr double kSparseDensity = 0.1;

struct LibsvmInput {
  std::string path;
  std::int64_t features = 0;               // D; 0 takes the largest index in the file
  std::vector<std::int64_t> label_values;  // optional: class k is label_values[k]
  FeatureLayout layout = FeatureLayout::kAuto;
};

// Whether a --label-column value is a column index (digits only) rather than a header name.
bool IsColumnIndex(const std::string& label_column);

ConvertedShape ConvertCsv(const CsvInput& input, const ConvertOutput& output);
ConvertedShape ConvertLibsvm(const LibsvmInput& input, const ConvertOutput& output);

}  // namespace shardmax
