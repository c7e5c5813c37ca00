#include "trainer/scoring_inputs.hpp"

#include <optional>
#include <utility>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/loss.hpp"
#include "common/objective.hpp"
#include "common/scoring.hpp"
#include "common/standardization.hpp"

namespace shardmax {

ModelFile LoadModel(const Communicator& comm, const std::string& path) {
  std::optional<ModelFile> model;
  RunAndAgree(comm, [&] {
    model = ReadModelFile(path);
    try {
      MakeLoss(model->loss);
    } catch (const UsageError& error) {
      // Here the loss comes from the file, not the command line: not a usage error.
      throw UserError("model '" + path + "': " + error.what());
    }
  });
  return std::move(*model);
}

void CheckDataFitsModel(const Shard& shard, const ModelFile& model, const std::string& model_path) {
  if (shard.feature_count != model.model.features()) {
    throw AgreedError(StrCat("data file '", shard.path, "' has ", shard.feature_count,
                             " features but model '", model_path, "' expects ",
                             model.model.features()));
  }
  const bool model_uint8 = model.feature_type == "uint8";
  const bool data_uint8 = shard.feature_type == "uint8";
  if (!model.feature_type.empty() && model_uint8 != data_uint8) {
    LogWarning("model '" + model_path + "' was trained on " + model.feature_type +
               " features but data file '" + shard.path + "' holds " + shard.feature_type +
               " features; uint8 features are read as value/255, so the scales may differ");
  }
}

ClassInfo ResolveClassInfo(const ModelFile& model, const std::string& model_path,
                           const Shard& shard) {
  const auto classes = static_cast<std::size_t>(model.model.classes());
  const ClassInfo& from_data = shard.classes;
  // Compared over the classes both list: a file holding fewer classes may list fewer values.
  const std::vector<std::int64_t>& model_values = model.classes.label_values;
  for (std::size_t k = 0; k < model_values.size() && k < from_data.label_values.size(); ++k) {
    if (model_values[k] == from_data.label_values[k]) continue;
    throw AgreedError(StrCat("data file '", shard.path, "', dataset 'label_values': class ", k,
                             " is label ", from_data.label_values[k], " there but label ",
                             model_values[k], " in model '", model_path,
                             "', so the class indices do not correspond"));
  }
  ClassInfo resolved = model.classes;
  if (resolved.label_values.empty() && from_data.label_values.size() == classes) {
    resolved.label_values = from_data.label_values;
  }
  if (resolved.class_names.empty() && from_data.class_names.size() == classes) {
    resolved.class_names = from_data.class_names;
  }
  return resolved;
}

po::options_description ThresholdOption(std::optional<double>* threshold) {
  po::options_description options;
  options.add_options()(
      "threshold", po::value<double>()->notifier([threshold](double value) {
        RequireOption(value > 0.0 && value < 1.0, "threshold", value, "must be in (0, 1)");
        *threshold = value;
      }),
      "multi-label models: label k is on when its probability is >= this (default 0.5)");
  return options;
}

double ChooseThreshold(const std::optional<double>& given, const ModelFile& model,
                       const std::string& model_path) {
  if (!given) return kDefaultThreshold;
  if (!MakeLoss(model.loss)->is_multi_label()) {
    throw UsageError("--threshold applies to multi-label models; model '" + model_path +
                     "' was trained with loss '" + model.loss + "' and predicts one class");
  }
  return *given;
}

double TrainedWeightDecayPenalty(const ModelFile& model) {
  if (!model.feature_scaling) return WeightDecayPenalty(model.model, model.weight_decay);
  return WeightDecayPenalty(ToTrainingScale(model.model, *model.feature_scaling),
                            model.weight_decay);
}

std::vector<std::string> DisplayNames(const ClassInfo& classes, std::int64_t class_count) {
  std::vector<std::string> names;
  for (std::int64_t k = 0; k < class_count; ++k) {
    const auto index = static_cast<std::size_t>(k);
    if (index < classes.class_names.size()) {
      names.push_back(classes.class_names[index]);
    } else if (index < classes.label_values.size()) {
      names.push_back(std::to_string(classes.label_values[index]));
    } else {
      names.push_back(std::to_string(k));
    }
  }
  return names;
}

}  // namespace shardmax
