#include "io/text_formats.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {
namespace {

// Lines of a text file, numbered from 1, without their "\n" or "\r\n".
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path), stream_(path, std::ios::binary) {
    if (!stream_) throw UserError("cannot open '" + path + "': " + std::strerror(errno));
  }

  // Moves to the next line that holds more than blanks; false at the end of the file.
  bool NextNonBlank() {
    while (std::getline(stream_, line_)) {
      ++number_;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.find_first_not_of(" \t") != std::string::npos) return true;
    }
    if (stream_.bad()) throw UserError(Where() + ": read error: " + std::strerror(errno));
    return false;
  }

  const std::string& line() const { return line_; }
  std::int64_t number() const { return number_; }
  std::string Where() const { return StrCat("'", path_, "', line ", number_); }

 private:
  std::string path_;
  std::ifstream stream_;
  std::string line_;
  std::int64_t number_ = 0;
};

std::string_view TrimBlanks(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// from_chars takes no leading '+', which text files often have ("+1").
std::string_view DropPlus(std::string_view text) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  return text;
}

// The number spelled by the whole of `text`, if it is one and in Number's range.
template <typename Number>
std::optional<Number> ParseWhole(std::string_view text) {
  Number value{};
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// A finite float32 in decimal notation. Values too small for float32 become 0 or subnormal,
// as a C cast would make them; too large ones, NaN and infinity are refused.
std::optional<float> ParseFeature(std::string_view text) {
  text = DropPlus(text);
  std::optional<float> value = ParseWhole<float>(text);
  if (!value) {
    // from_chars calls underflow out of range.
    const std::optional<double> wide = ParseWhole<double>(text);
    if (wide && std::fabs(*wide) < std::numeric_limits<float>::min()) {
      value = static_cast<float>(*wide);
    }
  }
  if (!value || !std::isfinite(*value)) return std::nullopt;
  return value;
}

// An integer; numerical tools often write labels as 3.0 or 3.000000e+00, which count too.
std::optional<std::int64_t> ParseLabel(std::string_view text) {
  text = DropPlus(text);
  if (const auto value = ParseWhole<std::int64_t>(text)) return value;
  const std::optional<double> wide = ParseWhole<double>(text);
  constexpr double kExactLimit = 9007199254740992.0;  // 2^53: every integer below is exact
  if (!wide || !std::isfinite(*wide) || std::trunc(*wide) != *wide ||
      std::fabs(*wide) > kExactLimit) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*wide);
}

// The first pass's record of the labels: each distinct value and the line it first appears on.
using LabelLines = std::map<std::int64_t, std::int64_t>;

// Class k stands for the k-th value: the given list, or the distinct labels ascending.
std::vector<std::int64_t> ChooseLabelValues(const std::vector<std::int64_t>& given,
                                            const LabelLines& seen, const std::string& path) {
  if (given.empty()) {
    std::vector<std::int64_t> values;
    for (const auto& [label, line] : seen) values.push_back(label);
    return values;
  }
  for (const auto& [label, line] : seen) {
    if (std::find(given.begin(), given.end(), label) != given.end()) continue;
    std::string list;
    for (const std::int64_t value : given) {
      if (!list.empty()) list += ',';
      list += std::to_string(value);
    }
    throw UserError(StrCat("'", path, "', line ", line, ": label ", label,
                           " is not one of --label-values ", list));
  }
  return given;
}

class LabelMapping {
 public:
  explicit LabelMapping(const std::vector<std::int64_t>& values) {
    for (std::size_t k = 0; k < values.size(); ++k)
      class_of_.emplace(values[k], static_cast<Label>(k));
  }
  // The class of `label`; throws, naming the line, if the first pass did not see it.
  Label ClassOf(std::int64_t label, const LineReader& lines) const {
    const auto found = class_of_.find(label);
    if (found == class_of_.end()) {
      throw UserError(StrCat(lines.Where(), ": label ", label,
                             " was not there when the file was first read; did it change?"));
    }
    return found->second;
  }

 private:
  std::unordered_map<std::int64_t, Label> class_of_;
};

ConvertedShape TextShape(const std::string& format, const std::string& path, std::int64_t rows,
                         std::int64_t features, std::vector<std::int64_t> label_values) {
  ConvertedShape shape;
  shape.rows = rows;
  shape.features = features;
  shape.feature_type = FeatureType::kFloat32;
  shape.classes = static_cast<std::int64_t>(label_values.size());
  shape.label_values = std::move(label_values);
  shape.format = format;
  shape.sources = {path};
  return shape;
}

// ---- CSV ----

// Splits `line` at `delimiter` into `fields`, blanks around unquoted fields trimmed. A field
// in double quotes may hold the delimiter, and "" stands for one quote inside it. Returns
// false if a quote is left open.
bool SplitCsvLine(std::string_view line, char delimiter, std::vector<std::string>* fields) {
  fields->clear();
  std::size_t position = 0;
  while (true) {
    std::string field;
    std::size_t start = position;  // the first non-blank of this field (blanks may delimit)
    while (start < line.size() && line[start] != delimiter &&
           (line[start] == ' ' || line[start] == '\t')) {
      ++start;
    }
    if (start < line.size() && line[start] == '"') {
      std::size_t at = start + 1;
      while (true) {
        const std::size_t quote = line.find('"', at);
        if (quote == std::string_view::npos) return false;
        field.append(line.substr(at, quote - at));
        if (quote + 1 < line.size() && line[quote + 1] == '"') {
          field += '"';
          at = quote + 2;
          continue;
        }
        at = quote + 1;
        break;
      }
      const std::size_t next = line.find(delimiter, at);
      // Anything but blanks between the closing quote and the delimiter is kept, unquoted.
      field.append(TrimBlanks(line.substr(at, next == std::string_view::npos ? next : next - at)));
      fields->push_back(std::move(field));
      if (next == std::string_view::npos) return true;
      position = next + 1;
      continue;
    }
    const std::size_t next = line.find(delimiter, position);
    fields->emplace_back(
        TrimBlanks(line.substr(position, next == std::string_view::npos ? next : next - position)));
    if (next == std::string_view::npos) return true;
    position = next + 1;
  }
}

struct CsvColumns {
  std::int64_t count = 0;          // fields per line
  std::int64_t label = 0;          // index of the label column
  std::int64_t defining_line = 0;  // the line that set `count`
  std::vector<std::string> names;  // from the header, if any
};

std::int64_t FindLabelColumn(const CsvInput& input, const CsvColumns& columns) {
  if (IsColumnIndex(input.label_column)) {
    const auto index = ParseWhole<std::int64_t>(input.label_column);
    if (!index || *index >= columns.count) {
      throw UserError(StrCat("--label-column ", input.label_column, " is not a column of '",
                             input.path, "': its lines have ", columns.count,
                             " fields, numbered from 0"));
    }
    return *index;
  }
  if (columns.names.empty()) {
    throw UserError("--label-column '" + input.label_column +
                    "' is a column name, which needs --header");
  }
  const auto found = std::find(columns.names.begin(), columns.names.end(), input.label_column);
  if (found == columns.names.end()) {
    std::string names;
    for (const std::string& name : columns.names) names += (names.empty() ? "" : ", ") + name;
    throw UserError("--label-column '" + input.label_column + "': the header of '" + input.path +
                    "' has no such column (it has: " + names + ")");
  }
  if (std::find(found + 1, columns.names.end(), input.label_column) != columns.names.end()) {
    throw UserError("--label-column '" + input.label_column + "': the header of '" + input.path +
                    "' names two columns so");
  }
  return found - columns.names.begin();
}

std::string DescribeColumn(const CsvColumns& columns, std::size_t column) {
  if (column < columns.names.size())
    return StrCat("column ", column, " ('", columns.names[column], "')");
  return StrCat("column ", column);
}

using CsvVisit = std::function<void(std::span<const float> features, std::int64_t label,
                                    const LineReader& lines)>;

// Checks every line of the CSV file and calls visit for each data row; returns the columns.
CsvColumns ReadCsv(const CsvInput& input, const CsvVisit& visit) {
  LineReader lines(input.path);
  std::vector<std::string> fields;
  CsvColumns columns;
  const auto split = [&] {
    if (!SplitCsvLine(lines.line(), input.delimiter, &fields)) {
      throw UserError(lines.Where() + ": a quoted field is not closed");
    }
  };
  const auto set_columns = [&] {
    columns.count = static_cast<std::int64_t>(fields.size());
    columns.defining_line = lines.number();
    columns.label = FindLabelColumn(input, columns);
    if (columns.count < 2) {
      throw UserError(lines.Where() + ": only one column, the label; there are no features");
    }
  };
  if (input.has_header) {
    if (!lines.NextNonBlank()) {
      throw UserError("'" + input.path + "' is empty: expected a header line (--header)");
    }
    split();
    columns.names = fields;
    set_columns();
  }
  std::vector<float> features;
  std::int64_t rows = 0;
  while (lines.NextNonBlank()) {
    split();
    if (columns.count == 0) set_columns();
    if (static_cast<std::int64_t>(fields.size()) != columns.count) {
      throw UserError(StrCat(lines.Where(), ": ", fields.size(), " fields, but line ",
                             columns.defining_line, " has ", columns.count));
    }
    features.clear();
    std::int64_t label = 0;
    for (std::size_t column = 0; column < fields.size(); ++column) {
      const std::string& field = fields[column];
      if (static_cast<std::int64_t>(column) == columns.label) {
        const std::optional<std::int64_t> value = ParseLabel(field);
        if (!value) {
          throw UserError(StrCat(lines.Where(), ", ", DescribeColumn(columns, column), ": label '",
                                 field, "' is not an integer"));
        }
        label = *value;
        continue;
      }
      const std::optional<float> value = ParseFeature(field);
      if (!value) {
        throw UserError(StrCat(lines.Where(), ", ", DescribeColumn(columns, column), ": ",
                               field.empty() ? "empty field (a missing value?)"
                                             : "'" + field + "' is not a finite number"));
      }
      features.push_back(*value);
    }
    visit(features, label, lines);
    ++rows;
  }
  if (rows == 0) {
    throw UserError("'" + input.path + "' has no data rows" +
                    (input.has_header ? " after its header line" : ""));
  }
  return columns;
}

// ---- LIBSVM ----

struct SparseEntry {
  std::int64_t index;  // from 1
  float value;
};

using LibsvmVisit = std::function<void(std::span<const SparseEntry> entries, std::int64_t label,
                                       const LineReader& lines)>;

// The largest index a LIBSVM file may hold for the layout it is written in.
std::int64_t LargestIndex(FeatureLayout layout) {
  return layout == FeatureLayout::kDense ? kMaxConvertedFeatures : std::int64_t{INT32_MAX};
}

// Checks every line of the LIBSVM file and calls visit for each row.
void ReadLibsvm(const LibsvmInput& input, const LibsvmVisit& visit) {
  const std::int64_t largest_index = LargestIndex(input.layout);
  LineReader lines(input.path);
  std::vector<SparseEntry> entries;
  std::int64_t rows = 0;
  while (lines.NextNonBlank()) {
    std::string_view text = lines.line();
    text = text.substr(0, text.find('#'));
    std::vector<std::string_view> tokens;
    for (std::size_t at = text.find_first_not_of(" \t"); at != std::string_view::npos;) {
      const std::size_t end = std::min(text.find_first_of(" \t", at), text.size());
      tokens.push_back(text.substr(at, end - at));
      at = text.find_first_not_of(" \t", end);
    }
    if (tokens.empty()) continue;  // a comment line
    const std::optional<std::int64_t> label = ParseLabel(tokens[0]);
    if (!label) {
      throw UserError(StrCat(lines.Where(), ": label '", tokens[0], "' is not an integer"));
    }
    entries.clear();
    for (std::size_t t = 1; t < tokens.size(); ++t) {
      const std::string_view token = tokens[t];
      if (t == 1 && token.starts_with("qid:")) continue;  // query ids only matter for ranking
      const std::size_t colon = token.find(':');
      const std::optional<std::int64_t> index =
          colon == std::string_view::npos ? std::nullopt
                                          : ParseWhole<std::int64_t>(token.substr(0, colon));
      if (!index) {
        throw UserError(StrCat(lines.Where(), ": '", token, "' is not an index:value pair"));
      }
      if (*index < 1) {
        throw UserError(
            StrCat(lines.Where(), ": index ", *index, " in '", token, "'; indices start at 1"));
      }
      if (!entries.empty() && *index <= entries.back().index) {
        throw UserError(StrCat(lines.Where(), ": index ", *index, " follows index ",
                               entries.back().index, "; indices must increase along a line"));
      }
      if (*index > largest_index) {
        throw UserError(StrCat(lines.Where(), ": index ", *index, " is beyond the ",
                               largest_index, " features shardmax stores per row",
                               input.layout == FeatureLayout::kDense ? " (dense)" : ""));
      }
      if (input.features > 0 && *index > input.features) {
        throw UserError(
            StrCat(lines.Where(), ": index ", *index, " is beyond --features ", input.features));
      }
      const std::optional<float> value = ParseFeature(token.substr(colon + 1));
      if (!value) {
        throw UserError(StrCat(lines.Where(), ": index ", *index, ": '", token.substr(colon + 1),
                               "' is not a finite number"));
      }
      entries.push_back({*index, *value});
    }
    visit(entries, *label, lines);
    ++rows;
  }
  if (rows == 0) throw UserError("'" + input.path + "' has no data rows");
}

}  // namespace

bool IsColumnIndex(const std::string& label_column) {
  return !label_column.empty() && std::all_of(label_column.begin(), label_column.end(),
                                              [](char c) { return c >= '0' && c <= '9'; });
}

ConvertedShape ConvertCsv(const CsvInput& input, const ConvertOutput& output) {
  CheckOutputWritable(output);
  std::int64_t rows = 0;
  LabelLines seen;
  const CsvColumns columns =
      ReadCsv(input, [&](std::span<const float>, std::int64_t label, const LineReader& lines) {
        seen.try_emplace(label, lines.number());
        ++rows;
      });
  ConvertedShape shape = TextShape("csv", input.path, rows, columns.count - 1,
                                   ChooseLabelValues(input.label_values, seen, input.path));
  const LabelMapping mapping(shape.label_values);
  WriteConvertedFile(output, shape, [&](ConvertedFileWriter& writer) {
    ReadCsv(input,
            [&](std::span<const float> features, std::int64_t label, const LineReader& lines) {
              writer.AddRow(features, mapping.ClassOf(label, lines));
            });
  });
  return shape;
}

ConvertedShape ConvertLibsvm(const LibsvmInput& input, const ConvertOutput& output) {
  CheckOutputWritable(output);
  std::int64_t rows = 0;
  std::int64_t largest_index = 0;
  std::int64_t nonzeros = 0;
  LabelLines seen;
  ReadLibsvm(input, [&](std::span<const SparseEntry> entries, std::int64_t label,
                        const LineReader& lines) {
    seen.try_emplace(label, lines.number());
    if (!entries.empty()) largest_index = std::max(largest_index, entries.back().index);
    nonzeros += std::ssize(entries);
    ++rows;
  });
  const std::int64_t features = input.features > 0 ? input.features : largest_index;
  if (features == 0) {
    throw UserError("'" + input.path +
                    "' has no index:value pairs; give the width with --features");
  }
  ConvertedShape shape = TextShape("libsvm", input.path, rows, features,
                                   ChooseLabelValues(input.label_values, seen, input.path));
  const LabelMapping mapping(shape.label_values);
  shape.is_sparse =
      input.layout == FeatureLayout::kSparse ||
      (input.layout == FeatureLayout::kAuto &&
       (features > kMaxConvertedFeatures ||
        static_cast<double>(nonzeros) <=
            kSparseDensity * static_cast<double>(rows) * static_cast<double>(features)));
  if (shape.is_sparse) {
    WriteSparseConvertedFile(output, shape, [&](SparseConvertedFileWriter& writer) {
      std::vector<std::int64_t> columns;
      std::vector<float> values;
      ReadLibsvm(input, [&](std::span<const SparseEntry> entries, std::int64_t label,
                            const LineReader& lines) {
        columns.clear();
        values.clear();
        for (const SparseEntry& entry : entries) {
          if (entry.index > features) {
            throw UserError(StrCat(lines.Where(), ": index ", entry.index,
                                   " is beyond the largest index first read; did the file "
                                   "change?"));
          }
          columns.push_back(entry.index - 1);
          values.push_back(entry.value);
        }
        writer.AddRow(columns, values, mapping.ClassOf(label, lines));
      });
    });
    return shape;
  }
  WriteConvertedFile(output, shape, [&](ConvertedFileWriter& writer) {
    std::vector<float> dense(static_cast<std::size_t>(features));
    ReadLibsvm(input, [&](std::span<const SparseEntry> entries, std::int64_t label,
                          const LineReader& lines) {
      std::fill(dense.begin(), dense.end(), 0.0f);
      for (const SparseEntry& entry : entries) {
        if (entry.index > features) {
          throw UserError(StrCat(lines.Where(), ": index ", entry.index,
                                 " is beyond the largest index first read; did the file change?"));
        }
        dense[static_cast<std::size_t>(entry.index - 1)] = entry.value;
      }
      writer.AddRow(std::span<const float>(dense), mapping.ClassOf(label, lines));
    });
  });
  return shape;
}

}  // namespace shardmax
