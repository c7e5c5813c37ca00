#include "trainer/options.hpp"

#include <boost/program_options.hpp>
#include <cmath>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {
namespace {

constexpr const char* kUsage =
    "usage: shardmax <command> [options]\n"
    "\n"
    "commands:\n"
    "  train     train softmax regression on an HDF5 dataset (run it under mpirun)\n"
    "  evaluate  a model's loss, accuracy, per-class metrics and confusion matrix on a data file\n"
    "  predict   the predicted class (and probabilities) of every row of a data file\n"
    "  convert   write an IDX (MNIST), CSV or LIBSVM dataset as an HDF5 data file\n"
    "  inspect   describe an HDF5 file: datasets, attributes, class counts, value range\n"
    "  gen       write a synthetic multi-class HDF5 dataset\n"
    "\n"
    "`shardmax <command> --help` lists the command's options.\n";

po::options_description GeneralOptions() {
  po::options_description general("General");
  general.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(),
      "INI file of options (name = value); the command line overrides it");
  return general;
}

}  // namespace

po::options_description DatasetOptions(DatasetLayout* layout) {
  po::options_description data("Dataset names inside the HDF5 files");
  data.add_options()(
      "features-dataset", po::value(&layout->features)->default_value(layout->features),
      "2-D dataset of features (N x D)")(
      "labels-dataset", po::value(&layout->labels)->default_value(layout->labels),
      "1-D dataset of integer labels (N)");
  return data;
}

namespace {

// Options held as text or signed numbers until they are checked and converted.
struct TrainOptionText {
  std::string checkpoint_unit = "epoch";
  std::string schedule = "constant";
  std::int64_t seed = 0;
};

po::options_description TrainOptions(TrainConfig* config, TrainOptionText* text) {
  po::options_description data("Data");
  data.add_options()("train", po::value(&config->train_path), "training data file (required)")(
      "val", po::value(&config->validation_path),
      "validation data file, evaluated after every epoch (optional)")(
      "classes", po::value(&config->classes)->default_value(config->classes),
      "number of classes K; 0 takes the largest label + 1");

  po::options_description model("Model and optimization");
  model.add_options()("loss", po::value(&config->loss)->default_value(config->loss),
                      "loss: softmax (cross-entropy)")(
      "epochs", po::value(&config->epochs)->default_value(config->epochs), "passes over the data")(
      "batch-size", po::value(&config->batch_size)->default_value(config->batch_size),
      "global mini-batch size, split over the ranks; >= N rows gives full-batch gradient descent")(
      "lr", po::value(&config->optimizer.learning_rate)
                ->default_value(config->optimizer.learning_rate, "0.1"),
      "learning rate (the base rate of the schedule)")(
      "lr-schedule", po::value(&text->schedule)->default_value(text->schedule),
      "constant, or cosine: lr * (1 + cos(pi * step / total steps)) / 2")(
      "momentum",
      po::value(&config->optimizer.momentum)->default_value(config->optimizer.momentum, "0"),
      "heavy-ball momentum in [0, 1); 0 is plain SGD")(
      "weight-decay",
      po::value(&config->optimizer.weight_decay)
          ->default_value(config->optimizer.weight_decay, "0.0001"),
      "lambda in (lambda/2)||W||^2; the bias is not decayed")(
      "seed", po::value(&text->seed)->default_value(text->seed), "seed of the per-epoch shuffles")(
      "max-steps", po::value(&config->max_steps)->default_value(config->max_steps),
      "stop after this many steps in all (with a checkpoint); 0: no limit");

  po::options_description checkpoints("Checkpoints");
  checkpoints.add_options()(
      "checkpoint-dir",
      po::value(&config->checkpoint.directory)->default_value(config->checkpoint.directory),
      "directory of checkpoints")(
      "checkpoint-every",
      po::value(&config->checkpoint.every)->default_value(config->checkpoint.every),
      "write a checkpoint every this many units (and always at the end)")(
      "checkpoint-unit", po::value(&text->checkpoint_unit)->default_value(text->checkpoint_unit),
      "unit of --checkpoint-every: epoch or step")(
      "keep", po::value(&config->checkpoint.keep)->default_value(config->checkpoint.keep),
      "number of newest checkpoints kept")(
      "model", po::value(&config->model_path),
      "where the final model goes (default: <checkpoint-dir>/model.h5)")(
      "metrics-log", po::value(&config->metrics_log),
      "per-epoch metrics CSV (default: <checkpoint-dir>/metrics.csv)")(
      "resume", po::value(&config->checkpoint.resume),
      "continue from a checkpoint file, or 'auto': the newest in --checkpoint-dir (fresh start "
      "if there is none)");

  po::options_description all;
  all.add(data).add(model).add(checkpoints).add(DatasetOptions(&config->layout));
  return all;
}

po::options_description GenerateOptions(SyntheticConfig* config, std::string* type,
                                        std::int64_t* seed) {
  po::options_description generate("Synthetic dataset");
  generate.add_options()("output", po::value(&config->output_path), "output file (required)")(
      "val-output", po::value(&config->validation_output_path),
      "also write a validation file with the same classes and fresh rows")(
      "rows", po::value(&config->rows)->default_value(config->rows), "rows N")(
      "val-rows", po::value(&config->validation_rows)->default_value(config->validation_rows),
      "rows of the validation file")(
      "features", po::value(&config->features)->default_value(config->features), "features D")(
      "classes", po::value(&config->classes)->default_value(config->classes), "classes K")(
      "seed", po::value(seed)->default_value(*seed), "the file depends only on this seed")(
      "separation", po::value(&config->separation)->default_value(config->separation, "3"),
      "class means lie this many noise standard deviations from the origin")(
      "dtype", po::value(type)->default_value(*type), "feature type: float32, float64 or uint8")(
      "chunk-rows", po::value(&config->chunk_rows)->default_value(config->chunk_rows),
      "rows per HDF5 chunk and per write");
  po::options_description all;
  all.add(generate).add(DatasetOptions(&config->layout));
  return all;
}

void CheckTrainConfig(const TrainConfig& config, std::int64_t seed) {
  if (config.train_path.empty()) throw UsageError("--train is required: the training data file");
  RequireOption(config.epochs >= 1, "epochs", config.epochs, "must be at least 1");
  RequireOption(config.batch_size >= 1, "batch-size", config.batch_size, "must be at least 1");
  const double lr = config.optimizer.learning_rate;
  RequireOption(lr > 0.0 && std::isfinite(lr), "lr", lr, "must be a positive number");
  const double momentum = config.optimizer.momentum;
  RequireOption(momentum >= 0.0 && momentum < 1.0, "momentum", momentum, "must be in [0, 1)");
  const double decay = config.optimizer.weight_decay;
  RequireOption(decay >= 0.0 && std::isfinite(decay), "weight-decay", decay, "must be >= 0");
  RequireOption(config.classes == 0 || config.classes >= 2, "classes", config.classes,
          "must be 0 (from the labels) or at least 2");
  RequireOption(seed >= 0, "seed", seed, "must be >= 0");
  RequireOption(config.max_steps >= 0, "max-steps", config.max_steps, "must be >= 0");
  RequireOption(config.checkpoint.every >= 1, "checkpoint-every", config.checkpoint.every,
          "must be at least 1");
  RequireOption(config.checkpoint.keep >= 1, "keep", config.checkpoint.keep, "must be at least 1");
  if (config.checkpoint.directory.empty()) throw UsageError("--checkpoint-dir must not be empty");
}

void CheckSyntheticConfig(const SyntheticConfig& config, std::int64_t seed) {
  if (config.output_path.empty()) throw UsageError("--output is required: the file to write");
  RequireOption(config.rows >= 1, "rows", config.rows, "must be at least 1");
  RequireOption(config.validation_rows >= 1, "val-rows", config.validation_rows, "must be at least 1");
  RequireOption(config.features >= 1, "features", config.features, "must be at least 1");
  RequireOption(config.classes >= 2, "classes", config.classes, "must be at least 2");
  RequireOption(config.separation >= 0.0 && std::isfinite(config.separation), "separation",
          config.separation, "must be >= 0");
  RequireOption(config.chunk_rows >= 1, "chunk-rows", config.chunk_rows, "must be at least 1");
  RequireOption(seed >= 0, "seed", seed, "must be >= 0");
}

CheckpointUnit ParseCheckpointUnit(const std::string& unit) {
  if (unit == "epoch") return CheckpointUnit::kEpoch;
  if (unit == "step") return CheckpointUnit::kStep;
  throw UsageError("--checkpoint-unit must be 'epoch' or 'step' (got '" + unit + "')");
}

LearningRateSchedule ParseSchedule(const std::string& schedule) {
  if (schedule == "constant") return LearningRateSchedule::kConstant;
  if (schedule == "cosine") return LearningRateSchedule::kCosine;
  throw UsageError("--lr-schedule must be 'constant' or 'cosine' (got '" + schedule + "')");
}

FeatureType ParseFeatureType(const std::string& type) {
  if (type == "float32") return FeatureType::kFloat32;
  if (type == "float64") return FeatureType::kFloat64;
  if (type == "uint8") return FeatureType::kUint8;
  throw UsageError("--dtype must be float32, float64 or uint8 (got '" + type + "')");
}

// Boost.Program_options builds an error message by replacing placeholders such as %value%
// with the user's text until none is left, so text that holds a placeholder itself makes
// what() loop for ever, growing the message (found by tests/fuzz/fuzz_config: a config line
// `epochs = %value%` hung shardmax). Such text gets a message of ours instead.
std::string DescribeError(const po::error& error, const std::vector<std::string>& inputs) {
  static const std::regex kPlaceholder("%[A-Za-z_]+%");
  for (const std::string& input : inputs) {
    std::smatch match;
    if (std::regex_search(input, match, kPlaceholder)) {
      return "invalid option text '" + input + "' (it holds '" + match.str() +
             "', which the option parser cannot quote)";
    }
  }
  return error.what();
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

CommandLine ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine parsed;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    parsed.help_text = kUsage;
    return parsed;
  }
  if (args[0] == "--version") {
    parsed.command = Command::kVersion;
    return parsed;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());

  if (command == "train") {
    TrainOptionText text;
    text.seed = static_cast<std::int64_t>(parsed.train.seed);
    parsed.help_text = ParseOptions(rest, "train", TrainOptions(&parsed.train, &text));
    if (!parsed.help_text.empty()) return parsed;
    parsed.command = Command::kTrain;
    parsed.train.checkpoint.unit = ParseCheckpointUnit(text.checkpoint_unit);
    parsed.train.optimizer.schedule = ParseSchedule(text.schedule);
    CheckTrainConfig(parsed.train, text.seed);
    parsed.train.seed = static_cast<std::uint64_t>(text.seed);
    return parsed;
  }
  if (command == "gen") {
    std::string type = "float32";
    std::int64_t seed = static_cast<std::int64_t>(parsed.synthetic.seed);
    parsed.help_text = ParseOptions(rest, "gen", GenerateOptions(&parsed.synthetic, &type, &seed));
    if (!parsed.help_text.empty()) return parsed;
    parsed.command = Command::kGenerate;
    parsed.synthetic.type = ParseFeatureType(type);
    CheckSyntheticConfig(parsed.synthetic, seed);
    parsed.synthetic.seed = static_cast<std::uint64_t>(seed);
    return parsed;
  }
  throw UsageError("unknown command '" + command + "'\n" + kUsage);
}

std::string ParseOptions(const std::vector<std::string>& args, const std::string& command,
                         const po::options_description& command_options) {
  po::options_description options;
  options.add(GeneralOptions()).add(command_options);
  po::variables_map values;
  std::vector<std::string> config_lines;
  // Command line first, then the config file: the first value stored wins.
  try {
    po::store(po::command_line_parser(args).options(options).run(), values);
  } catch (const po::error& error) {
    throw UsageError(DescribeError(error, args));
  }
  if (values.count("help") != 0) {
    std::ostringstream text;
    text << "usage: shardmax " << command << " [options]\n" << options;
    return text.str();
  }
  if (values.count("config") != 0) {
    const std::string path = values["config"].as<std::string>();
    std::ifstream file(path);
    if (!file) throw UsageError("cannot read config file '" + path + "' (--config)");
    const std::string content(std::istreambuf_iterator<char>(file), {});
    config_lines = LinesOf(content);
    std::istringstream text(content);
    try {
      po::store(po::parse_config_file(text, options), values);
    } catch (const po::error& error) {
      throw UsageError("config file '" + path + "': " + DescribeError(error, config_lines));
    }
  }
  try {
    po::notify(values);
  } catch (const po::error& error) {
    std::vector<std::string> inputs = args;
    inputs.insert(inputs.end(), config_lines.begin(), config_lines.end());
    throw UsageError(DescribeError(error, inputs));
  }
  return "";
}

}  // namespace shardmax
