// The trained model as one HDF5 file (layout in README.md, "Model file"). Wherever a model
// is read, a checkpoint is accepted too: both hold /model/weights and /model/bias.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model.hpp"
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
  SoftmaxModel model;
  std::string loss = "softmax";
  double weight_decay = 0.0;
  std::string feature_type;  // of the training data: "float32", "float64" or "uint8"
  ClassInfo classes;
};

// /model/weights (K x D) and /model/bias (K), shared by model files and checkpoints.
void WriteModelDatasets(const h5::Handle& file, const SoftmaxModel& model);
SoftmaxModel ReadModelDatasets(const h5::Handle& file, const std::string& context);

// Rank 0's job: writes atomically (temporary file, fsync, rename).
void WriteModelFile(const std::string& path, const ModelFile& model);

// Reads a model file or a checkpoint; a problem is a UserError naming the file.
ModelFile ReadModelFile(const std::string& path);

}  // namespace shardmax
