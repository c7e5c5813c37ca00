// Configuration types filled from the command line or a config file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shardmax {

enum class LearningRateSchedule { kConstant, kCosine };

struct OptimizerConfig {
  double learning_rate = 0.1;  // the base rate; the schedule scales it per step
  LearningRateSchedule schedule = LearningRateSchedule::kConstant;
  double momentum = 0.0;      // 0 is plain SGD
  double weight_decay = 1e-4;  // lambda in (lambda/2)||W||^2
};

// Names of the datasets inside an HDF5 data file.
struct DatasetLayout {
  std::string features = "features";
  std::string labels = "labels";
  std::string sample_weights{};  // 1-D per-row weights, read only when named
};

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
  std::string model_path;   // "": <checkpoint dir>/model.h5
  std::string metrics_log;  // "": <checkpoint dir>/metrics.csv
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
};

}  // namespace shardmax
