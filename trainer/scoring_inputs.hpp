// What `evaluate` and `predict` both start from: a model (or checkpoint) read on every rank,
// a data shard checked against it, and the class information to label the answers with.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/mpi_layer.hpp"
#include "io/dataset_reader.hpp"
#include "io/model_file.hpp"
#include "trainer/options.hpp"

namespace shardmax {

// Collective: every rank reads the file; any problem (missing file, not a model, unknown
// loss) is the same AgreedError on every rank, naming the file.
ModelFile LoadModel(const Communicator& comm, const std::string& path);

// Throws AgreedError unless the data has the model's number of features; warns when one of
// them was uint8 (read as value/255) and the other not, since the scales then differ.
void CheckDataFitsModel(const Shard& shard, const ModelFile& model, const std::string& model_path);

// The class information to report with: the model's, and where the model has none (checkpoints
// carry none) the data file's when it has one entry per class. If both give label values and
// they differ, class k means a different label in each, so this throws AgreedError.
ClassInfo ResolveClassInfo(const ModelFile& model, const std::string& model_path,
                           const Shard& shard);

// --threshold of evaluate and predict, kept in `threshold` when given; its value must be in (0, 1).
po::options_description ThresholdOption(std::optional<double>* threshold);

// The multi-label decision threshold to use: the given one, else kDefaultThreshold. A given
// threshold for a single-label model is a UsageError naming --threshold and the model.
double ChooseThreshold(const std::optional<double>& given, const ModelFile& model,
                       const std::string& model_path);

// The weight-decay term (lambda/2)||W||^2 as training penalized it: for a standardized model,
// of its training-scale weights.
double TrainedWeightDecayPenalty(const ModelFile& model);

// One display name per class: the class name, else the original label value, else the index.
std::vector<std::string> DisplayNames(const ClassInfo& classes, std::int64_t class_count);

}  // namespace shardmax
