#include "trainer/evaluate_command.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "common/classification_metrics.hpp"
#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/json_writer.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"
#include "trainer/options.hpp"
#include "trainer/scoring_inputs.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {
namespace {

// Top-k is reported by default only when it says more than accuracy and less than "everything".
constexpr std::int64_t kDefaultTopK = 5;
constexpr std::int64_t kTopKFromClassCount = -1;
// Longest class name shown in a column of the confusion matrix and in the class column.
constexpr std::size_t kMaxColumnName = 12;
constexpr std::size_t kMaxRowName = 24;

struct EvaluateConfig {
  std::string model_path;
  std::string data_path;
  std::string json_path;  // optional
  std::int64_t top_k = kTopKFromClassCount;
  std::optional<double> threshold;
  DatasetLayout layout;
  StreamConfig streaming;
  int threads = 1;
};

// Everything the terminal report and the JSON are made from.
struct EvaluationResult {
  const EvaluateConfig& config;
  const Shard& shard;
  const ModelFile& model;
  const ClassInfo& classes;
  const Evaluation& evaluation;
  const ClassificationReport& report;
  int ranks = 1;
};

po::options_description EvaluateOptions(EvaluateConfig* config) {
  po::options_description options("Evaluate");
  options.add_options()("model", po::value(&config->model_path),
                        "model file or checkpoint to evaluate (required)")(
      "data", po::value(&config->data_path), "labelled data file (required)")(
      "top-k", po::value(&config->top_k),
      "also report top-k accuracy for this k in 1..K (default: 5 when K > 5, else not "
      "reported)")("json", po::value(&config->json_path),
                   "also write the results as JSON to this file (replaced atomically)");
  po::options_description all;
  all.add(options).add(ThresholdOption(&config->threshold)).add(DatasetOptions(&config->layout));
  all.add(StreamOptions(&config->streaming)).add(ThreadsOption(&config->threads));
  return all;
}

void CheckEvaluateConfig(const EvaluateConfig& config) {
  if (config.model_path.empty()) throw UsageError("--model is required: the model or checkpoint");
  if (config.data_path.empty()) throw UsageError("--data is required: the labelled data file");
  if (config.top_k != kTopKFromClassCount) {
    RequireOption(config.top_k >= 1, "top-k", config.top_k, "must be at least 1");
  }
}

// The k to count top-k hits for, or 0 for none.
std::int64_t ChooseTopK(const EvaluateConfig& config, std::int64_t classes, bool multi_label) {
  if (config.top_k == kTopKFromClassCount) {
    return classes > kDefaultTopK && !multi_label ? kDefaultTopK : 0;
  }
  if (multi_label) {
    throw UsageError("--top-k applies to single-label models; model '" + config.model_path +
                     "' is multi-label (loss 'sigmoid')");
  }
  if (config.top_k > classes) {
    throw UsageError(StrCat("--top-k ", config.top_k, " is more than the ", classes,
                            " classes of model '", config.model_path, "'"));
  }
  return config.top_k;
}

// A JSON file written at the end would lose the whole evaluation to a typo: check its
// directory first (rank 0 speaks for the shared file system).
void CheckJsonDirectory(const Communicator& comm, const std::string& json_path) {
  RunAndAgree(comm, [&] {
    if (!comm.is_root() || json_path.empty()) return;
    const std::filesystem::path directory = std::filesystem::path(json_path).parent_path();
    if (!directory.empty() && !std::filesystem::is_directory(directory)) {
      throw UserError("cannot write '" + json_path + "' (--json): no directory '" +
                      directory.string() + "'");
    }
  });
}

// Characters on screen (UTF-8 code points), not bytes.
std::size_t DisplayWidth(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// At most `width` characters, ending in "..." if cut; never splits a UTF-8 character.
std::string Shorten(const std::string& text, std::size_t width) {
  if (DisplayWidth(text) <= width) return text;
  std::size_t kept = 0;
  std::size_t end = 0;
  while (end < text.size()) {
    std::size_t next = end + 1;
    while (next < text.size() && (text[next] & 0xC0) == 0x80) ++next;
    if (kept + 1 > width - 3) break;
    ++kept;
    end = next;
  }
  return text.substr(0, end) + "...";
}

// Rows of cells printed in aligned columns: the first left-aligned, the others right-aligned.
class TextTable {
 public:
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  std::string Format() const {
    std::vector<std::size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()), 0);
      for (std::size_t c = 0; c < row.size(); ++c) {
        widths[c] = std::max(widths[c], DisplayWidth(row[c]));
      }
    }
    std::string text;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::string padding(widths[c] - DisplayWidth(row[c]), ' ');
        line += c == 0 ? row[c] + padding : "  " + padding + row[c];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      text += line + "\n";
    }
    return text;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string FormatPercent(std::int64_t count, std::int64_t total) {
  return FormatFixed(100.0 * static_cast<double>(count) / static_cast<double>(total), 2) + "%";
}

std::vector<std::string> ScoreCells(const std::string& name, const ClassScores& scores) {
  return {name, FormatFixed(scores.precision, 4), FormatFixed(scores.recall, 4),
          FormatFixed(scores.f1, 4), std::to_string(scores.support)};
}

// The first two lines of both reports: what was evaluated on what, then loss and objective.
std::string ReportHeading(const EvaluateConfig& config, std::int64_t rows,
                          std::int64_t features, const std::string& outputs, int ranks,
                          const Metrics& metrics, double weight_decay) {
  return StrCat("evaluated model '", config.model_path, "' on '", config.data_path, "': ", rows,
                " rows x ", features, " features, ", outputs, ", ", ranks,
                ranks == 1 ? " rank\n" : " ranks\n", "loss ", FormatFixed(metrics.loss, 6),
                "  objective ", FormatFixed(metrics.objective, 6), "  (weight decay ",
                weight_decay, ")\n");
}

// precision / recall / f1 / support per class (or label), then the averages given.
std::string ScoreTable(const std::string& first_column, const std::vector<std::string>& names,
                       const std::vector<ClassScores>& scores,
                       const std::vector<std::pair<std::string, ClassScores>>& averages) {
  TextTable table;
  table.AddRow({first_column, "precision", "recall", "f1", "support"});
  for (std::size_t k = 0; k < scores.size(); ++k) {
    table.AddRow(ScoreCells(Shorten(names[k], kMaxRowName), scores[k]));
  }
  for (const auto& average : averages) table.AddRow(ScoreCells(average.first, average.second));
  return table.Format();
}

std::string FormatText(const EvaluationResult& result) {
  const ClassificationReport& report = result.report;
  const Metrics& metrics = result.evaluation.metrics;
  const std::int64_t classes = result.model.model.classes();
  const std::vector<std::string> names = DisplayNames(result.classes, classes);

  std::string text =
      ReportHeading(result.config, report.rows, result.shard.feature_count,
                    StrCat(classes, " classes"), result.ranks, metrics, result.model.weight_decay);
  text += StrCat("accuracy ", FormatPercent(report.correct, report.rows), "  (", report.correct,
                 " of ", report.rows, " rows)\n");
  if (result.evaluation.top_k > 0) {
    text += StrCat("top-", result.evaluation.top_k, " accuracy ",
                   FormatPercent(result.evaluation.top_k_hits, report.rows), "  (",
                   result.evaluation.top_k_hits, " of ", report.rows, " rows)\n");
  }

  text += "\n";
  text += ScoreTable("class", names, report.per_class,
                     {{"macro avg", report.macro}, {"weighted avg", report.weighted}});
  text += "\n";
  if (classes > kMaxPrintedConfusionClasses) {
    text += StrCat("confusion matrix: not printed for ", classes, " classes (more than ",
                   kMaxPrintedConfusionClasses, "); --json writes it\n");
    return text;
  }
  text += "confusion matrix (rows: true class, columns: predicted class)\n";
  // Every column as wide as the widest, so the matrix reads as a grid.
  std::vector<std::string> header{""};
  std::size_t column_width = 0;
  for (const std::string& name : names) {
    header.push_back(Shorten(name, kMaxColumnName));
    column_width = std::max(column_width, DisplayWidth(header.back()));
  }
  for (std::int64_t t = 0; t < classes; ++t) {
    for (std::int64_t p = 0; p < classes; ++p) {
      column_width =
          std::max(column_width, std::to_string(result.evaluation.confusion.at(t, p)).size());
    }
  }
  for (std::size_t c = 1; c < header.size(); ++c) {
    header[c].insert(0, column_width - DisplayWidth(header[c]), ' ');
  }
  TextTable confusion;
  confusion.AddRow(std::move(header));
  for (std::int64_t t = 0; t < classes; ++t) {
    std::vector<std::string> row{Shorten(names[static_cast<std::size_t>(t)], kMaxRowName)};
    for (std::int64_t p = 0; p < classes; ++p) {
      row.push_back(std::to_string(result.evaluation.confusion.at(t, p)));
    }
    confusion.AddRow(std::move(row));
  }
  text += confusion.Format();
  return text;
}

void AddScores(JsonWriter* json, const ClassScores& scores) {
  json->Key("precision").Value(scores.precision);
  json->Key("recall").Value(scores.recall);
  json->Key("f1").Value(scores.f1);
  json->Key("support").Value(scores.support);
}

// The fields both JSON reports open with; `multi_label` is written only when true.
void AddJsonHeading(JsonWriter* json, const EvaluateConfig& config, bool multi_label,
                    std::int64_t rows, std::int64_t features, std::int64_t classes,
                    const Metrics& metrics, double weight_decay) {
  json->Key("format").Value("shardmax-evaluation");
  json->Key("format_version").Value(1);
  json->Key("model").Value(config.model_path);
  json->Key("data").Value(config.data_path);
  if (multi_label) json->Key("multi_label").Value(true);
  json->Key("rows").Value(rows);
  json->Key("features").Value(features);
  json->Key("classes").Value(classes);
  json->Key("loss").Value(metrics.loss);
  json->Key("weight_decay").Value(weight_decay);
  json->Key("objective").Value(metrics.objective);
}

// "<array_key>": one object per class (or label) k: {"<index_key>": k, ["name",]
// ["label_value",] scores..., "predicted"}.
void AddJsonScoresPerClass(JsonWriter* json, const std::string& array_key,
                           const std::string& index_key, const std::vector<ClassScores>& scores,
                           const std::vector<std::string>& names, bool with_names,
                           const std::vector<std::int64_t>& label_values) {
  json->Key(array_key).BeginArray();
  for (std::size_t k = 0; k < scores.size(); ++k) {
    json->BeginObject(JsonWriter::Layout::kOneLine);
    json->Key(index_key).Value(static_cast<std::int64_t>(k));
    if (with_names) json->Key("name").Value(names[k]);
    if (!label_values.empty()) json->Key("label_value").Value(label_values[k]);
    AddScores(json, scores[k]);
    json->Key("predicted").Value(scores[k].predicted);
    json->EndObject();
  }
  json->EndArray();
}

std::string FormatJson(const EvaluationResult& result) {
  const ClassificationReport& report = result.report;
  const Evaluation& evaluation = result.evaluation;
  const std::int64_t classes = result.model.model.classes();
  const std::vector<std::string> names = DisplayNames(result.classes, classes);
  const bool has_names = !result.classes.class_names.empty();
  const bool has_label_values = !result.classes.label_values.empty();

  JsonWriter json;
  json.BeginObject();
  AddJsonHeading(&json, result.config, false, report.rows, result.shard.feature_count, classes,
                 evaluation.metrics, result.model.weight_decay);
  json.Key("accuracy").Value(report.accuracy);
  json.Key("correct").Value(report.correct);
  if (evaluation.top_k > 0) {
    json.Key("top_k").Value(evaluation.top_k);
    json.Key("top_k_accuracy")
        .Value(static_cast<double>(evaluation.top_k_hits) / static_cast<double>(report.rows));
    json.Key("top_k_correct").Value(evaluation.top_k_hits);
  }
  AddJsonScoresPerClass(&json, "per_class", "class", report.per_class, names,
                        has_names || has_label_values, result.classes.label_values);
  json.Key("macro_avg").BeginObject(JsonWriter::Layout::kOneLine);
  AddScores(&json, report.macro);
  json.EndObject();
  json.Key("weighted_avg").BeginObject(JsonWriter::Layout::kOneLine);
  AddScores(&json, report.weighted);
  json.EndObject();
  json.Key("confusion_matrix").BeginArray();
  for (std::int64_t t = 0; t < classes; ++t) {
    json.BeginArray(JsonWriter::Layout::kOneLine);
    for (std::int64_t p = 0; p < classes; ++p) json.Value(evaluation.confusion.at(t, p));
    json.EndArray();
  }
  json.EndArray();
  json.EndObject();
  return json.Finish();
}

// Everything the multi-label report and JSON are made from.
struct MultiLabelResult {
  const EvaluateConfig& config;
  const Shard& shard;
  const ModelFile& model;
  const ClassInfo& classes;
  const MultiLabelEvaluation& evaluation;
  const MultiLabelReport& report;
  int ranks = 1;
};

std::string FormatMultiLabelText(const MultiLabelResult& result) {
  const MultiLabelReport& report = result.report;
  const Metrics& metrics = result.evaluation.metrics;
  const std::int64_t labels = result.model.model.classes();
  const std::vector<std::string> names = DisplayNames(result.classes, labels);
  std::int64_t wrong_decisions = 0;
  for (const LabelCounts& counts : result.evaluation.counts.per_label) {
    wrong_decisions += counts.false_positives + counts.false_negatives;
  }

  std::string text = ReportHeading(result.config, report.rows, result.shard.feature_count,
                                   StrCat(labels, " labels (multi-label)"), result.ranks,
                                   metrics, result.model.weight_decay);
  text += StrCat("threshold ", result.evaluation.threshold, "\n");
  text += StrCat("subset accuracy ", FormatPercent(report.exact_rows, report.rows), "  (",
                 report.exact_rows, " of ", report.rows, " rows with every label right)\n");
  text += StrCat("hamming loss ", FormatFixed(report.hamming_loss, 4), "  (", wrong_decisions,
                 " of ", report.rows * labels, " label decisions wrong)\n");

  text += "\n";
  text += ScoreTable("label", names, report.per_label,
                     {{"micro avg", report.micro}, {"macro avg", report.macro}});
  return text;
}

std::string FormatMultiLabelJson(const MultiLabelResult& result) {
  const MultiLabelReport& report = result.report;
  const std::int64_t labels = result.model.model.classes();
  const std::vector<std::string> names = DisplayNames(result.classes, labels);

  JsonWriter json;
  json.BeginObject();
  AddJsonHeading(&json, result.config, true, report.rows, result.shard.feature_count, labels,
                 result.evaluation.metrics, result.model.weight_decay);
  json.Key("threshold").Value(result.evaluation.threshold);
  json.Key("subset_accuracy").Value(report.subset_accuracy);
  json.Key("exact_rows").Value(report.exact_rows);
  json.Key("hamming_loss").Value(report.hamming_loss);
  AddJsonScoresPerClass(&json, "per_label", "label", report.per_label, names,
                        !result.classes.class_names.empty(), {});
  json.Key("micro_avg").BeginObject(JsonWriter::Layout::kOneLine);
  AddScores(&json, report.micro);
  json.EndObject();
  json.Key("macro_avg").BeginObject(JsonWriter::Layout::kOneLine);
  AddScores(&json, report.macro);
  json.EndObject();
  json.EndObject();
  return json.Finish();
}

void WriteTextFile(const std::string& path, const std::string& text) {
  WriteFileAtomically(path, [&](const std::string& temporary) {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) throw UserError("cannot write '" + temporary + "'");
  });
}

}  // namespace

int RunEvaluate(const Communicator& comm, const std::vector<std::string>& args) {
  EvaluateConfig config;
  const std::string help = ParseOptions(args, "evaluate", EvaluateOptions(&config));
  if (!help.empty()) {
    LogInfo(help);
    return kExitOk;
  }
  CheckEvaluateConfig(config);
  CheckJsonDirectory(comm, config.json_path);
  WarnIfThreadsShareCpus(comm, config.threads);

  const ModelFile model = LoadModel(comm, config.model_path);
  const std::unique_ptr<Loss> loss = MakeLoss(model.loss);
  const std::int64_t classes = model.model.classes();
  const std::int64_t top_k = ChooseTopK(config, classes, loss->is_multi_label());
  const double threshold = ChooseThreshold(config.threshold, model, config.model_path);
  const Shard shard =
      ReadShard(comm, config.data_path, config.layout, ShardLabels::kRead, 0,
                ForWholePasses(config.streaming));
  CheckDataFitsModel(shard, model, config.model_path);
  const std::string model_source = "model '" + config.model_path + "'";
  CheckLabelsSuitLoss(shard, config.layout, *loss, model_source);
  CheckLabelsBelow(comm, shard, config.layout, classes, model_source);
  const ClassInfo class_info = ResolveClassInfo(model, config.model_path, shard);
  // The model takes raw features, but its decay penalized the weights as trained.
  const double penalty = TrainedWeightDecayPenalty(model);

  std::string text;
  std::string json;
  if (loss->is_multi_label()) {
    MultiLabelEvaluation evaluation = EvaluateMultiLabelSharded(
        comm, *loss, model.model, shard, model.weight_decay, threshold, config.threads);
    evaluation.metrics.objective = evaluation.metrics.loss + penalty;
    const MultiLabelReport report = ComputeMultiLabelReport(evaluation.counts);
    const MultiLabelResult result{config, shard, model, class_info, evaluation, report,
                                  comm.size()};
    text = FormatMultiLabelText(result);
    if (!config.json_path.empty()) json = FormatMultiLabelJson(result);
  } else {
    Evaluation evaluation =
        EvaluateShardedInDetail(comm, *loss, model.model, shard, model.weight_decay, top_k,
                                config.threads);
    evaluation.metrics.objective = evaluation.metrics.loss + penalty;
    const ClassificationReport report = ComputeClassificationReport(evaluation.confusion);
    const EvaluationResult result{config,     shard,  model,      class_info,
                                  evaluation, report, comm.size()};
    text = FormatText(result);
    if (!config.json_path.empty()) json = FormatJson(result);
  }
  text.pop_back();  // LogInfo ends the line
  LogInfo(text);
  if (!config.json_path.empty()) {
    RunAndAgree(comm, [&] {
      if (comm.is_root()) WriteTextFile(config.json_path, json);
    });
    LogInfo("wrote '" + config.json_path + "'");
  }
  return kExitOk;
}

}  // namespace shardmax
