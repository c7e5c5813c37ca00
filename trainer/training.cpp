#include "trainer/training.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>
#include <unistd.h>

#include "common/collective.hpp"
#include "common/lbfgs.hpp"
#include "common/newton_cg.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/optimizer.hpp"
#include "common/random.hpp"
#include "common/stop_signal.hpp"
#include "io/atomic_file.hpp"
#include "io/dataset_reader.hpp"
#include "io/hdf5_file.hpp"
#include "io/metrics_log.hpp"
#include "io/model_file.hpp"
#include "io/shard_stream.hpp"
#include "trainer/newton_problem.hpp"
#include "trainer/progress.hpp"
#include "trainer/reproducible_objective.hpp"
#include "trainer/sparse_sgd.hpp"
#include "trainer/training_data.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void PrepareCheckpointDirectory(const Communicator& comm, const std::string& directory) {
  RunAndAgree(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code error;
    fs::create_directories(directory, error);
    if (error) {
      throw UserError("cannot create checkpoint directory '" + directory + "' (--checkpoint-dir): " +
                      error.message());
    }
    if (::access(directory.c_str(), W_OK | X_OK) != 0) {
      throw UserError("checkpoint directory '" + directory +
                      "' (--checkpoint-dir) is not writable");
    }
  });
}

class TrainingRun {
 public:
  TrainingRun(const Communicator& comm, const TrainConfig& config)
      : comm_(comm),
        config_(config),
        loss_(MakeLoss(config.loss)),
        model_path_(PathOrDefault(config.model_path, "model.h5")),
        best_model_path_(PathOrDefault(config.best_model_path, "best-model.h5")),
        metrics_log_(PathOrDefault(config.metrics_log, "metrics.csv")) {}

  TrainResult Run() {
    if (config_.reproducible) {
      CheckVirtualShards(config_.virtual_shards, comm_.size(), config_.max_ranks);
    }
    PrepareCheckpointDirectory(comm_, config_.checkpoint.directory);
    LoadData();
    std::optional<Checkpoint> checkpoint = LoadCheckpointToResume();
    CheckOutputFiles();
    DecideClassCount(checkpoint);
    newton_preconditioned_ =
        IsNewton() && UsesKroneckerPreconditioner(config_.optimizer.newton_preconditioner, train_,
                                                  classes_);
    prepared_ = PrepareTrainingData(comm_, config_, *loss_, classes_,
                                    checkpoint ? &*checkpoint : nullptr, last_checkpoint_, &train_,
                                    validation_ ? &*validation_ : nullptr);
    if (config_.reproducible) {
      reproducible_.emplace(comm_, *loss_, train_, LargestRankCount(),
                            config_.optimizer.PassPrecision());
    }
    model_ = SoftmaxModel::Zeros(classes_, train_.feature_count);
    model_.bias = prepared_.initial_bias;
    steps_per_epoch_ = StepsPerEpoch(train_.total_rows, config_.batch_size);
    FitStreamedChunksToBatches();
    if (checkpoint) WarnIfBatchOrderDiffers(checkpoint->run);
    schedule_ = config_.optimizer;
    schedule_.step_size_steps = config_.optimizer.step_size_epochs * steps_per_epoch_;
    if (!IsFullBatch()) optimizer_ = MakeOptimizer(config_.optimizer, classes_, train_.feature_count);
    if (UsesSparseSteps()) sparse_sgd_.emplace(classes_, train_.feature_count);
    if (checkpoint) {
      RestoreFrom(std::move(*checkpoint));  // takes its arrays, the L-BFGS history among them
      checkpoint.reset();
    }
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) StartMetricsLog(metrics_log_, position_.epoch);
    });

    const std::string shape =
        StrCat("training on ", train_.total_rows, " rows x ", train_.feature_count, " features, ",
               classes_, loss_->is_multi_label() ? " labels (multi-label), " : " classes, ",
               comm_.size(), " ranks, ",
               config_.reproducible
                   ? StrCat("reproducible on any rank count dividing ", config_.virtual_shards,
                            " up to ", LargestRankCount(), ", ")
                   : std::string()) +
        DescribeThreads();
    TrainResult result;
    bool stopped_before_the_end = false;
    if (IsLbfgs()) {
      LogInfo(shape + "full-batch L-BFGS (history " + std::to_string(config_.optimizer.history) +
              ")");
      stopped_before_the_end = TrainLbfgs();
    } else if (IsNewton()) {
      LogInfo(StrCat(shape, "full-batch Newton-CG (at most ",
                     config_.optimizer.max_cg_iterations, " Hessian products a step",
                     newton_preconditioned_ ? ", Kronecker-factored preconditioner)" : ")"));
      stopped_before_the_end = TrainNewton();
    } else {
      LogInfo(StrCat(shape, steps_per_epoch_, " steps per epoch (global batch ", config_.batch_size,
                     ", ", optimizer_->name(),
                     sparse_sgd_ ? ", sparse steps with lazy weight decay" : "", ")"));
      stopped_before_the_end = TrainEpochs();
      streamed_epoch_.reset();  // stopped mid-epoch: no reader thread past this point
    }
    result.stop_signal = stop_signal_;
    result.stopped_at_max_steps = stopped_before_the_end && stop_signal_ == 0;
    WriteCheckpointIfNew();
    // After the checkpoint, which holds the weights as they were (see MakeCheckpoint).
    if (sparse_sgd_) sparse_sgd_->Flush(&model_);

    if (!stopped_before_the_end) {
      WriteFinalModel();
      result.model_path = model_path_;
    }
    result.stopped_early = stopped_early_;
    result.model = model_;
    result.position = position_;
    result.last_checkpoint = last_checkpoint_;
    result.metrics_log = metrics_log_;
    if (stop_signal_ != 0) return result;  // the job is about to be preempted: exit fast
    result.train = EvaluateSharded(comm_, *loss_, model_, train_, config_.optimizer.weight_decay,
                                   config_.threads);
    if (validation_) {
      result.validation = EvaluateSharded(comm_, *loss_, model_, *validation_,
                                          config_.optimizer.weight_decay, config_.threads);
    }
    return result;
  }

 private:
  std::string PathOrDefault(const std::string& path, const char* name) const {
    return path.empty() ? (fs::path(config_.checkpoint.directory) / name).string() : path;
  }

  // Before any work: a fresh run must not replace another run's model or metrics log, and
  // both must be writable, rather than fail after hours of training.
  void CheckOutputFiles() const {
    RunAndAgree(comm_, [&] {
      if (!comm_.is_root()) return;
      const bool is_fresh_run = config_.checkpoint.resume.empty();
      for (const auto& [path, option] :
           {std::pair<std::string, const char*>{model_path_, "--model"},
            {metrics_log_, "--metrics-log"},
            {best_model_path_, "--best-model"}}) {
        const std::string named = "output file '" + path + "' (" + option + ")";
        if (fs::is_directory(path)) throw UserError(named + " is a directory");
        if (is_fresh_run && fs::exists(path)) {
          throw UserError(named + " already exists and a fresh run does not replace it: continue "
                          "its run with --resume auto, or remove it, or choose another path");
        }
        const std::string directory = DirectoryOf(path);
        if (!fs::is_directory(directory)) {
          throw UserError("cannot write " + named + ": no directory '" + directory + "'");
        }
        if (::access(directory.c_str(), W_OK | X_OK) != 0) {
          throw UserError("cannot write " + named + ": directory '" + directory +
                          "' is not writable");
        }
      }
    });
  }

  void WriteFinalModel() { WriteModel(model_path_); }

  void WriteModel(const std::string& path) {
    ModelFile file;
    file.model = ModelForRawFeatures(model_, prepared_);
    file.feature_scaling = prepared_.feature_scaling;
    file.loss = std::string(loss_->name());
    file.weight_decay = config_.optimizer.weight_decay;
    file.feature_type = train_.feature_type;
    file.classes = train_.classes;
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) WriteModelFile(path, file);
    });
  }

  void LoadData() {
    const std::int64_t virtual_shards = config_.reproducible ? config_.virtual_shards : 0;
    train_ = ReadShard(comm_, config_.train_path, config_.layout, ShardLabels::kRead,
                       virtual_shards,
                       IsFullBatch() ? ForWholePasses(config_.streaming) : config_.streaming);
    CheckStreamable(train_);
    if (config_.batch_size < comm_.size()) {
      throw UsageError(StrCat("--batch-size ", config_.batch_size, " is smaller than the ",
                              comm_.size(), " ranks: each rank needs rows in every step"));
    }
    if (!config_.validation_path.empty()) {
      validation_ = ReadShard(comm_, config_.validation_path, WithoutSampleWeights(config_.layout),
                              ShardLabels::kRead, virtual_shards,
                              ForWholePasses(config_.streaming));
      CheckStreamable(*validation_);
      if (validation_->feature_count != train_.feature_count) {
        throw AgreedError(StrCat("validation file '", config_.validation_path, "' has ",
                                 validation_->feature_count, " features but '",
                                 config_.train_path, "' has ", train_.feature_count));
      }
    }
  }

  // Only over --memory-budget can a refused combination get here: --stream was checked as
  // parsed. The same on every rank (the choice to stream is).
  void CheckStreamable(const Shard& shard) const {
    if (!shard.is_streamed()) return;
    const std::string refusal = StreamRefusal(config_);
    if (refusal.empty()) return;
    throw AgreedError(StrCat("--memory-budget ", config_.streaming.memory_budget_mb, " streams '",
                             shard.path, "', but ", refusal, "; or raise --memory-budget"));
  }

  std::optional<Checkpoint> LoadCheckpointToResume() {
    std::string path = config_.checkpoint.resume;
    std::optional<std::string> newest;
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) RemoveUnfinishedWrites();
      newest = FindNewestCheckpoint(config_.checkpoint.directory);
    });
    if (path.empty()) {
      // A fresh run would overwrite and prune another run's checkpoints.
      if (newest) {
        throw AgreedError("checkpoint directory '" + config_.checkpoint.directory +
                          "' already holds checkpoints (newest '" + *newest +
                          "'): continue them with --resume auto, or choose another "
                          "--checkpoint-dir");
      }
      return std::nullopt;
    }
    if (path == "auto") {
      if (!newest) {
        LogInfo("no checkpoint in '" + config_.checkpoint.directory + "': starting fresh");
        return std::nullopt;
      }
      path = ChooseNewestValidCheckpoint();
    }
    std::optional<Checkpoint> checkpoint;
    RunAndAgree(comm_, [&] { checkpoint = ReadCheckpoint(path); });
    CheckCheckpointFitsData(path, checkpoint->run);
    LogInfo(StrCat("resuming from '", path, "' at epoch ", checkpoint->position.epoch + 1,
                   ", step ", checkpoint->position.global_step));
    last_checkpoint_ = path;
    return checkpoint;
  }

  // Rank 0 verifies the candidates from the newest down, reporting each one it skips, and
  // tells every rank which one to load.
  std::string ChooseNewestValidCheckpoint() {
    std::string chosen;
    RunAndAgree(comm_, [&] {
      if (!comm_.is_root()) return;
      const CheckpointSearch search = FindNewestValidCheckpoint(config_.checkpoint.directory);
      for (const SkippedCheckpoint& skipped : search.skipped) {
        LogWarning("--resume auto skips " + skipped.problem);
      }
      if (!search.newest_valid) {
        throw UserError("no checkpoint in '" + config_.checkpoint.directory +
                        "' verifies (see the warnings above): move them away to start fresh");
      }
      chosen = *search.newest_valid;
    });
    Broadcast(comm_, &chosen, 0);
    return chosen;
  }

  // Temporary files of a writer killed mid-checkpoint: never read, so only clutter.
  void RemoveUnfinishedWrites() const {
    for (const std::string& removed : RemoveUnfinishedCheckpointWrites(config_.checkpoint.directory)) {
      LogWarning("removed '" + removed + "', left by a checkpoint write that did not finish");
    }
  }

  void CheckCheckpointFitsData(const std::string& path, const RunSignature& run) const {
    const std::string context = "checkpoint '" + path + "'";
    if (run.features != train_.feature_count || run.rows != train_.total_rows ||
        (config_.classes != 0 && run.classes != config_.classes)) {
      throw AgreedError(StrCat(context, " was made for ", run.rows, " rows x ", run.features,
                               " features, ", run.classes, " classes, but '", config_.train_path,
                               "' has ", train_.total_rows, " rows x ", train_.feature_count,
                               " features", config_.classes != 0 ? StrCat(" and --classes ", config_.classes) : ""));
    }
    if (run.loss != loss_->name()) {
      throw AgreedError(context + " was trained with loss '" + run.loss + "', not '" +
                        std::string(loss_->name()) + "'");
    }
    // A reproducible run depends on its virtual shards, not on its rank count.
    const std::int64_t virtual_shards = config_.reproducible ? config_.virtual_shards : 0;
    const std::int64_t max_ranks = config_.reproducible ? LargestRankCount() : 0;
    const bool same_partition =
        virtual_shards > 0
            ? run.virtual_shards == virtual_shards && run.max_ranks == max_ranks
            : run.virtual_shards == 0 && run.world_size == comm_.size();
    if (!same_partition || run.seed != config_.seed || run.batch_size != config_.batch_size) {
      LogWarning(StrCat(context, " was written with ",
                        DescribePartition(run.world_size, run.virtual_shards, run.max_ranks),
                        ", seed ", run.seed, ", batch size ", run.batch_size,
                        "; this run continues with ",
                        DescribePartition(comm_.size(), virtual_shards, max_ranks), ", seed ",
                        config_.seed,
                        ", batch size ", config_.batch_size,
                        ", so it will not match an uninterrupted run"));
    } else if (virtual_shards > 0 && run.world_size != comm_.size()) {
      LogInfo(StrCat(context, " was written on ", run.world_size, " ranks; with the same ",
                     virtual_shards, " virtual shards this run on ", comm_.size(),
                     " ranks continues it bit for bit"));
    }
  }

  // Streamed SGD and AdamW shuffle within chunks: another chunk size is another batch order.
  void WarnIfBatchOrderDiffers(const RunSignature& run) const {
    if (run.stream_chunk_rows == BatchOrderChunkRows()) return;
    const auto describe = [](std::int64_t chunk_rows) {
      return chunk_rows > 0 ? StrCat("streamed batches shuffled within chunks of ", chunk_rows,
                                     " rows")
                            : std::string("batches shuffled over the whole shard (in memory)");
    };
    LogWarning(StrCat("checkpoint '", last_checkpoint_, "' was written with ",
                      describe(run.stream_chunk_rows), "; this run continues with ",
                      describe(BatchOrderChunkRows()),
                      ", so it will not match an uninterrupted run (keep --stream, "
                      "--stream-chunk-rows and --memory-budget as they were)"));
  }

  // The chunk size the batch order depends on (RunSignature::stream_chunk_rows).
  std::int64_t BatchOrderChunkRows() const {
    return train_.is_streamed() && !IsFullBatch() ? train_.stream->chunk_rows() : 0;
  }

  static std::string DescribePartition(std::int64_t ranks, std::int64_t virtual_shards,
                                       std::int64_t max_ranks) {
    return virtual_shards > 0 ? StrCat(ranks, " ranks, --reproducible with ", virtual_shards,
                                       " virtual shards up to ", max_ranks, " ranks")
                              : StrCat(ranks, " ranks");
  }

  // --reproducible: the largest rank count the run may use, which fixes its sums' parts.
  std::int64_t LargestRankCount() const {
    return shardmax::LargestRankCount(config_.virtual_shards, config_.max_ranks);
  }

  void DecideClassCount(const std::optional<Checkpoint>& checkpoint) {
    if (config_.classes != 0) {
      classes_ = config_.classes;
    } else if (checkpoint) {
      classes_ = checkpoint->run.classes;
    } else {
      classes_ = std::max<std::int64_t>(CountClasses(comm_, train_), 2);
    }
    CheckLabelsBelow(comm_, train_, config_.layout, classes_);
    if (validation_) CheckLabelsBelow(comm_, *validation_, config_.layout, classes_);
  }

  bool IsLbfgs() const { return config_.optimizer.solver == Solver::kLbfgs; }
  bool IsNewton() const { return config_.optimizer.solver == Solver::kNewton; }
  bool IsFullBatch() const { return config_.optimizer.IsFullBatch(); }
  std::string SolverName() const {
    if (IsLbfgs()) return "lbfgs";
    if (IsNewton()) return "newton";
    return std::string(optimizer_->name());
  }

  // With --threads N > 1, for the log: which passes use the threads (README, "Hybrid MPI +
  // threads") and which run on one.
  std::string DescribeThreads() const {
    if (config_.threads == 1) return "";
    std::vector<std::string> threaded;
    std::vector<std::string> one_thread;
    const std::string solver = IsNewton() ? "Newton-CG" : "L-BFGS";
    if (!IsFullBatch()) {
      one_thread.push_back("SGD/AdamW steps");
    } else if (config_.reproducible) {
      one_thread.push_back("--reproducible " + solver + " passes");
    } else if (train_.is_sparse) {
      one_thread.push_back("sparse " + solver + " passes");
    } else if (train_.is_streamed()) {
      one_thread.push_back("streamed " + solver + " passes");
    } else {
      threaded.push_back(solver + " passes");
    }
    const bool streamed_validation = validation_ && validation_->is_streamed();
    if (!train_.is_streamed() || (validation_ && !streamed_validation)) {
      threaded.push_back("evaluation");
    }
    if (train_.is_streamed() || streamed_validation) one_thread.push_back("streamed evaluation");
    const auto join = [](const std::vector<std::string>& parts) {
      std::string text;
      for (std::size_t i = 0; i < parts.size(); ++i) {
        text += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
      }
      return text;
    };
    return StrCat(config_.threads, " threads per rank for ",
                  threaded.empty() ? "no pass here" : join(threaded),
                  one_thread.empty() ? "" : " (" + join(one_thread) + " on one)", ", ");
  }

  // Plain SGD on sparse rows steps through the touched columns only (trainer/sparse_sgd.hpp);
  // not with --reproducible, whose steps sum every virtual shard's dense gradient exactly.
  bool UsesSparseSteps() const {
    const OptimizerConfig& o = config_.optimizer;
    return train_.is_sparse && !config_.reproducible && o.solver == Solver::kSgd &&
           o.momentum == 0.0 &&
           o.learning_rate * o.weight_decay < 1.0;
  }

  // The arrays a checkpoint holds besides the model: the optimizer's, or where RestoreFrom
  // puts the L-BFGS history before the solver takes it (MakeCheckpoint views the solver's).
  std::vector<OptimizerStateArray> SolverState() {
    if (sparse_sgd_) {
      std::vector<OptimizerStateArray> state = optimizer_->State();
      for (const OptimizerStateArray& array : sparse_sgd_->State()) state.push_back(array);
      return state;
    }
    if (IsNewton()) return {{"newton_scalars", &newton_scalars_}};
    if (!IsLbfgs()) return optimizer_->State();
    return {{"lbfgs_s", &lbfgs_state_.s_history},
            {"lbfgs_y", &lbfgs_state_.y_history},
            {"lbfgs_gradient", &lbfgs_gradient_},
            {"lbfgs_scalars", &lbfgs_scalars_}};
  }

  void RestoreFrom(Checkpoint checkpoint) {
    model_ = std::move(checkpoint.model);
    position_ = checkpoint.position;
    last_checkpoint_step_ = position_.global_step;
    if (IsLbfgs()) {
      const Eigen::Index parameters = classes_ * (train_.feature_count + 1);
      lbfgs_state_.s_history.resize(config_.optimizer.history, parameters);
      lbfgs_state_.y_history.resize(config_.optimizer.history, parameters);
      lbfgs_gradient_.resize(parameters, 1);
      lbfgs_scalars_.resize(1, kLbfgsScalars);
    }
    if (IsNewton()) newton_scalars_.resize(1, kNewtonScalars);
    for (const OptimizerStateArray& state : SolverState()) {
      NamedMatrix* saved = nullptr;
      for (NamedMatrix& candidate : checkpoint.optimizer_state) {
        if (candidate.name == state.name) saved = &candidate;
      }
      if (saved == nullptr || saved->values.rows() != state.values->rows() ||
          saved->values.cols() != state.values->cols()) {
        throw AgreedError("checkpoint '" + last_checkpoint_ + "' lacks optimizer state '/optimizer/" +
                          state.name + "' of the right shape");
      }
      *state.values = std::move(saved->values);
    }
    if (sparse_sgd_) sparse_sgd_->RestoreWeights(&model_);
    if (IsLbfgs()) {
      lbfgs_state_.x = FlattenParameters(model_.weights, model_.bias);
      lbfgs_state_.gradient = lbfgs_gradient_.col(0);
      lbfgs_gradient_.resize(0, 0);
      lbfgs_state_.value = lbfgs_scalars_(0, 0);
      lbfgs_state_.pairs = static_cast<std::int64_t>(lbfgs_scalars_(0, 1));
      lbfgs_state_.iteration = static_cast<std::int64_t>(lbfgs_scalars_(0, 2));
      lbfgs_state_.evaluations = static_cast<std::int64_t>(lbfgs_scalars_(0, 3));
      lbfgs_state_.last_step = lbfgs_scalars_(0, 4);
      resumed_lbfgs_ = true;
    }
    resumed_newton_ = IsNewton();
  }

  // --gradient-tolerance, --objective-tolerance and --max-iterations, for either solver.
  static StoppingRule StoppingOf(const OptimizerConfig& options) {
    return StoppingRule{options.gradient_tolerance, options.objective_tolerance,
                        options.max_iterations};
  }

  // Full-batch L-BFGS. An iteration stands where SGD has an epoch: one log line and metrics
  // row each, --checkpoint-every counts iterations, --max-steps and --max-iterations bound
  // them. Each objective evaluation is one pass over every shard and one all-reduce.
  bool TrainLbfgs() {
    const auto run_start = Clock::now();
    const OptimizerConfig& options = config_.optimizer;
    LbfgsOptions lbfgs;
    static_cast<StoppingRule&>(lbfgs) = StoppingOf(options);
    lbfgs.history = options.history;
    // A member, so the checkpoints written after the loop still view its state.
    lbfgs_.emplace(lbfgs, [this](const Vector& theta, Vector* gradient) {
      const OptimizerConfig& optimizer = config_.optimizer;
      const SoftmaxModel model = UnflattenParameters(theta, classes_, train_.feature_count);
      const Objective objective =
          reproducible_ ? reproducible_->FullObjective(model, optimizer.weight_decay)
                        : ComputeShardedObjective(comm_, *loss_, model, train_,
                                                  optimizer.weight_decay, optimizer.PassPrecision(),
                                                  config_.threads);
      *gradient = FlattenParameters(objective.grad_weights, objective.grad_bias);
      return objective.value;
    });
    Lbfgs& solver = *lbfgs_;
    if (resumed_lbfgs_) {
      solver.Resume(std::move(lbfgs_state_));
    } else {
      solver.Start(FlattenParameters(model_.weights, model_.bias));
    }
    KeepLbfgsState(solver.state());
    const SolverStatus status = IterateFullBatch(
        solver, run_start, [this](const LbfgsState& state) { KeepLbfgsState(state); },
        [](const LbfgsState& state) {
          return std::pair{state.evaluations, StrCat("  evaluations ", state.evaluations)};
        });
    if (status == SolverStatus::kRunning) return true;
    LogInfo(StrCat("L-BFGS ", DescribeStatus(status), " after ", solver.state().iteration,
                   " iterations and ", solver.state().evaluations,
                   " objective evaluations (passes over the data)"));
    return false;
  }

  // Full-batch Newton-CG. Iterations, log lines and checkpoints as for L-BFGS; each step is a
  // few objective passes (products in --precision, float64 by default) and one pass per
  // Hessian product (float32 unless --precision float64).
  bool TrainNewton() {
    const auto run_start = Clock::now();
    const OptimizerConfig& options = config_.optimizer;
    NewtonCgOptions newton;
    static_cast<StoppingRule&>(newton) = StoppingOf(options);
    newton.max_cg_iterations = options.max_cg_iterations;
    newton_problem_.emplace(
        comm_, *loss_, train_, classes_, options.weight_decay, options.PassPrecision(),
        options.HessianPrecision(), config_.threads, newton_preconditioned_);
    Preconditioner preconditioner;
    if (newton_problem_->is_preconditioned()) {
      preconditioner = [this](const Vector& r) { return newton_problem_->Precondition(r); };
    }
    newton_.emplace(
        newton,
        [this](const Vector& theta, Vector* gradient) {
          return newton_problem_->Objective(theta, gradient);
        },
        [this](const Vector& v) { return newton_problem_->HessianProduct(v); },
        std::move(preconditioner));
    NewtonCg& solver = *newton_;
    if (resumed_newton_) {
      NewtonCgState state;
      state.x = FlattenParameters(model_.weights, model_.bias);
      state.iteration = static_cast<std::int64_t>(newton_scalars_(0, 0));
      state.evaluations = static_cast<std::int64_t>(newton_scalars_(0, 1));
      state.hessian_products = static_cast<std::int64_t>(newton_scalars_(0, 2));
      state.last_step = newton_scalars_(0, 3);
      state.last_cg_iterations = static_cast<std::int64_t>(newton_scalars_(0, 4));
      solver.Resume(std::move(state));
    } else {
      solver.Start(FlattenParameters(model_.weights, model_.bias));
    }
    KeepNewtonState(solver.state());
    const SolverStatus status = IterateFullBatch(
        solver, run_start, [this](const NewtonCgState& state) { KeepNewtonState(state); },
        [](const NewtonCgState& state) {
          return std::pair{state.evaluations + state.hessian_products,
                           StrCat("  evaluations ", state.evaluations, "  hessian_products ",
                                  state.hessian_products, "  cg ", state.last_cg_iterations)};
        });
    if (status == SolverStatus::kRunning) return true;
    LogInfo(StrCat("Newton-CG ", DescribeStatus(status), " after ", solver.state().iteration,
                   " iterations, ", solver.state().evaluations, " objective evaluations and ",
                   solver.state().hessian_products,
                   " Hessian products (each one pass over the data)"));
    return false;
  }

  void KeepNewtonState(const NewtonCgState& state) {
    newton_scalars_.resize(1, kNewtonScalars);
    newton_scalars_ << static_cast<double>(state.iteration), static_cast<double>(state.evaluations),
        static_cast<double>(state.hessian_products), state.last_step,
        static_cast<double>(state.last_cg_iterations);
    model_ = UnflattenParameters(state.x, classes_, train_.feature_count);
    position_.epoch = state.iteration;
    position_.global_step = state.iteration;
  }

  // The loop of a full-batch solver: an iteration stands where SGD has an epoch (one log line
  // and metrics row, --checkpoint-every counts iterations, --max-steps and --max-iterations
  // bound them). `keep` stores an accepted iteration's state for the checkpoints; `passes`
  // gives the passes over the data so far and what the log line adds. Returns why the solver
  // stopped, or kRunning when the run stopped before (--max-steps or a stop signal). The log's
  // elapsed time counts from `run_start`, before the solver's set-up and first evaluation.
  template <typename Solver, typename Keep, typename Passes>
  SolverStatus IterateFullBatch(Solver& solver, Clock::time_point run_start, Keep keep,
                                Passes passes) {
    const double weight_decay = config_.optimizer.weight_decay;
    SolverStatus status = solver.CheckStart();
    while (status == SolverStatus::kRunning) {
      if (ReachedMaxSteps()) return SolverStatus::kRunning;
      // Any rank's SIGUSR1/SIGUSR2 stops every rank here, between two iterations.
      stop_signal_ = AgreeOnStopSignal(comm_);
      if (stop_signal_ != 0) return SolverStatus::kRunning;
      const std::int64_t passes_before = passes(solver.state()).first;
      status = solver.Iterate();
      if (status == SolverStatus::kLineSearchFailed) break;
      keep(solver.state());
      const auto& state = solver.state();
      const auto [passes_after, details] = passes(state);
      EpochRecord record;
      record.epoch = state.iteration;
      record.global_step = state.iteration;
      record.train_loss = state.value - WeightDecayPenalty(model_, weight_decay);
      record.learning_rate = state.last_step;
      record.elapsed_seconds = SecondsSince(run_start);
      record.samples_per_second =
          static_cast<double>((passes_after - passes_before) * train_.total_rows) /
          std::max(record.elapsed_seconds - last_elapsed_, 1e-9);
      last_elapsed_ = record.elapsed_seconds;
      std::string line = StrCat("iteration ", state.iteration, "  objective ",
                                FormatFixed(state.value, 10), "  grad_max ",
                                state.gradient.cwiseAbs().maxCoeff(), "  step ", state.last_step,
                                details);
      ReportEpoch(&record, &line);
      if (position_.global_step % config_.checkpoint.every == 0) WriteCheckpointIfNew();
    }
    return status;
  }

  // After each accepted iteration: the scalars a checkpoint saves and the model. The arrays a
  // checkpoint saves (history, gradient) are the solver's own, viewed, not copied: a failed
  // line search leaves them as they were, but counts evaluations and may drop the pairs, so
  // the scalars are the ones kept here.
  void KeepLbfgsState(const LbfgsState& state) {
    lbfgs_scalars_.resize(1, kLbfgsScalars);
    lbfgs_scalars_ << state.value, static_cast<double>(state.pairs),
        static_cast<double>(state.iteration), static_cast<double>(state.evaluations),
        state.last_step;
    model_ = UnflattenParameters(state.x, classes_, train_.feature_count);
    position_.epoch = state.iteration;
    position_.global_step = state.iteration;
  }

  // Validation metrics, the log line and the metrics row of an epoch (or L-BFGS iteration).
  // Returns the validation metrics when there is a validation file.
  std::optional<Metrics> ReportEpoch(EpochRecord* record, std::string* line) {
    std::optional<Metrics> metrics;
    if (validation_) {
      metrics = EvaluateSharded(comm_, *loss_, model_, *validation_,
                                config_.optimizer.weight_decay, config_.threads);
      *line += StrCat("  val_loss ", FormatFixed(metrics->loss, 6), "  val_acc ",
                      FormatFixed(100.0 * metrics->accuracy, 2), "%");
      record->validation_loss = metrics->loss;
      record->validation_accuracy = metrics->accuracy;
    }
    *line += StrCat("  samples/s ", FormatFixed(record->samples_per_second, 0), "  elapsed ",
                    FormatFixed(record->elapsed_seconds, 2), "s");
    LogInfo(*line);
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) AppendMetricsLog(metrics_log_, *record);
    });
    return metrics;
  }

  // Runs epochs until done, until --max-steps or until a stop signal; returns whether it
  // stopped early.
  bool TrainEpochs() {
    const std::int64_t steps = steps_per_epoch_;
    total_steps_ = steps * config_.epochs;
    // AdamW applies its decay itself; the others take lambda W through the gradient.
    const double gradient_decay =
        optimizer_->decouples_weight_decay() ? 0.0 : config_.optimizer.weight_decay;
    const std::int64_t local_rows = train_.rows.size();
    GradientSums sums(classes_, train_.feature_count);
    GatheredRows batch_rows;
    const auto run_start = Clock::now();
    ProgressReporter progress(DetectProgressStyle(), config_.progress_seconds,
                              train_.total_rows, steps, config_.epochs, position_.global_step);

    while (position_.epoch < config_.epochs) {
      if (ReachedMaxSteps()) return true;
      std::vector<std::int64_t> order;
      if (reproducible_) {
        reproducible_->StartEpoch(config_.seed, position_.epoch);  // shuffles by virtual shard
      } else if (train_.is_streamed()) {
        StartStreamedEpoch(local_rows, steps);
      } else {
        order = ShuffledOrder(local_rows,
                              SplitMix64::ForStream(config_.seed, kShuffleStream,
                                                    static_cast<std::uint64_t>(position_.epoch),
                                                    static_cast<std::uint64_t>(comm_.rank())));
      }
      const auto epoch_start = Clock::now();
      const std::int64_t cursor_at_start = position_.cursor;

      while (position_.step_in_epoch < steps) {
        // Any rank's SIGUSR1/SIGUSR2 stops every rank here, between two steps.
        stop_signal_ = AgreeOnStopSignal(comm_);
        if (stop_signal_ != 0) return true;
        const double learning_rate = LearningRateAt(schedule_, position_.global_step, total_steps_);
        if (sparse_sgd_) {
          const SparseStepSums step =
              sparse_sgd_->Step(comm_, *loss_, BatchBlock(order, &batch_rows), learning_rate,
                                gradient_decay, &model_);
          sums.loss_sum() = step.loss_sum;
          sums.count() = step.count;
          sums.rows() = step.rows;
          CheckFinite(step.loss_sum);
        } else {
          const Objective objective =
              reproducible_ ? reproducible_->BatchObjective(model_, position_.step_in_epoch, steps,
                                                            gradient_decay, &sums)
                            : BatchObjective(order, gradient_decay, &sums, &batch_rows);
          CheckFinite(objective.value);
          optimizer_->Step(learning_rate, objective.grad_weights, objective.grad_bias, &model_);
        }
        ++position_.step_in_epoch;
        ++position_.global_step;
        position_.cursor += static_cast<std::int64_t>(sums.rows());
        position_.epoch_loss_sum += sums.loss_sum();
        position_.epoch_weight_sum += sums.count();
        progress.AfterStep(position_);

        if (position_.step_in_epoch == steps) break;  // the epoch's end is handled below
        if (IsStepCheckpointDue()) WriteCheckpointIfNew();
        if (ReachedMaxSteps()) {
          WriteCheckpointIfNew();
          return true;
        }
      }
      streamed_epoch_.reset();  // every row read: the reader thread ends before FinishEpoch
      if (FinishEpoch(Clock::now() - epoch_start, position_.cursor - cursor_at_start,
                      SecondsSince(run_start))) {
        break;  // early stopping
      }
    }
    return false;
  }

  // A streamed epoch's batches (README, "Streaming"): chunk after chunk in file order, each
  // chunk's rows shuffled by the generator the in-memory order uses, with the chunk mixed
  // into its last part; so with one chunk per rank the order is the in-memory one. The order
  // depends on the seed, the epoch, the rank count and the chunk size only, and a resumed
  // run restarts reading at the chunk of its position.
  void StartStreamedEpoch(std::int64_t local_rows, std::int64_t steps) {
    const std::uint64_t epoch = static_cast<std::uint64_t>(position_.epoch);
    const std::uint64_t rank = static_cast<std::uint64_t>(comm_.rank());
    const std::uint64_t seed = config_.seed;
    streamed_epoch_.emplace(
        *train_.stream,
        [=](std::int64_t chunk, std::int64_t rows) {
          // Rank and chunk share the stream's last part: rank + 2^32 chunk (rank < 2^32).
          const std::uint64_t part = rank | static_cast<std::uint64_t>(chunk) << 32;
          return ShuffledOrder(rows, SplitMix64::ForStream(seed, kShuffleStream, epoch, part));
        },
        LocalBatch(local_rows, position_.step_in_epoch, steps).begin);
  }

  // Every rank needs its share of a step in the two chunks a streamed epoch holds. Sized from
  // the largest share, so the same on every rank.
  void FitStreamedChunksToBatches() {
    if (!train_.is_streamed() || IsFullBatch()) return;
    const std::int64_t largest_rank_rows = ShardRows(train_.total_rows, comm_.size(), 0).size();
    const std::int64_t largest_share =
        (largest_rank_rows + steps_per_epoch_ - 1) / steps_per_epoch_;
    ShardStream& stream = *train_.stream;
    if (largest_share <= stream.chunk_rows()) return;
    const std::int64_t needed = (largest_share + kBlockRows - 1) / kBlockRows * kBlockRows;
    const std::int64_t budget = config_.streaming.memory_budget_mb << 20;
    if (config_.streaming.chunk_rows > 0 ||
        (budget > 0 && 2 * needed * StreamBytesPerRow(stream.source()) > budget)) {
      throw AgreedError(StrCat("--batch-size ", config_.batch_size,
                               ": a rank's share of a step (up to ", largest_share,
                               " rows) must fit in one streamed chunk of ",
                               stream.chunk_rows(), " rows; lower --batch-size, or raise ",
                               config_.streaming.chunk_rows > 0 ? "--stream-chunk-rows"
                                                                : "--memory-budget"));
    }
    stream.SetChunkRows(needed);
    LogInfo(StrCat("streamed chunks of ", needed, " rows, to hold a rank's share of a step"));
  }

  // This rank's rows of the step in `order` (or of the streamed epoch), gathered into
  // *batch_rows. Streamed, a read error on any rank stops every rank here.
  RowBlock BatchBlock(const std::vector<std::int64_t>& order, GatheredRows* batch_rows) {
    if (streamed_epoch_) {
      const RowRange batch =
          LocalBatch(train_.rows.size(), position_.step_in_epoch, steps_per_epoch_);
      std::optional<RowBlock> block;
      RunAndAgree(comm_, [&] { block.emplace(streamed_epoch_->Gather(batch, batch_rows)); });
      return *block;
    }
    return train_.Gather(LocalBatchOrder(order), batch_rows);
  }

  // This rank's rows of the current step in the epoch's `order` (in memory).
  std::span<const std::int64_t> LocalBatchOrder(const std::vector<std::int64_t>& order) const {
    const RowRange batch = LocalBatch(static_cast<std::int64_t>(order.size()),
                                      position_.step_in_epoch, steps_per_epoch_);
    return std::span(order).subspan(static_cast<std::size_t>(batch.begin),
                                    static_cast<std::size_t>(batch.size()));
  }

  // This rank's rows of the step in `order`, summed over all ranks into *sums.
  Objective BatchObjective(const std::vector<std::int64_t>& order, double gradient_decay,
                           GradientSums* sums, GatheredRows* batch_rows) {
    sums->Clear();
    const Precision precision = config_.optimizer.PassPrecision();
    if (streamed_epoch_) {
      AccumulateBlock(*loss_, model_, BatchBlock(order, batch_rows), sums, precision);
    } else {
      AccumulatePickedRows(*loss_, model_, train_, LocalBatchOrder(order), batch_rows, sums,
                           precision);
    }
    return ReduceObjective(comm_, sums, model_, gradient_decay);
  }

  // Every rank holds the same reduced sums, so every rank stops here together.
  void CheckFinite(double loss) const {
    if (std::isfinite(loss)) return;
    throw AgreedError(StrCat("training diverged at epoch ", position_.epoch + 1, ", step ",
                             position_.global_step + 1, ": the loss is ", loss,
                             "; lower --lr (now ", config_.optimizer.learning_rate, ")"));
  }

  // Logs the finished epoch, checkpoints when due, and applies early stopping; returns
  // whether early stopping ends training.
  bool FinishEpoch(Clock::duration epoch_time, std::int64_t rows_this_session,
                   double elapsed_seconds) {
    // An epoch's end is the same step in every run, resumed or not: the lazy decay is settled.
    if (sparse_sgd_) sparse_sgd_->Flush(&model_);
    const double train_loss = position_.epoch_loss_sum / position_.epoch_weight_sum;
    EpochRecord record;
    record.epoch = position_.epoch + 1;
    record.global_step = position_.global_step;
    record.train_loss = train_loss;
    record.learning_rate = LearningRateAt(schedule_, position_.global_step - 1, total_steps_);
    record.samples_per_second = static_cast<double>(rows_this_session) /
                                std::chrono::duration<double>(epoch_time).count();
    record.elapsed_seconds = elapsed_seconds;
    std::string line = StrCat("epoch ", position_.epoch + 1, "/", config_.epochs, "  step ",
                              position_.global_step, "  train_loss ", FormatFixed(train_loss, 6));
    const std::optional<Metrics> validation = ReportEpoch(&record, &line);

    position_.epoch += 1;
    position_.step_in_epoch = 0;
    position_.cursor = 0;
    position_.epoch_loss_sum = 0.0;
    const bool stop_early = validation && UpdateEarlyStopping(validation->loss);
    const bool due = config_.checkpoint.unit == CheckpointUnit::kEpoch
                         ? position_.epoch % config_.checkpoint.every == 0
                         : IsStepCheckpointDue();
    if (due || ReachedMaxSteps() || stop_early) WriteCheckpointIfNew();
    return stop_early;
  }

  // Keeps the best model by validation loss as its own file; true once the loss has not
  // improved for --early-stopping-patience epochs.
  bool UpdateEarlyStopping(double validation_loss) {
    if (config_.early_stopping_patience <= 0) return false;
    if (validation_loss < position_.best_validation_loss) {
      position_.best_validation_loss = validation_loss;
      position_.best_epoch = position_.epoch;
      WriteModel(best_model_path_);
      return false;
    }
    if (position_.epoch - position_.best_epoch < config_.early_stopping_patience) return false;
    LogInfo(StrCat("early stopping after epoch ", position_.epoch, ": the validation loss has not "
                   "improved for ", config_.early_stopping_patience, " epochs (best ",
                   FormatFixed(position_.best_validation_loss, 6), " at epoch ",
                   position_.best_epoch, ", kept in '", best_model_path_, "')"));
    stopped_early_ = true;
    return true;
  }

  bool IsStepCheckpointDue() const {
    return config_.checkpoint.unit == CheckpointUnit::kStep &&
           position_.global_step % config_.checkpoint.every == 0;
  }

  bool ReachedMaxSteps() const {
    return config_.max_steps > 0 && position_.global_step >= config_.max_steps;
  }

  void WriteCheckpointIfNew() {
    if (position_.global_step == last_checkpoint_step_) return;
    if (!model_.IsFinite()) {
      // Identical weights on every rank: all ranks stop here, and no checkpoint is written.
      throw AgreedError(StrCat("training diverged at epoch ", position_.epoch + 1, ", step ",
                               position_.global_step, ": the weights are no longer finite; lower --lr (now ",
                               config_.optimizer.learning_rate, ")"));
    }
    const std::string path =
        (fs::path(config_.checkpoint.directory) / CheckpointFileName(position_.global_step))
            .string();
    RunAndAgree(comm_, [&] {
      if (!comm_.is_root()) return;
      // Writing, and pruning (which verifies the checkpoints), call HDF5 while a streamed
      // epoch's reader thread may be reading.
      const auto lock = h5::LockLibrary();
      try {
        WriteCheckpoint(path, MakeCheckpoint());
      } catch (const UserError& error) {
        // Disk full or an unwritable directory: say what is still safe to resume from.
        throw UserError(std::string(error.what()) +
                        (last_checkpoint_.empty()
                             ? std::string("; no earlier checkpoint exists")
                             : "; the last checkpoint, '" + last_checkpoint_ +
                                   "', is intact: free space and continue with --resume auto"));
      }
      PruneCheckpoints(config_.checkpoint.directory, config_.checkpoint.keep);
    });
    last_checkpoint_ = path;
    last_checkpoint_step_ = position_.global_step;
  }

  // With sparse steps the checkpoint's model is the eager one (brought up to date), and its
  // state arrays hold the weights as they are, so a resumed run continues with the same bits.
  Checkpoint MakeCheckpoint() {
    Checkpoint checkpoint;
    checkpoint.model = model_;
    if (sparse_sgd_) {
      sparse_sgd_->KeepWeights(model_);
      checkpoint.model = sparse_sgd_->Flushed(model_);
    }
    checkpoint.feature_scaling = prepared_.feature_scaling;
    checkpoint.position = position_;
    if (IsLbfgs()) {
      const LbfgsState& state = lbfgs_->state();
      checkpoint.optimizer_state = {
          NamedMatrix::View("lbfgs_s", state.s_history.data(), state.s_history.rows(),
                            state.s_history.cols()),
          NamedMatrix::View("lbfgs_y", state.y_history.data(), state.y_history.rows(),
                            state.y_history.cols()),
          NamedMatrix::View("lbfgs_gradient", state.gradient.data(), state.gradient.size(), 1),
          NamedMatrix::View("lbfgs_scalars", lbfgs_scalars_.data(), 1, kLbfgsScalars)};
    } else {
      for (const OptimizerStateArray& state : SolverState()) {
        checkpoint.optimizer_state.push_back(
            NamedMatrix::View(state.name, state.values->data(), state.values->rows(),
                              state.values->cols()));
      }
    }
    checkpoint.run = RunSignature{config_.seed,
                                  comm_.size(),
                                  train_.total_rows,
                                  train_.feature_count,
                                  classes_,
                                  config_.batch_size,
                                  config_.optimizer.learning_rate,
                                  config_.optimizer.momentum,
                                  config_.optimizer.weight_decay,
                                  std::string(loss_->name()),
                                  SolverName(),
                                  config_.train_path,
                                  config_.reproducible ? config_.virtual_shards : 0,
                                  BatchOrderChunkRows(),
                                  config_.reproducible ? LargestRankCount() : 0};
    return checkpoint;
  }

  const Communicator& comm_;
  const TrainConfig& config_;
  std::unique_ptr<Loss> loss_;
  Shard train_;
  std::optional<Shard> validation_;
  std::optional<ReproducibleObjective> reproducible_;  // with --reproducible
  std::optional<StreamedEpoch> streamed_epoch_;       // sgd and adamw on a streamed shard
  std::int64_t classes_ = 0;
  PreparedTraining prepared_;
  SoftmaxModel model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::optional<SparseSgd> sparse_sgd_;  // plain SGD on sparse rows (UsesSparseSteps)
  TrainingPosition position_;
  std::string last_checkpoint_;
  std::int64_t last_checkpoint_step_ = -1;
  std::int64_t total_steps_ = 0;  // over all epochs: the horizon of the learning-rate schedule
  int stop_signal_ = 0;           // the stop signal the ranks agreed on, or 0
  std::string model_path_;
  std::string best_model_path_;
  std::string metrics_log_;
  std::int64_t steps_per_epoch_ = 0;
  OptimizerConfig schedule_;  // the optimizer options with the step schedule in steps
  bool stopped_early_ = false;
  // L-BFGS: the solver, the state read from a checkpoint until the solver takes it over, and
  // the arrays a checkpoint is read into.
  static constexpr Eigen::Index kLbfgsScalars = 5;  // value, pairs, iteration, evaluations, step
  std::optional<Lbfgs> lbfgs_;
  LbfgsState lbfgs_state_;
  Matrix lbfgs_gradient_;
  Matrix lbfgs_scalars_;
  bool resumed_lbfgs_ = false;
  // Newton-CG: the solver, its callbacks over the data, and its counters, which with the model
  // are all a checkpoint needs (iteration, evaluations, Hessian products, step, CG iterations).
  static constexpr Eigen::Index kNewtonScalars = 5;
  std::optional<ShardedNewtonProblem> newton_problem_;
  bool newton_preconditioned_ = false;  // Newton-CG with the Kronecker-factored preconditioner
  std::optional<NewtonCg> newton_;
  Matrix newton_scalars_;
  bool resumed_newton_ = false;
  double last_elapsed_ = 0.0;
};

}  // namespace

std::string StreamRefusal(const TrainConfig& config) {
  if (config.reproducible) {
    return "--reproducible sums its virtual shards from rows held in memory; drop one of the two";
  }
  if (config.preparation.standardize) {
    return "--standardize rescales the rows held in memory; scale the features before storing "
           "them, or drop one of the two";
  }
  return "";
}

std::int64_t StepsPerEpoch(std::int64_t total_rows, std::int64_t batch_size) {
  return (total_rows + batch_size - 1) / batch_size;
}

RowRange LocalBatch(std::int64_t local_rows, std::int64_t step, std::int64_t steps) {
  return RowRange{step * local_rows / steps, (step + 1) * local_rows / steps};
}

TrainResult Train(const Communicator& comm, const TrainConfig& config) {
  WarnIfThreadsShareCpus(comm, config.threads);
  return TrainingRun(comm, config).Run();
}

}  // namespace shardmax
