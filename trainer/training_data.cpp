#include "trainer/training_data.hpp"

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/weighting.hpp"
#include "io/shard_stream.hpp"
#include "trainer/reproducible_objective.hpp"

namespace shardmax {
namespace {

// Class weights print on one line up to this many classes.
constexpr std::int64_t kMaxLoggedClassWeights = 20;

Vector ChooseClassWeights(const Communicator& comm, const TrainConfig& config, std::int64_t classes,
                          const Shard& train) {
  const DataPreparation& preparation = config.preparation;
  Vector weights;
  if (preparation.class_weighting == ClassWeighting::kBalanced) {
    weights = BalancedClassWeights(CountRowsPerClass(comm, train, classes));
  } else if (preparation.class_weighting == ClassWeighting::kGiven) {
    if (static_cast<std::int64_t>(preparation.class_weights.size()) != classes) {
      throw UsageError(StrCat("--class-weight gives ", preparation.class_weights.size(),
                              " weights, but there are ", classes, " classes"));
    }
    weights = Eigen::Map<const Vector>(preparation.class_weights.data(), classes);
  }
  if (weights.size() > 0 && classes <= kMaxLoggedClassWeights) {
    std::string line = "class weights:";
    for (Eigen::Index k = 0; k < weights.size(); ++k) line += StrCat(" ", weights(k));
    LogInfo(line);
  }
  return weights;
}

void CheckWeightSum(const Communicator& comm, const TrainConfig& config, const Shard& train) {
  double sum = 0.0;
  VisitBlocksAgreed(comm, train, [&](const RowBlock& block) {
    for (const double weight : block.weights) sum += weight;
  });
  std::vector<double> total{sum};
  AllreduceSum(comm, total);
  if (total[0] > 0.0) return;
  throw AgreedError("the row weights of '" + config.train_path +
                    "' sum to 0 (sample weights times class weights): no row counts");
}

std::optional<FeatureScaling> ChooseFeatureScaling(const Communicator& comm,
                                                   const TrainConfig& config,
                                                   const Checkpoint* checkpoint,
                                                   const std::string& checkpoint_path,
                                                   const Shard& train) {
  const bool standardize = config.preparation.standardize;
  if (checkpoint != nullptr && checkpoint->feature_scaling.has_value() != standardize) {
    throw AgreedError("checkpoint '" + checkpoint_path + "' was trained " +
                      (standardize ? "without" : "with") + " --standardize; resume it " +
                      (standardize ? "without" : "with") + " --standardize");
  }
  if (!standardize) return std::nullopt;
  if (train.is_sparse) {
    throw AgreedError("--standardize centers every feature, which would make the sparse features "
                      "of '" + config.train_path + "' dense; scale them before storing them, or "
                      "train without --standardize");
  }
  if (checkpoint != nullptr) return checkpoint->feature_scaling;
  if (train.virtual_shards > 0) return ScalingFromMomentSums(ExactFeatureMomentSums(comm, train));
  std::vector<double> sums = FeatureMomentSums(train.features);
  AllreduceSum(comm, sums);
  return ScalingFromMomentSums(sums);
}

Vector ChooseInitialBias(const Communicator& comm, const TrainConfig& config, std::int64_t classes,
                         const Shard& train) {
  if (config.preparation.init_bias != BiasInit::kPriors) return Vector::Zero(classes);
  const std::vector<std::int64_t> counts = CountRowsPerClass(comm, train, classes);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] > 0) continue;
    throw AgreedError(StrCat("--init-bias priors: class ", k, " has no rows in '",
                             config.train_path, "', so its log prior is -infinity"));
  }
  return LogClassPriors(counts);
}

}  // namespace

PreparedTraining PrepareTrainingData(const Communicator& comm, const TrainConfig& config,
                                     const Loss& loss, std::int64_t classes,
                                     const Checkpoint* checkpoint,
                                     const std::string& checkpoint_path, Shard* train,
                                     Shard* validation) {
  CheckLabelsSuitLoss(*train, config.layout, loss, "--loss");
  if (validation != nullptr) CheckLabelsSuitLoss(*validation, config.layout, loss, "--loss");

  const Vector class_weights = ChooseClassWeights(comm, config, classes, *train);
  if (train->is_streamed()) {
    train->stream->SetClassWeights(class_weights);  // applied to each chunk as it is read
  } else {
    train->weights = RowWeights(train->labels, class_weights, train->weights);
  }
  if (train->has_weights()) CheckWeightSum(comm, config, *train);

  PreparedTraining prepared;
  if (config.preparation.standardize) {  // rewritten in place: as float
    train->HoldFeaturesAsFloat();
    if (validation != nullptr) validation->HoldFeaturesAsFloat();
  }
  prepared.feature_scaling =
      ChooseFeatureScaling(comm, config, checkpoint, checkpoint_path, *train);
  if (prepared.feature_scaling) {
    StandardizeFeatures(*prepared.feature_scaling, &train->features);
    if (validation != nullptr)
      StandardizeFeatures(*prepared.feature_scaling, &validation->features);
  }
  prepared.initial_bias = checkpoint != nullptr ? Vector::Zero(classes)
                                                : ChooseInitialBias(comm, config, classes, *train);
  return prepared;
}

DatasetLayout WithoutSampleWeights(DatasetLayout layout) {
  layout.sample_weights.clear();
  return layout;
}

SoftmaxModel ModelForRawFeatures(const SoftmaxModel& model, const PreparedTraining& prepared) {
  return prepared.feature_scaling ? ToOriginalScale(model, *prepared.feature_scaling) : model;
}

}  // namespace shardmax
