// What training derives from the sharded data before the first step (README, "Losses and
// weighting" and "Standardization and bias initialization"), all collective:
//   - the labels must suit the loss (1-D class labels, or a 2-D 0/1 matrix for sigmoid);
//   - row weights w_i = c[y_i] * s_i on the training shard (common/weighting.hpp), with the
//     class counts for balanced weights summed over every rank;
//   - with --standardize, the features' mean and standard deviation over every rank (one
//     all-reduce), applied in place to the training and validation shards; on resume the
//     checkpoint's, so the resumed run sees the same features;
//   - the initial bias: zero, or the log class priors.
#pragma once

#include <optional>
#include <string>

#include "common/config.hpp"
#include "common/loss.hpp"
#include "common/mpi_layer.hpp"
#include "common/standardization.hpp"
#include "io/checkpoint.hpp"
#include "io/dataset_reader.hpp"

namespace shardmax {

struct PreparedTraining {
  std::optional<FeatureScaling> feature_scaling;  // with --standardize
  Vector initial_bias;                            // K: zeros, or the log class priors
};

// Collective. `checkpoint` (read from `checkpoint_path`) is the one resumed from, if any;
// `validation` may be null. Throws AgreedError for data that cannot work (labels that do not
// suit the loss, weights summing to 0, a class without rows for --init-bias priors, a
// checkpoint standardized differently) and UsageError for --class-weight of the wrong length.
PreparedTraining PrepareTrainingData(const Communicator& comm, const TrainConfig& config,
                                     const Loss& loss, std::int64_t classes,
                                     const Checkpoint* checkpoint,
                                     const std::string& checkpoint_path, Shard* train,
                                     Shard* validation);

// The layout for the validation file: its metrics are unweighted, so no sample weights.
DatasetLayout WithoutSampleWeights(DatasetLayout layout);

// The final model as a model file stores it: on the original feature scale.
SoftmaxModel ModelForRawFeatures(const SoftmaxModel& model, const PreparedTraining& prepared);

}  // namespace shardmax
