// Configuration types filled from the command line or a config file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/precision.hpp"

namespace shardmax {

enum class Solver { kSgd, kAdamW, kLbfgs, kNewton };
enum class LearningRateSchedule { kConstant, kStep, kCosine };

// Newton-CG's preconditioner (--newton-preconditioner; common/kronecker_preconditioner.hpp):
// kAuto uses it where it is cheap (trainer/newton_problem.hpp).
enum class NewtonPreconditioner { kAuto, kKronecker, kNone };

struct OptimizerConfig {
  Solver solver = Solver::kSgd;
  double learning_rate = 0.1;  // the base rate; the schedule scales it per step
  LearningRateSchedule schedule = LearningRateSchedule::kConstant;
  std::int64_t warmup_steps = 0;      // linear warm-up from 0 over these first steps
  std::int64_t step_size_epochs = 0;  // step schedule: multiply by step_gamma every this many
  std::int64_t step_size_steps = 0;   // epochs; the trainer converts them to steps
  double step_gamma = 0.1;
  double momentum = 0.0;  // SGD; 0 is plain SGD
  bool nesterov = false;  // SGD
  double beta1 = 0.9;     // AdamW
  double beta2 = 0.999;   // AdamW
  double epsilon = 1e-8;  // AdamW
  double weight_decay = 1e-4;  // lambda: coupled L2 (lambda/2)||W||^2 for SGD and L-BFGS,
                               // decoupled decay for AdamW
  // Full batch: L-BFGS and Newton-CG
  int history = 10;                  // L-BFGS
  std::int64_t max_cg_iterations = 250;  // Newton-CG, per step
  NewtonPreconditioner newton_preconditioner = NewtonPreconditioner::kAuto;
  double gradient_tolerance = 1e-6;   // stop when max_i |dJ/dtheta_i| <= this
  double objective_tolerance = 1e-12;  // stop when the relative decrease of J is <= this
  std::int64_t max_iterations = 1000;
  // Of the gradient pass's products (--precision); unset: float32 for sgd and adamw, float64
  // for the full-batch solvers, which compare objective values closely.
  std::optional<Precision> precision;

  bool IsFullBatch() const { return solver == Solver::kLbfgs || solver == Solver::kNewton; }
  Precision PassPrecision() const {
    if (precision) return *precision;
    return IsFullBatch() ? Precision::kFloat64 : Precision::kFloat32;
  }
  // Of Newton-CG's Hessian products: float32 unless asked, since CG needs H only roughly.
  Precision HessianPrecision() const { return precision.value_or(Precision::kFloat32); }
};

// Names of the datasets inside an HDF5 data file.
struct DatasetLayout {
  std::string features = "features";
  std::string labels = "labels";
  std::string sample_weights{};  // 1-D per-row weights, read only when named
};

// Out-of-core reading of the data (README, "Streaming"; io/shard_stream.hpp).
// --stream-read-ahead: kAuto reads ahead where the rank may run on two CPUs or more.
enum class ReadAhead { kAuto, kOn, kOff };

struct StreamConfig {
  bool force = false;                 // --stream
  std::int64_t memory_budget_mb = 0;  // --memory-budget: stream a shard over it; 0: no budget
  std::int64_t chunk_rows = 0;        // --stream-chunk-rows; 0: from the budget
  ReadAhead read_ahead = ReadAhead::kAuto;  // --stream-read-ahead
  bool map_rows = true;                     // --stream-mmap: rows read in place where they can
  // Not an option: set by the caller when the rows are read only in whole passes (full-batch
  // solvers, validation, evaluation, prediction), where the chunk size changes no result.
  bool whole_passes = false;
};

// `streaming` for rows read only in whole passes.
inline StreamConfig ForWholePasses(StreamConfig streaming) {
  streaming.whole_passes = true;
  return streaming;
}

enum class ClassWeighting { kNone, kBalanced, kGiven };
enum class BiasInit { kZero, kPriors };

// What shapes the objective and the start beyond the loss: row weights, feature
// standardization and the initial bias (trainer/training_data.hpp).
struct DataPreparation {
  ClassWeighting class_weighting = ClassWeighting::kNone;  // balanced: N / (K n_k)
  std::vector<double> class_weights;                       // kGiven: one per class, >= 0
  bool standardize = false;  // train on (x - mean) / std of the training data
  BiasInit init_bias = BiasInit::kZero;  // kPriors: b_k = log(n_k / N)
};

enum class CheckpointUnit { kEpoch, kStep };

struct CheckpointConfig {
  std::string directory = "checkpoints";
  std::int64_t every = 1;
  CheckpointUnit unit = CheckpointUnit::kEpoch;
  int keep = 3;
  std::string resume;  // "", a checkpoint path, or "auto"
};

// Virtual shards unless --virtual-shards says otherwise: 1, 2, 3, 4, 6, 8, 12 and 24 ranks
// divide it (io/virtual_shards.hpp).
inline constexpr std::int64_t kDefaultVirtualShards = 24;
// The most ranks a --reproducible run may use unless --max-ranks says otherwise: with 24
// virtual shards, 1, 2, 3, 4, 6 or 8 ranks.
inline constexpr std::int64_t kDefaultMaxRanks = 8;

struct TrainConfig {
  std::string train_path;
  std::string validation_path;  // optional
  DatasetLayout layout;
  std::int64_t classes = 0;  // 0: largest label + 1
  std::string loss = "softmax";
  DataPreparation preparation;
  OptimizerConfig optimizer;
  std::int64_t batch_size = 256;  // global; >= N means full-batch gradient descent
  std::int64_t epochs = 10;
  std::uint64_t seed = 42;
  std::int64_t max_steps = 0;  // 0: no limit; otherwise stop (with a checkpoint) at this step
  CheckpointConfig checkpoint;
  std::int64_t early_stopping_patience = 0;  // epochs without a better validation loss; 0: off
  std::string best_model_path;  // "": <checkpoint dir>/best-model.h5 (with early stopping)
  std::string model_path;   // "": <checkpoint dir>/model.h5
  std::string metrics_log;  // "": <checkpoint dir>/metrics.csv
  double progress_seconds = 30;  // between plain progress lines when not on a terminal; 0: none
  // --reproducible: the same bits on any rank count dividing virtual_shards (README,
  // "Reproducibility"; trainer/reproducible_objective.hpp).
  bool reproducible = false;
  std::int64_t virtual_shards = kDefaultVirtualShards;
  std::int64_t max_ranks = kDefaultMaxRanks;  // --reproducible: rank counts up to this
  StreamConfig streaming;
  int threads = 1;  // threads per rank of full passes (common/block_parallel.hpp)
};

enum class FeatureType { kFloat32, kFloat64, kUint8 };

struct SyntheticConfig {
  std::string output_path;
  std::string validation_output_path;  // optional: same classes, fresh rows
  std::int64_t rows = 10000;
  std::int64_t validation_rows = 2000;
  std::int64_t features = 20;
  std::int64_t classes = 10;
  std::uint64_t seed = 1;
  double separation = 3.0;  // distance scale between class means, in noise standard deviations
  FeatureType type = FeatureType::kFloat32;
  std::int64_t chunk_rows = 8192;
  DatasetLayout layout;
  bool multi_label = false;  // labels as an N x K 0/1 matrix (io/synthetic.hpp)
  // Text-like sparse rows with this many non-zeros each (io/synthetic_sparse.hpp); 0: dense.
  std::int64_t sparse_row_nonzeros = 0;
  std::string libsvm_output_path;  // sparse only: also the training rows as LIBSVM text
};

}  // namespace shardmax
