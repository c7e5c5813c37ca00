#include "trainer/convert_command.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <initializer_list>
#include <utility>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "trainer/options.hpp"

namespace shardmax {
namespace {

// --class-names fashion-mnist: the classes of Fashion-MNIST, by label.
const std::vector<std::string> kFashionMnistClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// The options as given: left empty (or -1) when absent, so an option that does not apply to
// --format can be refused. Defaults are applied afterwards.
struct GivenOptions {
  std::string format;
  std::string images;
  std::string labels;
  std::string dtype;
  std::string input;
  std::string label_column;
  bool header = false;
  std::string delimiter;
  std::int64_t features = -1;
  std::string layout;
  std::string label_values;
  std::string class_names;
  std::string output;
  bool overwrite = false;
  std::string compression = "none";
  int gzip_level = 4;
  std::int64_t chunk_rows = 8192;
};

po::options_description ConvertOptions(GivenOptions* given, DatasetLayout* layout) {
  po::options_description input("Input");
  input.add_options()("format", po::value(&given->format), "idx, csv or libsvm (required)")(
      "images", po::value(&given->images),
      "idx: images file (magic 0x00000803), gzip-compressed or raw (required)")(
      "labels", po::value(&given->labels),
      "idx: labels file (magic 0x00000801), gzip-compressed or raw (required)")(
      "dtype", po::value(&given->dtype),
      "idx: stored feature type: uint8 (default), or float32 holding value/255")(
      "input", po::value(&given->input), "csv, libsvm: the text file (required)")(
      "label-column", po::value(&given->label_column),
      "csv: the labels' column, a 0-based index or a header name (default 0)")(
      "header", po::bool_switch(&given->header), "csv: the first line names the columns")(
      "delimiter", po::value(&given->delimiter),
      "csv: field separator, one character or 'tab' (default ,)")(
      "features", po::value(&given->features),
      "libsvm: number of features D (default: the largest index in the file)")(
      "layout", po::value(&given->layout),
      "libsvm: store the features dense, sparse (CSR), or auto (default): sparse when at most "
      "1 value in 10 is non-zero or D > 16777216")(
      "label-values", po::value(&given->label_values),
      "csv, libsvm: comma-separated labels; class k stands for the k-th (default: the file's "
      "distinct labels, ascending)")(
      "class-names", po::value(&given->class_names),
      "comma-separated class names, one per class, or 'fashion-mnist'");
  po::options_description output("Output");
  output.add_options()("output", po::value(&given->output), "HDF5 file to write (required)")(
      "overwrite", po::bool_switch(&given->overwrite), "replace an existing --output file")(
      "compression", po::value(&given->compression)->default_value(given->compression),
      "none, gzip or shuffle-gzip")("gzip-level",
                                    po::value(&given->gzip_level)->default_value(given->gzip_level),
                                    "gzip level, 1 (fastest) to 9 (smallest)")(
      "chunk-rows", po::value(&given->chunk_rows)->default_value(given->chunk_rows),
      "rows per HDF5 chunk and per write (fewer if a chunk would pass 64 MiB)");
  po::options_description all;
  all.add(input).add(output).add(DatasetOptions(layout));
  return all;
}

// Each pair: whether the option was given, and its name.
void RefuseOptions(const std::string& format,
                   std::initializer_list<std::pair<bool, const char*>> options) {
  for (const auto& [is_given, option] : options) {
    if (is_given) throw UsageError(StrCat("--", option, " does not apply to --format ", format));
  }
}

std::string RequirePath(const std::string& path, const char* option, const std::string& format,
                        const char* what) {
  if (path.empty()) {
    throw UsageError(StrCat("--", option, " is required with --format ", format, ": ", what));
  }
  return path;
}

std::vector<std::string> SplitAtCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

std::vector<std::int64_t> ParseLabelValues(const std::string& text) {
  std::vector<std::int64_t> values;
  if (text.empty()) return values;
  for (const std::string& part : SplitAtCommas(text)) {
    std::int64_t value = 0;
    const char* begin = part.data() + (part.starts_with('+') ? 1 : 0);
    const auto result = std::from_chars(begin, part.data() + part.size(), value);
    RequireOption(
        result.ec == std::errc() && result.ptr == part.data() + part.size() && begin != result.ptr,
        "label-values", text, "must be comma-separated integers");
    RequireOption(std::find(values.begin(), values.end(), value) == values.end(), "label-values",
                  text, "must not repeat a value");
    values.push_back(value);
  }
  return values;
}

std::vector<std::string> ParseClassNames(const std::string& text) {
  if (text.empty()) return {};
  if (text == "fashion-mnist") return kFashionMnistClassNames;
  std::vector<std::string> names = SplitAtCommas(text);
  RequireOption(std::none_of(names.begin(), names.end(),
                             [](const std::string& name) { return name.empty(); }),
                "class-names", text, "must not hold an empty name");
  return names;
}

h5::Compression ParseCompression(const std::string& text) {
  if (text == "none") return h5::Compression::kNone;
  if (text == "gzip") return h5::Compression::kGzip;
  if (text == "shuffle-gzip") return h5::Compression::kShuffleGzip;
  throw UsageError("--compression must be none, gzip or shuffle-gzip (got '" + text + "')");
}

char ParseDelimiter(const std::string& text) {
  if (text.empty()) return ',';
  if (text == "tab" || text == "\\t") return '\t';
  RequireOption(text.size() == 1 && text != "\"", "delimiter", text,
                "must be one character other than a double quote, or 'tab'");
  return text[0];
}

std::string DescribeClasses(const ConvertedShape& shape) {
  std::string text = StrCat(shape.classes, shape.classes == 1 ? " class" : " classes");
  if (shape.label_values.empty()) return text;
  constexpr std::size_t kShown = 10;
  text += " (label values";
  for (std::size_t k = 0; k < std::min(shape.label_values.size(), kShown); ++k) {
    text += (k > 0 ? ", " : " ") + std::to_string(shape.label_values[k]);
  }
  if (shape.label_values.size() > kShown) text += ", ...";
  return text + " as classes 0.." + std::to_string(shape.classes - 1) + ")";
}

FeatureLayout ParseFeatureLayout(const std::string& text) {
  if (text.empty() || text == "auto") return FeatureLayout::kAuto;
  if (text == "dense") return FeatureLayout::kDense;
  if (text == "sparse") return FeatureLayout::kSparse;
  throw UsageError("--layout must be auto, dense or sparse (got '" + text + "')");
}

}  // namespace

ConvertRequest ParseConvertCommandLine(const std::vector<std::string>& args) {
  ConvertRequest request;
  GivenOptions given;
  request.help_text = ParseOptions(args, "convert", ConvertOptions(&given, &request.output.layout));
  if (!request.help_text.empty()) return request;

  if (given.format.empty()) throw UsageError("--format is required: idx, csv or libsvm");
  if (given.output.empty()) throw UsageError("--output is required: the HDF5 file to write");
  const std::string& format = given.format;
  const std::vector<std::int64_t> label_values = ParseLabelValues(given.label_values);
  if (format == "idx") {
    request.format = InputFormat::kIdx;
    RefuseOptions(format, {{!given.input.empty(), "input"},
                           {!given.label_column.empty(), "label-column"},
                           {given.header, "header"},
                           {!given.delimiter.empty(), "delimiter"},
                           {given.features != -1, "features"},
                           {!given.layout.empty(), "layout"},
                           {!label_values.empty(), "label-values"}});
    request.idx.images_path = RequirePath(given.images, "images", format, "the IDX images file");
    request.idx.labels_path = RequirePath(given.labels, "labels", format, "the IDX labels file");
    if (given.dtype == "float32") {
      request.idx.feature_type = FeatureType::kFloat32;
    } else if (!given.dtype.empty() && given.dtype != "uint8") {
      throw UsageError("--dtype must be uint8 or float32 (got '" + given.dtype + "')");
    }
  } else if (format == "csv" || format == "libsvm") {
    RefuseOptions(format, {{!given.images.empty(), "images"},
                           {!given.labels.empty(), "labels"},
                           {!given.dtype.empty(), "dtype"}});
    const std::string path = RequirePath(given.input, "input", format, "the text file");
    if (format == "csv") {
      RefuseOptions(format,
                    {{given.features != -1, "features"}, {!given.layout.empty(), "layout"}});
      request.format = InputFormat::kCsv;
      request.csv.path = path;
      if (!given.label_column.empty()) request.csv.label_column = given.label_column;
      if (!given.header && !IsColumnIndex(request.csv.label_column)) {
        throw UsageError("--label-column '" + request.csv.label_column +
                         "' is a column name, which needs --header");
      }
      request.csv.has_header = given.header;
      request.csv.delimiter = ParseDelimiter(given.delimiter);
      request.csv.label_values = label_values;
    } else {
      RefuseOptions(format, {{!given.label_column.empty(), "label-column"},
                             {given.header, "header"},
                             {!given.delimiter.empty(), "delimiter"}});
      request.format = InputFormat::kLibsvm;
      request.libsvm.path = path;
      request.libsvm.layout = ParseFeatureLayout(given.layout);
      if (given.features != -1) {
        if (request.libsvm.layout == FeatureLayout::kDense) {
          RequireOption(given.features >= 1 && given.features <= kMaxConvertedFeatures,
                        "features", given.features, "must be 1 to 16777216 with --layout dense");
        }
        RequireOption(given.features >= 1 && given.features <= INT32_MAX, "features",
                      given.features, "must be 1 to 2147483647");
        request.libsvm.features = given.features;
      }
      request.libsvm.label_values = label_values;
    }
  } else {
    throw UsageError("--format must be idx, csv or libsvm (got '" + format + "')");
  }

  RequireOption(given.gzip_level >= 1 && given.gzip_level <= 9, "gzip-level", given.gzip_level,
                "must be 1 to 9");
  RequireOption(given.chunk_rows >= 1, "chunk-rows", given.chunk_rows, "must be at least 1");
  request.output.path = given.output;
  request.output.overwrite = given.overwrite;
  request.output.storage =
      h5::Storage{given.chunk_rows, ParseCompression(given.compression), given.gzip_level};
  request.output.class_names = ParseClassNames(given.class_names);
  return request;
}

int RunConvert(const Communicator& comm, const std::vector<std::string>& args) {
  const ConvertRequest request = ParseConvertCommandLine(args);
  if (!request.help_text.empty()) {
    LogInfo(request.help_text);
    return kExitOk;
  }
  ConvertedShape shape;
  // One writer: the converters stream, and the other ranks only wait for the outcome.
  RunAndAgree(comm, [&] {
    if (!comm.is_root()) return;
    switch (request.format) {
      case InputFormat::kIdx:
        shape = ConvertIdx(request.idx, request.output);
        break;
      case InputFormat::kCsv:
        shape = ConvertCsv(request.csv, request.output);
        break;
      case InputFormat::kLibsvm:
        shape = ConvertLibsvm(request.libsvm, request.output);
        break;
    }
  });
  if (comm.is_root()) {
    LogInfo(StrCat("wrote ", shape.rows, " rows x ", shape.features, " features (",
                   shape.feature_type == FeatureType::kUint8 ? "uint8" : "float32",
                   shape.is_sparse ? ", sparse" : "", "), ",
                   DescribeClasses(shape), " from ", shape.QuotedSources(), " to '",
                   request.output.path, "'"));
  }
  return kExitOk;
}

}  // namespace shardmax
