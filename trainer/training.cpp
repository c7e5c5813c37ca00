#include "trainer/training.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/optimizer.hpp"
#include "common/random.hpp"
#include "io/dataset_reader.hpp"
#include "io/metrics_log.hpp"
#include "io/model_file.hpp"
#include "trainer/training_data.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kShuffleStream = 7;

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
        metrics_log_(PathOrDefault(config.metrics_log, "metrics.csv")) {}

  TrainResult Run() {
    PrepareCheckpointDirectory(comm_, config_.checkpoint.directory);
    LoadData();
    const std::optional<Checkpoint> checkpoint = LoadCheckpointToResume();
    DecideClassCount(checkpoint);
    prepared_ = PrepareTrainingData(comm_, config_, *loss_, classes_,
                                    checkpoint ? &*checkpoint : nullptr, last_checkpoint_, &train_,
                                    validation_ ? &*validation_ : nullptr);
    model_ = SoftmaxModel::Zeros(classes_, train_.feature_count);
    model_.bias = prepared_.initial_bias;
    optimizer_ = MakeOptimizer(config_.optimizer, classes_, train_.feature_count);
    if (checkpoint) RestoreFrom(*checkpoint);
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) StartMetricsLog(metrics_log_, position_.epoch);
    });

    LogInfo(StrCat("training on ", train_.total_rows, " rows x ", train_.feature_count,
                   " features, ", classes_,
                   loss_->is_multi_label() ? " labels (multi-label), " : " classes, ", comm_.size(),
                   " ranks, ",
                   StepsPerEpoch(train_.total_rows, config_.batch_size),
                   " steps per epoch (global batch ", config_.batch_size, ")"));
    TrainResult result;
    result.stopped_at_max_steps = TrainEpochs();
    WriteCheckpointIfNew();

    if (!result.stopped_at_max_steps) {
      WriteFinalModel();
      result.model_path = model_path_;
    }
    result.model = model_;
    result.position = position_;
    result.last_checkpoint = last_checkpoint_;
    result.metrics_log = metrics_log_;
    result.train = EvaluateSharded(comm_, *loss_, model_, train_, config_.optimizer.weight_decay);
    if (validation_) {
      result.validation =
          EvaluateSharded(comm_, *loss_, model_, *validation_, config_.optimizer.weight_decay);
    }
    return result;
  }

 private:
  std::string PathOrDefault(const std::string& path, const char* name) const {
    return path.empty() ? (fs::path(config_.checkpoint.directory) / name).string() : path;
  }

  void WriteFinalModel() {
    ModelFile file;
    file.model = ModelForRawFeatures(model_, prepared_);
    file.feature_scaling = prepared_.feature_scaling;
    file.loss = std::string(loss_->name());
    file.weight_decay = config_.optimizer.weight_decay;
    file.feature_type = train_.feature_type;
    file.classes = train_.classes;
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) WriteModelFile(model_path_, file);
    });
  }

  void LoadData() {
    train_ = ReadShard(comm_, config_.train_path, config_.layout);
    if (config_.batch_size < comm_.size()) {
      throw UsageError(StrCat("--batch-size ", config_.batch_size, " is smaller than the ",
                              comm_.size(), " ranks: each rank needs rows in every step"));
    }
    if (!config_.validation_path.empty()) {
      validation_ =
          ReadShard(comm_, config_.validation_path, WithoutSampleWeights(config_.layout));
      if (validation_->feature_count != train_.feature_count) {
        throw AgreedError(StrCat("validation file '", config_.validation_path, "' has ",
                                 validation_->feature_count, " features but '",
                                 config_.train_path, "' has ", train_.feature_count));
      }
    }
  }

  std::optional<Checkpoint> LoadCheckpointToResume() {
    std::string path = config_.checkpoint.resume;
    std::optional<std::string> newest;
    RunAndAgree(comm_, [&] { newest = FindNewestCheckpoint(config_.checkpoint.directory); });
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
      path = *newest;
    }
    std::optional<Checkpoint> checkpoint;
    RunAndAgree(comm_, [&] { checkpoint = ReadCheckpoint(path); });
    CheckCheckpointFitsData(path, checkpoint->run);
    LogInfo(StrCat("resuming from '", path, "' at epoch ", checkpoint->position.epoch + 1,
                   ", step ", checkpoint->position.global_step));
    last_checkpoint_ = path;
    return checkpoint;
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
    if (run.world_size != comm_.size() || run.seed != config_.seed ||
        run.batch_size != config_.batch_size) {
      LogWarning(StrCat(context, " was written with ", run.world_size, " ranks, seed ", run.seed,
                        ", batch size ", run.batch_size, "; this run continues with ",
                        comm_.size(), " ranks, seed ", config_.seed, ", batch size ",
                        config_.batch_size, ", so it will not match an uninterrupted run"));
    }
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

  void RestoreFrom(const Checkpoint& checkpoint) {
    model_ = checkpoint.model;
    position_ = checkpoint.position;
    last_checkpoint_step_ = position_.global_step;
    for (const OptimizerStateArray& state : optimizer_->State()) {
      const NamedMatrix* saved = nullptr;
      for (const NamedMatrix& candidate : checkpoint.optimizer_state) {
        if (candidate.name == state.name) saved = &candidate;
      }
      if (saved == nullptr || saved->values.rows() != state.values->rows() ||
          saved->values.cols() != state.values->cols()) {
        throw AgreedError("checkpoint '" + last_checkpoint_ + "' lacks optimizer state '/optimizer/" +
                          state.name + "' of the right shape");
      }
      *state.values = saved->values;
    }
  }

  // Runs epochs until done or until --max-steps; returns whether --max-steps stopped it.
  bool TrainEpochs() {
    const std::int64_t steps = StepsPerEpoch(train_.total_rows, config_.batch_size);
    total_steps_ = steps * config_.epochs;
    const std::int64_t local_rows = train_.rows.size();
    GradientSums sums(classes_, train_.feature_count);
    GatheredRows batch_rows;
    const auto run_start = Clock::now();

    while (position_.epoch < config_.epochs) {
      if (ReachedMaxSteps()) return true;
      const std::vector<std::int64_t> order = ShuffledOrder(
          local_rows, SplitMix64::ForStream(config_.seed, kShuffleStream,
                                            static_cast<std::uint64_t>(position_.epoch),
                                            static_cast<std::uint64_t>(comm_.rank())));
      const auto epoch_start = Clock::now();
      const std::int64_t cursor_at_start = position_.cursor;

      while (position_.step_in_epoch < steps) {
        const RowRange batch = LocalBatch(local_rows, position_.step_in_epoch, steps);
        const auto batch_order = std::span(order).subspan(static_cast<std::size_t>(batch.begin),
                                                          static_cast<std::size_t>(batch.size()));
        sums.Clear();
        AccumulateBlock(*loss_, model_, train_.Gather(batch_order, &batch_rows), &sums);
        const Objective objective =
            ReduceObjective(comm_, &sums, model_, config_.optimizer.weight_decay);
        if (!std::isfinite(objective.value)) {
          // Every rank holds the same reduced sums, so every rank stops here together.
          throw AgreedError(StrCat("training diverged at epoch ", position_.epoch + 1, ", step ",
                                   position_.global_step + 1, ": the loss is ", objective.value,
                                   "; lower --lr (now ", config_.optimizer.learning_rate, ")"));
        }
        optimizer_->Step(LearningRateAt(config_.optimizer, position_.global_step, total_steps_),
                         objective.grad_weights, objective.grad_bias, &model_);
        ++position_.step_in_epoch;
        ++position_.global_step;
        position_.cursor += static_cast<std::int64_t>(sums.rows());
        position_.epoch_loss_sum += sums.loss_sum();
        position_.epoch_weight_sum += sums.count();

        if (position_.step_in_epoch == steps) break;  // the epoch's end is handled below
        if (IsStepCheckpointDue()) WriteCheckpointIfNew();
        if (ReachedMaxSteps()) {
          WriteCheckpointIfNew();
          return true;
        }
      }
      FinishEpoch(Clock::now() - epoch_start, position_.cursor - cursor_at_start,
                  SecondsSince(run_start));
    }
    return false;
  }

  void FinishEpoch(Clock::duration epoch_time, std::int64_t rows_this_session,
                   double elapsed_seconds) {
    const double train_loss = position_.epoch_loss_sum / position_.epoch_weight_sum;
    EpochRecord record;
    record.epoch = position_.epoch + 1;
    record.global_step = position_.global_step;
    record.train_loss = train_loss;
    record.learning_rate = LearningRateAt(config_.optimizer, position_.global_step - 1,
                                          total_steps_);
    std::string line = StrCat("epoch ", position_.epoch + 1, "/", config_.epochs, "  step ",
                              position_.global_step, "  train_loss ", FormatFixed(train_loss, 6));
    if (validation_) {
      const Metrics metrics =
          EvaluateSharded(comm_, *loss_, model_, *validation_, config_.optimizer.weight_decay);
      line += StrCat("  val_loss ", FormatFixed(metrics.loss, 6), "  val_acc ",
                     FormatFixed(100.0 * metrics.accuracy, 2), "%");
      record.validation_loss = metrics.loss;
      record.validation_accuracy = metrics.accuracy;
    }
    const double seconds = std::chrono::duration<double>(epoch_time).count();
    record.samples_per_second = static_cast<double>(rows_this_session) / seconds;
    record.elapsed_seconds = elapsed_seconds;
    line += StrCat("  samples/s ", FormatFixed(record.samples_per_second, 0), "  elapsed ",
                   FormatFixed(elapsed_seconds, 2), "s");
    LogInfo(line);
    RunAndAgree(comm_, [&] {
      if (comm_.is_root()) AppendMetricsLog(metrics_log_, record);
    });

    position_ = TrainingPosition{position_.epoch + 1, 0, position_.global_step, 0, 0.0};
    const bool due = config_.checkpoint.unit == CheckpointUnit::kEpoch
                         ? position_.epoch % config_.checkpoint.every == 0
                         : IsStepCheckpointDue();
    if (due || ReachedMaxSteps()) WriteCheckpointIfNew();
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
      WriteCheckpoint(path, MakeCheckpoint());
      PruneCheckpoints(config_.checkpoint.directory, config_.checkpoint.keep);
    });
    last_checkpoint_ = path;
    last_checkpoint_step_ = position_.global_step;
  }

  Checkpoint MakeCheckpoint() {
    Checkpoint checkpoint;
    checkpoint.model = model_;
    checkpoint.feature_scaling = prepared_.feature_scaling;
    checkpoint.position = position_;
    for (const OptimizerStateArray& state : optimizer_->State()) {
      checkpoint.optimizer_state.push_back({state.name, *state.values});
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
                                  std::string(optimizer_->name()),
                                  config_.train_path};
    return checkpoint;
  }

  const Communicator& comm_;
  const TrainConfig& config_;
  std::unique_ptr<Loss> loss_;
  Shard train_;
  std::optional<Shard> validation_;
  std::int64_t classes_ = 0;
  PreparedTraining prepared_;
  SoftmaxModel model_;
  std::unique_ptr<Optimizer> optimizer_;
  TrainingPosition position_;
  std::string last_checkpoint_;
  std::int64_t last_checkpoint_step_ = -1;
  std::int64_t total_steps_ = 0;  // over all epochs: the horizon of the learning-rate schedule
  std::string model_path_;
  std::string metrics_log_;
};

}  // namespace

std::int64_t StepsPerEpoch(std::int64_t total_rows, std::int64_t batch_size) {
  return (total_rows + batch_size - 1) / batch_size;
}

RowRange LocalBatch(std::int64_t local_rows, std::int64_t step, std::int64_t steps) {
  return RowRange{step * local_rows / steps, (step + 1) * local_rows / steps};
}

TrainResult Train(const Communicator& comm, const TrainConfig& config) {
  return TrainingRun(comm, config).Run();
}

}  // namespace shardmax
