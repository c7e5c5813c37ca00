#include "trainer/predict_command.hpp"

#include <memory>
#include <optional>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/scoring.hpp"
#include "io/dataset_reader.hpp"
#include "io/prediction_writer.hpp"
#include "trainer/options.hpp"
#include "trainer/scoring_inputs.hpp"
#include "trainer/sharded_objective.hpp"

namespace shardmax {
namespace {

struct PredictConfig {
  PredictionOutput output;
  std::string format;  // "": from the output's extension
  DatasetLayout layout;
  std::optional<double> threshold;
  StreamConfig streaming;
  int threads = 1;
};

po::options_description PredictOptions(PredictConfig* config) {
  po::options_description options("Predict");
  options.add_options()("model", po::value(&config->output.model_path),
                        "model file or checkpoint (required)")(
      "data", po::value(&config->output.data_path),
      "data file to predict; a labels dataset is not needed (required)")(
      "output", po::value(&config->output.path), "file to write the predictions to (required)")(
      "format", po::value(&config->format),
      "output format: hdf5 or csv (default: csv if --output ends in .csv, else hdf5)")(
      "probabilities", po::bool_switch(&config->output.probabilities),
      "also write the K class probabilities of every row (softmax and sigmoid models)")(
      "overwrite", po::bool_switch(&config->output.overwrite),
      "replace --output if it exists (else that is an error)")(
      "features-dataset", po::value(&config->layout.features)->default_value(config->layout.features),
      "2-D dataset of features (N x D)");
  options.add(ThresholdOption(&config->threshold)).add(StreamOptions(&config->streaming));
  options.add(ThreadsOption(&config->threads));
  return options;
}

PredictionFormat ParseFormat(const std::string& format, const std::string& output_path) {
  if (format == "hdf5") return PredictionFormat::kHdf5;
  if (format == "csv") return PredictionFormat::kCsv;
  if (format.empty()) {
    const bool is_csv =
        output_path.size() >= 4 && output_path.compare(output_path.size() - 4, 4, ".csv") == 0;
    return is_csv ? PredictionFormat::kCsv : PredictionFormat::kHdf5;
  }
  throw UsageError("--format must be 'hdf5' or 'csv' (got '" + format + "')");
}

void CheckPredictConfig(const PredictConfig& config) {
  if (config.output.model_path.empty()) {
    throw UsageError("--model is required: the model or checkpoint");
  }
  if (config.output.data_path.empty()) throw UsageError("--data is required: the data to predict");
  if (config.output.path.empty()) throw UsageError("--output is required: the file to write");
}

}  // namespace

int RunPredict(const Communicator& comm, const std::vector<std::string>& args) {
  PredictConfig config;
  const std::string help = ParseOptions(args, "predict", PredictOptions(&config));
  if (!help.empty()) {
    LogInfo(help);
    return kExitOk;
  }
  CheckPredictConfig(config);
  PredictionOutput& output = config.output;
  output.format = ParseFormat(config.format, output.path);
  CheckPredictionOutput(comm, output);  // before any work
  WarnIfThreadsShareCpus(comm, config.threads);

  const ModelFile model = LoadModel(comm, output.model_path);
  const std::unique_ptr<Loss> loss = MakeLoss(model.loss);
  if (output.probabilities && !loss->has_probabilities()) {
    throw UsageError("--probabilities: model '" + output.model_path + "' was trained with loss '" +
                     model.loss + "', whose scores are not probabilities (softmax and sigmoid "
                     "models give them)");
  }
  ScoringRequest request;
  request.probabilities = output.probabilities;
  request.multi_label = loss->is_multi_label();
  request.threshold = ChooseThreshold(config.threshold, model, output.model_path);
  output.multi_label = request.multi_label;
  const Shard shard =
      ReadShard(comm, output.data_path, config.layout, ShardLabels::kSkip, 0,
                ForWholePasses(config.streaming));
  CheckDataFitsModel(shard, model, output.model_path);
  // A multi-label model's outputs are labels in their own right: no class to map to a value.
  if (!output.multi_label) {
    output.label_values = ResolveClassInfo(model, output.model_path, shard).label_values;
  }

  WritePredictions(comm, output, shard.total_rows, model.model.classes(), shard.rows,
                   [&](const PredictionSink& sink) {
                     // Blocks scored on config.threads threads, written in order by this one.
                     std::int64_t first_row = shard.rows.begin;
                     ForEachBlockInOrder<BlockScores>(
                         shard, config.threads, [] { return BlockScores(); },
                         [&](const RowBlock& block, BlockScores* scores) {
                           ScoreBlock(model.model, block, request, scores);
                         },
                         [&](const RowBlock& block, const BlockScores& scores) {
                           sink(PredictionBlock{
                               first_row, scores.predicted,
                               output.probabilities ? &scores.probabilities : nullptr,
                               output.multi_label ? &scores.decisions : nullptr});
                           first_row += block.rows();
                         });
                   });

  std::string columns = "predicted";
  if (output.multi_label) {
    columns += StrCat(": ", model.model.classes(), " label decisions at threshold ",
                      request.threshold);
  }
  if (!output.label_values.empty()) columns += ", predicted_label";
  if (output.probabilities) columns += ", probabilities";
  LogInfo(StrCat("wrote predictions of ", shard.total_rows, " rows (", columns, ") as ",
                 output.format == PredictionFormat::kCsv ? "CSV" : "HDF5", " to '", output.path,
                 "'"));
  return kExitOk;
}

}  // namespace shardmax
