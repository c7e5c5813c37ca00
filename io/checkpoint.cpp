#include "io/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"
#include "io/hdf5_file.hpp"
#include "io/model_file.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

const std::regex kCheckpointName(R"(ckpt-(\d{9,})\.h5)");

// Checkpoints in `directory` as (step, path), oldest first.
std::vector<std::pair<std::int64_t, std::string>> ListCheckpoints(const std::string& directory) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, match, kCheckpointName)) {
      found.emplace_back(std::stoll(match[1].str()), entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

void WriteContents(const h5::Handle& file, const Checkpoint& checkpoint) {
  h5::WriteAttribute(file, "/", "format", std::string("shardmax-checkpoint"));
  h5::WriteAttribute(file, "/", "format_version", kCheckpointFormatVersion);

  WriteModelDatasets(file, checkpoint.model);
  if (checkpoint.feature_scaling) WriteFeatureScaling(file, *checkpoint.feature_scaling);
  for (const NamedMatrix& state : checkpoint.optimizer_state) {
    h5::WriteMatrix(file, "/optimizer/" + state.name, state.values);
  }

  const TrainingPosition& position = checkpoint.position;
  h5::WriteAttribute(file, "/", "epoch", position.epoch);
  h5::WriteAttribute(file, "/", "step_in_epoch", position.step_in_epoch);
  h5::WriteAttribute(file, "/", "global_step", position.global_step);
  h5::WriteAttribute(file, "/", "cursor", position.cursor);
  h5::WriteAttribute(file, "/", "epoch_loss_sum", position.epoch_loss_sum);
  h5::WriteAttribute(file, "/", "epoch_weight_sum", position.epoch_weight_sum);

  const RunSignature& run = checkpoint.run;
  h5::WriteAttribute(file, "/", "seed", static_cast<std::int64_t>(run.seed));
  h5::WriteAttribute(file, "/", "world_size", run.world_size);
  h5::WriteAttribute(file, "/", "rows", run.rows);
  h5::WriteAttribute(file, "/", "features", run.features);
  h5::WriteAttribute(file, "/", "classes", run.classes);
  h5::WriteAttribute(file, "/", "batch_size", run.batch_size);
  h5::WriteAttribute(file, "/", "learning_rate", run.learning_rate);
  h5::WriteAttribute(file, "/", "momentum", run.momentum);
  h5::WriteAttribute(file, "/", "weight_decay", run.weight_decay);
  h5::WriteAttribute(file, "/", "loss", run.loss);
  h5::WriteAttribute(file, "/", "optimizer", run.optimizer);
  h5::WriteAttribute(file, "/", "train_path", run.train_path);
}

}  // namespace

std::string CheckpointFileName(std::int64_t global_step) {
  char name[32];
  std::snprintf(name, sizeof name, "ckpt-%09lld.h5", static_cast<long long>(global_step));
  return name;
}

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  WriteFileAtomically(path, [&](const std::string& temporary) {
    h5::Handle file = h5::CreateFile(temporary);
    WriteContents(file, checkpoint);
  });
}

Checkpoint ReadCheckpoint(const std::string& path) {
  const std::string context = "checkpoint '" + path + "'";
  if (!fs::is_regular_file(path)) throw UserError(context + ": no such file");
  h5::Handle file = h5::OpenFileForReading(path);
  if (h5::ReadStringAttribute(file, "/", "format", context) != "shardmax-checkpoint") {
    throw UserError(context + ": not a shardmax checkpoint");
  }
  const std::int64_t version = h5::ReadIntAttribute(file, "/", "format_version", context);
  if (version != kCheckpointFormatVersion) {
    throw UserError(StrCat(context, ": format version ", version, ", this build reads version ",
                           kCheckpointFormatVersion));
  }

  Checkpoint checkpoint;
  checkpoint.model = ReadModelDatasets(file, context);
  const Eigen::Index classes = checkpoint.model.classes();

  const RunSignature run{
      static_cast<std::uint64_t>(h5::ReadIntAttribute(file, "/", "seed", context)),
      h5::ReadIntAttribute(file, "/", "world_size", context),
      h5::ReadIntAttribute(file, "/", "rows", context),
      h5::ReadIntAttribute(file, "/", "features", context),
      h5::ReadIntAttribute(file, "/", "classes", context),
      h5::ReadIntAttribute(file, "/", "batch_size", context),
      h5::ReadDoubleAttribute(file, "/", "learning_rate", context),
      h5::ReadDoubleAttribute(file, "/", "momentum", context),
      h5::ReadDoubleAttribute(file, "/", "weight_decay", context),
      h5::ReadStringAttribute(file, "/", "loss", context),
      h5::ReadStringAttribute(file, "/", "optimizer", context),
      h5::ReadStringAttribute(file, "/", "train_path", context)};
  checkpoint.run = run;
  if (run.classes != classes || run.features != checkpoint.model.weights.cols()) {
    throw UserError(StrCat(context, ": '/model/weights' is ", classes, " x ",
                           checkpoint.model.weights.cols(), " but the checkpoint records K = ",
                           run.classes, ", D = ", run.features));
  }

  checkpoint.position = TrainingPosition{
      h5::ReadIntAttribute(file, "/", "epoch", context),
      h5::ReadIntAttribute(file, "/", "step_in_epoch", context),
      h5::ReadIntAttribute(file, "/", "global_step", context),
      h5::ReadIntAttribute(file, "/", "cursor", context),
      h5::ReadDoubleAttribute(file, "/", "epoch_loss_sum", context)};
  // Checkpoints from before row weights lack it: their rows all weighed 1.
  checkpoint.position.epoch_weight_sum =
      h5::HasAttribute(file, "/", "epoch_weight_sum")
          ? h5::ReadDoubleAttribute(file, "/", "epoch_weight_sum", context)
          : static_cast<double>(checkpoint.position.cursor);
  checkpoint.feature_scaling = ReadFeatureScaling(file, run.features, context);

  if (h5::HasObject(file, "/optimizer")) {
    h5::ErrorPrintingOff quiet;
    h5::Handle group(h5::CheckId(H5Gopen2(file.get(), "/optimizer", H5P_DEFAULT), context),
                     H5Gclose);
    H5G_info_t info;
    h5::Check(H5Gget_info(group.get(), &info), context);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256];
      h5::CheckId(H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                     sizeof name, H5P_DEFAULT),
                  context);
      checkpoint.optimizer_state.push_back(
          {name, h5::ReadMatrix(file, std::string("/optimizer/") + name, context)});
    }
  }
  return checkpoint;
}

std::optional<std::string> FindNewestCheckpoint(const std::string& directory) {
  const auto found = ListCheckpoints(directory);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

void PruneCheckpoints(const std::string& directory, int keep) {
  const auto found = ListCheckpoints(directory);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < found.size(); ++i) {
    std::error_code ignored;
    fs::remove(found[i].second, ignored);
  }
}

}  // namespace shardmax
