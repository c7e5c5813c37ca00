#include "trainer/inspect_command.hpp"

#include <algorithm>
#include <filesystem>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/file_summary.hpp"
#include "io/hdf5_file.hpp"
#include "trainer/options.hpp"

namespace shardmax {
namespace {

// Rows of cells padded to common column widths; columns marked in right_aligned hold numbers.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        const std::vector<bool>& right_aligned) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string padding(widths[c] - row[c].size(), ' ');
      const bool is_right = c < right_aligned.size() && right_aligned[c];
      line += "  ";
      line += is_right ? padding : "";
      line += row[c];
      line += is_right ? "" : padding;
    }
    text += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
  }
  return text;
}

std::string JoinDims(const std::vector<std::int64_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string text;
  for (const std::int64_t size : dims) text += (text.empty() ? "" : " x ") + std::to_string(size);
  return text;
}

std::string DescribeStorage(const DatasetInfo& info) {
  std::string text = info.chunk.empty() ? "contiguous" : "chunks " + JoinDims(info.chunk);
  for (const std::string& filter : info.filters) text += ", " + filter;
  return text;
}

// The class table: one line per class 0..K-1 (K = largest label + 1, as `train` takes it),
// with its original label value and name where the file has them.
// Multi-label data: one line per label column with the rows that have it.
std::string DescribeLabelColumns(const DataSummary& summary) {
  std::string text = StrCat("  labels K: ", summary.label_columns,
                            " (multi-label: an N x K matrix of 0/1 targets)\n");
  if (summary.invalid_targets > 0) {
    text += StrCat("  targets other than 0 and 1: ", summary.invalid_targets,
                   " (training refuses them)\n");
  }
  const ClassInfo& info = summary.classes;
  std::vector<std::vector<std::string>> rows{{"label", "rows"}};
  std::vector<bool> right_aligned = {true, true};
  if (!info.class_names.empty()) {
    rows[0].push_back("name");
    right_aligned.push_back(false);
  }
  for (std::int64_t k = 0; k < summary.label_columns; ++k) {
    const auto found = summary.label_counts.find(k);
    const std::int64_t count = found == summary.label_counts.end() ? 0 : found->second;
    std::vector<std::string> row{std::to_string(k), std::to_string(count)};
    const auto index = static_cast<std::size_t>(k);
    if (!info.class_names.empty()) {
      row.push_back(index < info.class_names.size() ? info.class_names[index] : "?");
    }
    rows.push_back(std::move(row));
  }
  return text + FormatTable(rows, right_aligned);
}

std::string DescribeClasses(const DataSummary& summary) {
  if (summary.label_columns > 0) return DescribeLabelColumns(summary);
  if (summary.label_counts.empty()) return "  classes: none (no rows)\n";
  const std::int64_t smallest = summary.label_counts.begin()->first;
  const std::int64_t largest = summary.label_counts.rbegin()->first;
  const ClassInfo& info = summary.classes;
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"class", "rows"});
  std::vector<bool> right_aligned = {true, true};
  if (!info.label_values.empty()) {
    rows[0].push_back("label");
    right_aligned.push_back(true);
  }
  if (!info.class_names.empty()) {
    rows[0].push_back("name");
    right_aligned.push_back(false);
  }
  const auto add_row = [&](std::int64_t label, std::int64_t count) {
    std::vector<std::string> row = {std::to_string(label), std::to_string(count)};
    const auto k = static_cast<std::size_t>(label);
    if (!info.label_values.empty()) {
      row.push_back(
          label >= 0 && k < info.label_values.size() ? std::to_string(info.label_values[k]) : "?");
    }
    if (!info.class_names.empty()) {
      row.push_back(label >= 0 && k < info.class_names.size() ? info.class_names[k] : "?");
    }
    rows.push_back(std::move(row));
  };
  std::string text;
  if (smallest >= 0) {
    text = StrCat("  classes K: ", largest + 1, " (labels 0..", largest, ")\n");
    for (std::int64_t label = 0; label <= largest; ++label) {
      const auto found = summary.label_counts.find(label);
      add_row(label, found == summary.label_counts.end() ? 0 : found->second);
    }
  } else {
    text = StrCat("  classes: ", summary.label_counts.size(), " distinct labels from ", smallest,
                  " to ", largest, "; training needs labels 0..K-1\n");
    for (const auto& [label, count] : summary.label_counts) add_row(label, count);
  }
  for (const std::size_t size : {info.label_values.size(), info.class_names.size()}) {
    if (size != 0 && static_cast<std::int64_t>(size) != largest + 1) {
      text += StrCat("  note: the file describes ", size, " classes in 'label_values' or ",
                     "'class_names', the labels make ", largest + 1, "\n");
      break;
    }
  }
  return text + FormatTable(rows, right_aligned);
}

std::string DescribeData(const h5::Handle& file, const DatasetLayout& layout,
                         const std::string& context) {
  const DataSummary summary = SummarizeData(file, layout, context);
  std::string text = "data ('" + layout.features + "', '" + layout.labels + "'):\n";
  text += StrCat("  rows N: ", summary.rows, "\n");
  text += StrCat("  features D: ", summary.features, ", stored as ", summary.feature_type,
                 summary.feature_type == "uint8" ? " (training reads value/255)" : "", "\n");
  if (summary.nonzeros >= 0) {
    text += StrCat("  sparse (CSR): ", summary.nonzeros, " stored values, ",
                   FormatFixed(static_cast<double>(summary.nonzeros) /
                                   static_cast<double>(summary.rows), 1),
                   " per row, density ",
                   static_cast<double>(summary.nonzeros) /
                       (static_cast<double>(summary.rows) * static_cast<double>(summary.features)),
                   " (value range below: stored values only)\n");
  }
  text += StrCat("  feature values: min ", summary.min, ", max ", summary.max, ", mean ",
                 summary.mean, "\n");
  if (summary.non_finite > 0) {
    text += StrCat("  non-finite feature values: ", summary.non_finite,
                   " (training refuses NaN and infinity)\n");
  }
  return text + DescribeClasses(summary);
}

}  // namespace

std::string DescribeFile(const std::string& path, const DatasetLayout& layout) {
  const std::string context = "file '" + path + "'";
  if (!std::filesystem::is_regular_file(path)) throw UserError(context + ": no such file");
  h5::Handle file = h5::OpenFileForReading(path);

  const std::vector<AttributeText> attributes = ListAttributes(file, "/", context);
  std::string kind;
  const bool has_format = std::any_of(attributes.begin(), attributes.end(),
                                      [](const AttributeText& a) { return a.name == "format"; });
  if (has_format) {
    const std::string format = h5::ReadStringAttribute(file, "/", "format", context);
    if (format == "shardmax-model") kind = "a shardmax model";
    if (format == "shardmax-checkpoint") kind = "a shardmax checkpoint";
  }
  const bool is_data = h5::HasObject(file, layout.features) && h5::HasObject(file, layout.labels);
  if (kind.empty()) {
    kind = is_data ? "a data file"
                   : "no data in shardmax's layout (datasets '" + layout.features + "' and '" +
                         layout.labels + "')";
  }
  std::string text = "file '" + path + "': " + kind + "\n";

  text += "attributes of /:";
  std::vector<std::vector<std::string>> attribute_rows;
  for (const AttributeText& attribute : attributes) {
    attribute_rows.push_back({attribute.name, "= " + attribute.value});
  }
  text += attribute_rows.empty() ? " none\n" : "\n" + FormatTable(attribute_rows, {});

  text += "datasets:";
  std::vector<std::vector<std::string>> dataset_rows;
  for (const DatasetInfo& info : ListDatasets(file, context)) {
    dataset_rows.push_back({info.path, JoinDims(info.dims), info.type, DescribeStorage(info)});
  }
  text += dataset_rows.empty() ? " none\n" : "\n" + FormatTable(dataset_rows, {});

  if (is_data) {
    // A file with the right names but the wrong shapes is still worth listing, with the reason.
    try {
      text += DescribeData(file, layout, context);
    } catch (const UserError& error) {
      text += StrCat("data: not usable for training: ", error.what(), "\n");
    }
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

namespace {

// `inspect FILE` is `inspect --file FILE`: every option but --help takes a value, so a word
// that is neither an option nor an option's value is the file.
std::vector<std::string> FileArgumentAsOption(const std::vector<std::string>& args) {
  std::vector<std::string> options;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("-") || arg == "-") {
      files.push_back(arg);
      continue;
    }
    options.push_back(arg);
    const bool takes_value = arg != "-h" && arg != "--help" && arg.find('=') == std::string::npos;
    if (takes_value && i + 1 < args.size()) options.push_back(args[++i]);
  }
  if (files.size() > 1) {
    throw UsageError("inspect takes one file, got '" + files[0] + "' and '" + files[1] + "'");
  }
  if (!files.empty()) {
    options.push_back("--file");
    options.push_back(files[0]);
  }
  return options;
}

}  // namespace

int RunInspect(const Communicator& comm, const std::vector<std::string>& args) {
  std::string path;
  DatasetLayout layout;
  po::options_description options("Inspect");
  options.add_options()("file", po::value(&path),
                        "HDF5 file to describe (required; may also be given without --file)");
  options.add(DatasetOptions(&layout));
  const std::string help = ParseOptions(FileArgumentAsOption(args), "inspect [FILE]", options);
  if (!help.empty()) {
    LogInfo(help);
    return kExitOk;
  }
  if (path.empty()) throw UsageError("inspect needs a file: shardmax inspect FILE");
  std::string report;
  RunAndAgree(comm, [&] {
    if (comm.is_root()) report = DescribeFile(path, layout);
  });
  LogInfo(report);
  return kExitOk;
}

}  // namespace shardmax
