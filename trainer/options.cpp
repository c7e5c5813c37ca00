#include "trainer/options.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <climits>
#include <cmath>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/loss.hpp"
#include "io/dataset_reader.hpp"
#include "io/virtual_shards.hpp"
#include "trainer/training.hpp"

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
    "  gen       write a synthetic multi-class (or multi-label) HDF5 dataset\n"
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
      "2-D dataset of features (N x D), or a group of sparse CSR features")(
      "labels-dataset", po::value(&layout->labels)->default_value(layout->labels),
      "1-D dataset of integer labels (N)");
  return data;
}

po::options_description StreamOptions(StreamConfig* streaming) {
  po::options_description options("Streaming (out-of-core reading)");
  options.add_options()(
      "stream", po::bool_switch(&streaming->force),
      "read each rank's rows from the file in chunks instead of holding them in memory")(
      "memory-budget",
      po::value<std::int64_t>()->notifier([streaming](std::int64_t megabytes) {
        RequireOption(megabytes >= 0, "memory-budget", megabytes, "must be >= 0 (MiB)");
        streaming->memory_budget_mb = megabytes;
      }),
      "MiB per rank for the data: a shard that needs more is streamed, in chunks whose two "
      "buffers fit (default 0: no budget)")(
      "stream-chunk-rows",
      po::value<std::int64_t>()->notifier([streaming](std::int64_t rows) {
        RequireOption(rows >= 0 && rows % kBlockRows == 0, "stream-chunk-rows", rows,
                      "must be a multiple of 1024 (0: from the budget)");
        streaming->chunk_rows = rows;
      }),
      "rows per streamed chunk, overriding the budget's choice (default 0: from the budget)")(
      "stream-read-ahead",
      po::value<std::string>()->notifier([streaming](const std::string& mode) {
        if (mode == "auto") {
          streaming->read_ahead = ReadAhead::kAuto;
        } else if (mode == "on") {
          streaming->read_ahead = ReadAhead::kOn;
        } else if (mode == "off") {
          streaming->read_ahead = ReadAhead::kOff;
        } else {
          throw UsageError("--stream-read-ahead must be 'auto', 'on' or 'off' (got '" + mode +
                           "')");
        }
      }),
      "read the next chunk in a background thread while a pass computes: on, off, or auto "
      "(default: on where the rank may use two CPUs or more)")(
      "stream-mmap",
      po::value<std::string>()->notifier([streaming](const std::string& mode) {
        if (mode != "on" && mode != "off") {
          throw UsageError("--stream-mmap must be 'on' or 'off' (got '" + mode + "')");
        }
        streaming->map_rows = mode == "on";
      }),
      "on: read the features where they lie in the file, through a read-only memory map, "
      "when they are stored as computed on (float32 or uint8, uncompressed); off: copy every "
      "chunk through HDF5 (default: on)");
  static_assert(kBlockRows == 1024, "the message above names the block size");
  return options;
}

po::options_description ThreadsOption(int* threads) {
  po::options_description options("Threads");
  options.add_options()(
      "threads",
      po::value<std::int64_t>()->default_value(*threads)->notifier([threads](std::int64_t count) {
        RequireOption(count >= 1 && count <= kMaxThreads, "threads", count,
                      "must be from 1 to 1024");
        *threads = static_cast<int>(count);
      }),
      "threads per rank of full passes over the data (L-BFGS, evaluation, prediction); the "
      "results do not depend on it");
  static_assert(kMaxThreads == 1024, "the message above names the limit");
  return options;
}

namespace {

// Options held as text or signed numbers until they are checked and converted.
struct TrainOptionText {
  std::string checkpoint_unit = "epoch";
  std::string schedule = "constant";
  std::string solver = "sgd";
  std::int64_t seed = 0;
  std::string class_weight = "none";
  std::string init_bias = "zero";
  std::string precision = "auto";
  std::string newton_preconditioner = "auto";
};

po::options_description TrainOptions(TrainConfig* config, TrainOptionText* text) {
  po::options_description data("Data");
  data.add_options()("train", po::value(&config->train_path), "training data file (required)")(
      "val", po::value(&config->validation_path),
      "validation data file, evaluated after every epoch (optional)")(
      "classes", po::value(&config->classes)->default_value(config->classes),
      "number of classes K; 0 takes the largest label + 1 (2-D labels: their K columns)")(
      "sample-weights-dataset", po::value(&config->layout.sample_weights),
      "1-D dataset of per-row weights (>= 0) in the training file (default: none, all 1)");

  po::options_description model("Model and optimization");
  model.add_options()("loss", po::value(&config->loss)->default_value(config->loss),
                      "loss: softmax (cross-entropy), squared, hinge, or sigmoid (multi-label, "
                      "for N x K 0/1 labels)")(
      "class-weight", po::value(&text->class_weight)->default_value(text->class_weight),
      "class weights: none, balanced (N / (K * rows of the class)), or w0,w1,... (one per "
      "class, >= 0)")(
      "standardize", po::bool_switch(&config->preparation.standardize),
      "train on features standardized by the training data's mean and standard deviation; "
      "the model file takes raw features")(
      "init-bias", po::value(&text->init_bias)->default_value(text->init_bias),
      "initial bias: zero, or priors (b_k = log of class k's share of the rows; softmax)")(
      "solver", po::value(&text->solver)->default_value(text->solver),
      "sgd (mini-batch, momentum/Nesterov, coupled L2), adamw (mini-batch, decoupled decay), "
      "lbfgs or newton (full batch, to the optimum)")(
      "epochs", po::value(&config->epochs)->default_value(config->epochs),
      "passes over the data (sgd, adamw)")(
      "batch-size", po::value(&config->batch_size)->default_value(config->batch_size),
      "global mini-batch size, split over the ranks; >= N rows gives full-batch gradient descent")(
      "lr", po::value(&config->optimizer.learning_rate)
                ->default_value(config->optimizer.learning_rate, "0.1"),
      "learning rate (the base rate of the schedule)")(
      "lr-schedule", po::value(&text->schedule)->default_value(text->schedule),
      "constant; step: lr * gamma^floor(epoch / lr-step-epochs); cosine: "
      "lr * (1 + cos(pi * step / total steps)) / 2")(
      "lr-step-epochs", po::value(&config->optimizer.step_size_epochs)
                            ->default_value(config->optimizer.step_size_epochs),
      "step schedule: epochs between decays")(
      "lr-gamma", po::value(&config->optimizer.step_gamma)->default_value(config->optimizer.step_gamma, "0.1"),
      "step schedule: the factor of each decay")(
      "warmup-steps", po::value(&config->optimizer.warmup_steps)
                          ->default_value(config->optimizer.warmup_steps),
      "linear warm-up from 0 to --lr over this many steps, before the schedule")(
      "momentum",
      po::value(&config->optimizer.momentum)->default_value(config->optimizer.momentum, "0"),
      "sgd: heavy-ball momentum in [0, 1); 0 is plain SGD")(
      "nesterov", po::bool_switch(&config->optimizer.nesterov), "sgd: Nesterov momentum")(
      "beta1", po::value(&config->optimizer.beta1)->default_value(config->optimizer.beta1, "0.9"),
      "adamw: decay of the first moment")(
      "beta2",
      po::value(&config->optimizer.beta2)->default_value(config->optimizer.beta2, "0.999"),
      "adamw: decay of the second moment")(
      "epsilon",
      po::value(&config->optimizer.epsilon)->default_value(config->optimizer.epsilon, "1e-08"),
      "adamw: added to the root of the second moment")(
      "history", po::value(&config->optimizer.history)->default_value(config->optimizer.history),
      "lbfgs: (s, y) pairs kept")(
      "max-cg-iterations",
      po::value(&config->optimizer.max_cg_iterations)
          ->default_value(config->optimizer.max_cg_iterations),
      "newton: the most conjugate-gradient iterations (Hessian products) per step")(
      "newton-preconditioner",
      po::value(&text->newton_preconditioner)->default_value(text->newton_preconditioner),
      "newton: kronecker (the Hessian approximated as class curvature (x) feature second "
      "moments; fewer products for a one-off (D+1)^3 set-up), none, or auto (kronecker for "
      "dense data where it is cheap; README)")(
      "gradient-tolerance",
      po::value(&config->optimizer.gradient_tolerance)
          ->default_value(config->optimizer.gradient_tolerance, "1e-06"),
      "lbfgs, newton: stop when the largest gradient component is at most this")(
      "objective-tolerance",
      po::value(&config->optimizer.objective_tolerance)
          ->default_value(config->optimizer.objective_tolerance, "1e-12"),
      "lbfgs, newton: stop when the objective's relative decrease in an iteration is at most "
      "this")(
      "max-iterations",
      po::value(&config->optimizer.max_iterations)
          ->default_value(config->optimizer.max_iterations),
      "lbfgs, newton: the most iterations")(
      "precision", po::value(&text->precision)->default_value(text->precision),
      "arithmetic of the gradient pass's matrix products: float32 (about twice as fast), "
      "float64, or auto (float32 for sgd and adamw, float64 for lbfgs and newton, whose "
      "Hessian products stay float32)")(
      "weight-decay",
      po::value(&config->optimizer.weight_decay)
          ->default_value(config->optimizer.weight_decay, "0.0001"),
      "lambda in (lambda/2)||W||^2; the bias is not decayed")(
      "seed", po::value(&text->seed)->default_value(text->seed), "seed of the per-epoch shuffles")(
      "early-stopping-patience",
      po::value(&config->early_stopping_patience)->default_value(config->early_stopping_patience),
      "stop when the validation loss has not improved for this many epochs (needs --val); 0: off")(
      "best-model", po::value(&config->best_model_path),
      "with early stopping, where the best model goes (default: <checkpoint-dir>/best-model.h5)")(
      "max-steps", po::value(&config->max_steps)->default_value(config->max_steps),
      "stop after this many steps in all (with a checkpoint); 0: no limit")(
      "reproducible", po::bool_switch(&config->reproducible),
      "bitwise-identical results on any rank count dividing --virtual-shards up to "
      "--max-ranks, and resume on another such rank count (README, \"Reproducibility\")")(
      "virtual-shards",
      po::value(&config->virtual_shards)->default_value(config->virtual_shards),
      "with --reproducible: the fixed parts the rows are cut into; the rank count must divide it")(
      "max-ranks", po::value(&config->max_ranks)->default_value(config->max_ranks),
      "with --reproducible: the most ranks the run (and its resumes) may use; a smaller one "
      "makes steps faster");

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

  po::options_description output("Output");
  output.add_options()(
      "progress-every",
      po::value(&config->progress_seconds)->default_value(config->progress_seconds, "30"),
      "seconds between progress lines when the output is not a terminal (a terminal gets a "
      "progress bar); 0: no progress output");

  po::options_description all;
  all.add(data).add(model).add(checkpoints).add(output).add(DatasetOptions(&config->layout));
  all.add(StreamOptions(&config->streaming)).add(ThreadsOption(&config->threads));
  return all;
}

po::options_description GenerateOptions(SyntheticConfig* config, std::string* type,
                                        std::int64_t* seed, bool* sparse) {
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
      "rows per HDF5 chunk and per write")(
      "multi-label", po::bool_switch(&config->multi_label),
      "write labels as an N x K 0/1 matrix: each label on with probability 1/2, features the "
      "sum of the means of a row's labels plus noise")(
      "sparse", po::bool_switch(sparse),
      "write text-like sparse rows in the CSR layout instead: Zipf-distributed columns with "
      "topic words per class, rows of unit norm (README.md, \"Sparse data\")")(
      "row-nonzeros", po::value(&config->sparse_row_nonzeros),
      "with --sparse: non-zeros per row (default 100)")(
      "libsvm-output", po::value(&config->libsvm_output_path),
      "with --sparse: also write the training rows to this file as LIBSVM text (for peers such "
      "as liblinear)");
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
  const OptimizerConfig& o = config.optimizer;
  RequireOption(o.warmup_steps >= 0, "warmup-steps", o.warmup_steps, "must be >= 0");
  RequireOption(o.step_size_epochs >= 0, "lr-step-epochs", o.step_size_epochs, "must be >= 0");
  RequireOption(o.step_gamma > 0.0 && o.step_gamma <= 1.0, "lr-gamma", o.step_gamma,
                "must be in (0, 1]");
  RequireOption(o.beta1 >= 0.0 && o.beta1 < 1.0, "beta1", o.beta1, "must be in [0, 1)");
  RequireOption(o.beta2 >= 0.0 && o.beta2 < 1.0, "beta2", o.beta2, "must be in [0, 1)");
  RequireOption(o.epsilon > 0.0, "epsilon", o.epsilon, "must be > 0");
  RequireOption(o.history >= 1, "history", o.history, "must be at least 1");
  RequireOption(o.max_cg_iterations >= 1, "max-cg-iterations", o.max_cg_iterations,
                "must be at least 1");
  RequireOption(o.gradient_tolerance >= 0.0, "gradient-tolerance", o.gradient_tolerance,
                "must be >= 0");
  RequireOption(o.objective_tolerance >= 0.0, "objective-tolerance", o.objective_tolerance,
                "must be >= 0");
  RequireOption(o.max_iterations >= 1, "max-iterations", o.max_iterations, "must be at least 1");
  RequireOption(config.early_stopping_patience >= 0, "early-stopping-patience",
                config.early_stopping_patience, "must be >= 0");
  if (config.checkpoint.directory.empty()) throw UsageError("--checkpoint-dir must not be empty");
  RequireOption(config.virtual_shards >= 1 && config.virtual_shards <= kMaxVirtualShards,
                "virtual-shards", config.virtual_shards,
                "must be from 1 to 4096");
  static_assert(kMaxVirtualShards == 4096, "the message above names the limit");
  RequireOption(config.max_ranks >= 1, "max-ranks", config.max_ranks, "must be at least 1");
  RequireOption(config.progress_seconds >= 0 && std::isfinite(config.progress_seconds),
                "progress-every", config.progress_seconds, "must be >= 0 seconds");
  try {
    MakeLoss(config.loss);
  } catch (const UsageError& error) {
    throw UsageError(std::string("--loss: ") + error.what());
  }
  const bool multi_label = MakeLoss(config.loss)->is_multi_label();
  if (multi_label && config.preparation.class_weighting != ClassWeighting::kNone) {
    throw UsageError("--class-weight needs a single-label loss: with --loss " + config.loss +
                     " a row has no one class (weigh rows with --sample-weights-dataset)");
  }
  if (config.preparation.init_bias == BiasInit::kPriors && config.loss != "softmax") {
    throw UsageError("--init-bias priors needs --loss softmax (got '" + config.loss + "')");
  }
}

// none, balanced, or comma-separated weights >= 0 (at least one of them > 0).
void ParseClassWeight(const std::string& text, DataPreparation* preparation) {
  if (text == "none") return;
  if (text == "balanced") {
    preparation->class_weighting = ClassWeighting::kBalanced;
    return;
  }
  const std::string rule =
      "--class-weight must be 'none', 'balanced' or comma-separated weights >= 0, not all 0 "
      "(got '" + text + "')";
  std::vector<double> weights;
  std::istringstream fields(text);
  std::string field;
  while (std::getline(fields, field, ',')) {
    std::size_t used = 0;
    double weight = 0.0;
    try {
      weight = std::stod(field, &used);
    } catch (const std::exception&) {
      throw UsageError(rule);
    }
    if (used != field.size() || !std::isfinite(weight) || weight < 0.0) throw UsageError(rule);
    weights.push_back(weight);
  }
  if (text.empty() || text.back() == ',' || weights.empty() ||
      std::all_of(weights.begin(), weights.end(), [](double w) { return w == 0.0; })) {
    throw UsageError(rule);
  }
  preparation->class_weighting = ClassWeighting::kGiven;
  preparation->class_weights = std::move(weights);
}

BiasInit ParseBiasInit(const std::string& init) {
  if (init == "zero") return BiasInit::kZero;
  if (init == "priors") return BiasInit::kPriors;
  throw UsageError("--init-bias must be 'zero' or 'priors' (got '" + init + "')");
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

// --sparse and --row-nonzeros: sparse rows are float32, and need at least one non-zero each.
void CheckSparseSynthetic(bool sparse, const std::string& type, SyntheticConfig* config) {
  if (!sparse) {
    if (config->sparse_row_nonzeros != 0) throw UsageError("--row-nonzeros needs --sparse");
    if (!config->libsvm_output_path.empty()) throw UsageError("--libsvm-output needs --sparse");
    return;
  }
  if (config->sparse_row_nonzeros == 0) config->sparse_row_nonzeros = 100;
  RequireOption(config->sparse_row_nonzeros >= 1, "row-nonzeros", config->sparse_row_nonzeros,
                "must be at least 1");
  if (type != "float32") throw UsageError("--sparse writes float32 values; drop --dtype " + type);
  RequireOption(config->features <= INT32_MAX, "features", config->features,
                "must be below 2^31 for --sparse");
}

// Combinations that cannot work, named by their options.
void CheckTrainCombinations(const TrainConfig& config) {
  const OptimizerConfig& o = config.optimizer;
  if (o.nesterov && o.momentum <= 0.0) throw UsageError("--nesterov needs --momentum > 0");
  if (o.schedule == LearningRateSchedule::kStep && o.step_size_epochs == 0) {
    throw UsageError("--lr-schedule step needs --lr-step-epochs");
  }
  if (config.early_stopping_patience > 0 && config.validation_path.empty()) {
    throw UsageError("--early-stopping-patience needs a validation file (--val)");
  }
  if (o.IsFullBatch() && config.early_stopping_patience > 0) {
    throw UsageError("--early-stopping-patience applies to sgd and adamw, not --solver " +
                     std::string(o.solver == Solver::kNewton ? "newton" : "lbfgs"));
  }
  if (o.solver == Solver::kNewton) {
    if (!MakeLoss(config.loss)->has_curvature()) {
      throw UsageError("--solver newton needs a loss with a Hessian (softmax, sigmoid or "
                       "squared); --loss " + config.loss + " is piecewise linear: use lbfgs");
    }
    if (config.reproducible) {
      throw UsageError("--solver newton does not support --reproducible yet; use lbfgs for "
                       "full-batch training with the same bits on any rank count");
    }
  }
  if (config.streaming.force) {
    const std::string refusal = StreamRefusal(config);
    if (!refusal.empty()) throw UsageError("--stream: " + refusal);
  }
}

CheckpointUnit ParseCheckpointUnit(const std::string& unit) {
  if (unit == "epoch") return CheckpointUnit::kEpoch;
  if (unit == "step") return CheckpointUnit::kStep;
  throw UsageError("--checkpoint-unit must be 'epoch' or 'step' (got '" + unit + "')");
}

LearningRateSchedule ParseSchedule(const std::string& schedule) {
  if (schedule == "constant") return LearningRateSchedule::kConstant;
  if (schedule == "step") return LearningRateSchedule::kStep;
  if (schedule == "cosine") return LearningRateSchedule::kCosine;
  throw UsageError("--lr-schedule must be 'constant', 'step' or 'cosine' (got '" + schedule + "')");
}

std::optional<Precision> ParsePrecision(const std::string& precision) {
  if (precision == "auto") return std::nullopt;
  if (precision == "float32") return Precision::kFloat32;
  if (precision == "float64") return Precision::kFloat64;
  throw UsageError("--precision must be 'auto', 'float32' or 'float64' (got '" + precision + "')");
}

NewtonPreconditioner ParseNewtonPreconditioner(const std::string& choice) {
  if (choice == "auto") return NewtonPreconditioner::kAuto;
  if (choice == "kronecker") return NewtonPreconditioner::kKronecker;
  if (choice == "none") return NewtonPreconditioner::kNone;
  throw UsageError("--newton-preconditioner must be 'auto', 'kronecker' or 'none' (got '" +
                   choice + "')");
}

Solver ParseSolver(const std::string& solver) {
  if (solver == "sgd") return Solver::kSgd;
  if (solver == "adamw") return Solver::kAdamW;
  if (solver == "lbfgs") return Solver::kLbfgs;
  if (solver == "newton") return Solver::kNewton;
  throw UsageError("--solver must be 'sgd', 'adamw', 'lbfgs' or 'newton' (got '" + solver + "')");
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
    parsed.train.optimizer.solver = ParseSolver(text.solver);
    parsed.train.optimizer.precision = ParsePrecision(text.precision);
    parsed.train.optimizer.newton_preconditioner =
        ParseNewtonPreconditioner(text.newton_preconditioner);
    ParseClassWeight(text.class_weight, &parsed.train.preparation);
    parsed.train.preparation.init_bias = ParseBiasInit(text.init_bias);
    CheckTrainConfig(parsed.train, text.seed);
    CheckTrainCombinations(parsed.train);
    parsed.train.seed = static_cast<std::uint64_t>(text.seed);
    return parsed;
  }
  if (command == "gen") {
    std::string type = "float32";
    std::int64_t seed = static_cast<std::int64_t>(parsed.synthetic.seed);
    bool sparse = false;
    parsed.help_text =
        ParseOptions(rest, "gen", GenerateOptions(&parsed.synthetic, &type, &seed, &sparse));
    if (!parsed.help_text.empty()) return parsed;
    parsed.command = Command::kGenerate;
    parsed.synthetic.type = ParseFeatureType(type);
    CheckSparseSynthetic(sparse, type, &parsed.synthetic);
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
