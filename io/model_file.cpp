#include "io/model_file.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {

void WriteModelDatasets(const h5::Handle& file, const SoftmaxModel& model) {
  h5::WriteMatrix(file, "/model/weights", model.weights);
  h5::Handle bias =
      h5::CreateDataset(file, "/model/bias", H5T_IEEE_F64LE, model.bias.size(), 0, h5::Storage{});
  h5::WriteRows(bias, 0, model.bias.size(), H5T_NATIVE_DOUBLE, model.bias.data(),
                "dataset '/model/bias'");
}

SoftmaxModel ReadModelDatasets(const h5::Handle& file, const std::string& context) {
  SoftmaxModel model;
  model.weights = h5::ReadMatrix(file, "/model/weights", context);
  const Eigen::Index classes = model.weights.rows();
  h5::Handle bias = h5::OpenDataset(file, "/model/bias", context);
  const auto dims = h5::DatasetDims(bias, context);
  if (dims.size() != 1 || static_cast<Eigen::Index>(dims[0]) != classes) {
    throw UserError(StrCat(context, ": '/model/bias' must have ", classes, " entries"));
  }
  const std::string type = h5::DescribeType(bias);
  if (type != "float64" && type != "float32") {
    throw UserError(context + ": '/model/bias' holds " + type + ", not floating point");
  }
  model.bias.resize(classes);
  h5::ReadRows(bias, 0, classes, H5T_NATIVE_DOUBLE, model.bias.data(), context);
  return model;
}

void WriteFeatureScaling(const h5::Handle& file, const FeatureScaling& scaling) {
  h5::WriteDoubles(file, "/standardization/mean", scaling.mean);
  h5::WriteDoubles(file, "/standardization/scale", scaling.scale);
}

std::optional<FeatureScaling> ReadFeatureScaling(const h5::Handle& file, std::int64_t features,
                                                 const std::string& context) {
  if (!h5::HasObject(file, "/standardization")) return std::nullopt;
  FeatureScaling scaling{h5::ReadDoubles(file, "/standardization/mean", context),
                         h5::ReadDoubles(file, "/standardization/scale", context)};
  if (scaling.mean.size() != features || scaling.scale.size() != features) {
    throw UserError(StrCat(context, ": '/standardization' must have ", features,
                           " means and scales"));
  }
  if (!scaling.mean.allFinite() || !(scaling.scale.array() > 0.0).all() ||
      !scaling.scale.allFinite()) {
    throw UserError(context + ": '/standardization' must hold finite means and positive scales");
  }
  return scaling;
}

void WriteModelFile(const std::string& path, const ModelFile& model) {
  WriteFileAtomically(path, [&](const std::string& temporary) {
    h5::Handle file = h5::CreateFile(temporary);
    h5::WriteAttribute(file, "/", "format", std::string("shardmax-model"));
    h5::WriteAttribute(file, "/", "format_version", kModelFormatVersion);
    h5::WriteAttribute(file, "/", "classes", static_cast<std::int64_t>(model.model.classes()));
    h5::WriteAttribute(file, "/", "features", static_cast<std::int64_t>(model.model.features()));
    h5::WriteAttribute(file, "/", "loss", model.loss);
    h5::WriteAttribute(file, "/", "weight_decay", model.weight_decay);
    h5::WriteAttribute(file, "/", "feature_type", model.feature_type);
    WriteModelDatasets(file, model.model);
    if (model.feature_scaling) WriteFeatureScaling(file, *model.feature_scaling);
    if (!model.classes.label_values.empty()) {
      h5::WriteInts(file, "/model/label_values", model.classes.label_values);
    }
    if (!model.classes.class_names.empty()) {
      h5::WriteStrings(file, "/model/class_names", model.classes.class_names);
    }
  });
}

ModelFile ReadModelFile(const std::string& path) {
  const std::string context = "model '" + path + "'";
  if (!std::filesystem::is_regular_file(path)) throw UserError(context + ": no such file");
  h5::Handle file = h5::OpenFileForReading(path);
  const std::string format = h5::ReadStringAttribute(file, "/", "format", context);
  if (format != "shardmax-model" && format != "shardmax-checkpoint") {
    throw UserError(context + ": not a shardmax model or checkpoint (format '" + format + "')");
  }
  ModelFile model;
  model.model = ReadModelDatasets(file, context);
  const Eigen::Index classes = model.model.classes();
  model.loss = h5::ReadStringAttribute(file, "/", "loss", context);
  model.weight_decay = h5::ReadDoubleAttribute(file, "/", "weight_decay", context);
  if (format == "shardmax-model") {
    model.feature_type = h5::ReadStringAttribute(file, "/", "feature_type", context);
  }
  model.feature_scaling = ReadFeatureScaling(file, model.model.features(), context);
  if (format == "shardmax-checkpoint" && model.feature_scaling) {
    model.model = ToOriginalScale(model.model, *model.feature_scaling);
  }
  if (h5::HasObject(file, "/model/label_values")) {
    model.classes.label_values = h5::ReadInts(file, "/model/label_values", context);
  }
  if (h5::HasObject(file, "/model/class_names")) {
    model.classes.class_names = h5::ReadStrings(file, "/model/class_names", context);
  }
  for (const std::size_t size : {model.classes.label_values.size(), model.classes.class_names.size()}) {
    if (size != 0 && size != static_cast<std::size_t>(classes)) {
      throw UserError(StrCat(context, ": class information has ", size, " entries for ", classes,
                             " classes"));
    }
  }
  if (!model.model.IsFinite()) throw UserError(context + ": weights are not finite");
  return model;
}

}  // namespace shardmax
