// The trained model as one HDF5 file (layout in README.md, "Model file"). Wherever a model
// is read, a checkpoint is accepted too: both hold /model/weights and /model/bias.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/model.hpp"
#include "common/standardization.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {

inline constexpr std::int64_t kModelFormatVersion = 1;

// Optional class information a data file may carry (datasets `label_values`, `class_names`):
// the original label and the name of each class k.
struct ClassInfo {
  std::vector<std::int64_t> label_values;
  std::vector<std::string> class_names;
};

struct ModelFile {
  SoftmaxModel model;  // on the original feature scale: it takes the data's own features
  std::string loss = "softmax";
  double weight_decay = 0.0;
  std::string feature_type;  // of the training data: "float32", "float64" or "uint8"
  ClassInfo classes;
  // When training standardized the features: their m and s, already folded into `model`
  // (common/standardization.hpp). The weights as trained, whose norm the weight decay
  // penalized, are ToTrainingScale(model, *feature_scaling).
  std::optional<FeatureScaling> feature_scaling;
};

// /model/weights (K x D) and /model/bias (K), shared by model files and checkpoints.
void WriteModelDatasets(const h5::Handle& file, const SoftmaxModel& model);
SoftmaxModel ReadModelDatasets(const h5::Handle& file, const std::string& context);

// /standardization/mean and /standardization/scale (D each), shared by model files and
// checkpoints; reading gives nothing when the file has no /standardization.
void WriteFeatureScaling(const h5::Handle& file, const FeatureScaling& scaling);
std::optional<FeatureScaling> ReadFeatureScaling(const h5::Handle& file, std::int64_t features,
                                                 const std::string& context);

// Rank 0's job: writes atomically (temporary file, fsync, rename).
void WriteModelFile(const std::string& path, const ModelFile& model);

// Reads a model file or a checkpoint; a problem is a UserError naming the file. A checkpoint
// of a standardized run holds training-scale weights: they are mapped to the original scale.
ModelFile ReadModelFile(const std::string& path);

}  // namespace shardmax
