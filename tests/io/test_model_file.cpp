#include <gtest/gtest.h>

#include "common/error.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"
#include "common/standardization.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

TEST(ModelFile, RoundTripKeepsWeightsAndClassInformation) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  ModelFile written;
  written.model = SoftmaxModel::Zeros(3, 2);
  written.model.weights << 1.5, -2.0, 0.1, 0.2, 1e-300, 3.0;
  written.model.bias << 0.5, -0.5, 1.0 / 3.0;
  written.weight_decay = 1e-4;
  written.feature_type = "uint8";
  written.classes.label_values = {-1, 4, 17};
  written.classes.class_names = {"cat", "dog", "T-shirt/top"};
  WriteModelFile(directory + "/model.h5", written);
  const ModelFile read = ReadModelFile(directory + "/model.h5");
  EXPECT_EQ(read.model.weights, written.model.weights);
  EXPECT_EQ(read.model.bias, written.model.bias);
  EXPECT_EQ(read.weight_decay, 1e-4);
  EXPECT_EQ(read.loss, "softmax");
  EXPECT_EQ(read.feature_type, "uint8");
  EXPECT_EQ(read.classes.label_values, written.classes.label_values);
  EXPECT_EQ(read.classes.class_names, written.classes.class_names);
}

TEST(ModelFile, ACheckpointIsAcceptedAsAModel) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  Checkpoint checkpoint;
  checkpoint.model = SoftmaxModel::Zeros(2, 4);
  checkpoint.model.weights(1, 3) = 2.5;
  checkpoint.run.classes = 2;
  checkpoint.run.features = 4;
  checkpoint.run.weight_decay = 0.01;
  checkpoint.run.loss = "softmax";
  WriteCheckpoint(directory + "/ckpt.h5", checkpoint);
  const ModelFile read = ReadModelFile(directory + "/ckpt.h5");
  EXPECT_EQ(read.model.weights, checkpoint.model.weights);
  EXPECT_EQ(read.weight_decay, 0.01);
}

TEST(ModelFile, ADataFileIsRefusedByName) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  shardmax::testing::WriteDataFile(directory + "/data.h5", Matrix::Ones(2, 2), {0, 1},
                                   H5T_IEEE_F32LE);
  try {
    ReadModelFile(directory + "/data.h5");
    ADD_FAILURE() << "a data file was read as a model";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("data.h5"), std::string::npos) << error.what();
  }
  EXPECT_THROW(ReadModelFile(directory + "/absent.h5"), UserError);
}

// A model file stores original-scale weights; a checkpoint stores training-scale weights, and
// reading it as a model maps them, so both take raw features.
TEST(ModelFile, StandardizedModelsReadOnTheOriginalScale) {
  const std::string directory = shardmax::testing::MakeScratchDirectory();
  const FeatureScaling scaling{(Vector(2) << 10.0, -3.0).finished(),
                               (Vector(2) << 4.0, 1.0).finished()};
  Checkpoint checkpoint;
  checkpoint.model = SoftmaxModel::Zeros(2, 2);
  checkpoint.model.weights << 1.0, 2.0, -0.5, 0.25;
  checkpoint.model.bias << 0.5, -1.0;
  checkpoint.feature_scaling = scaling;
  checkpoint.run.classes = 2;
  checkpoint.run.features = 2;
  checkpoint.run.loss = "softmax";
  WriteCheckpoint(directory + "/ckpt.h5", checkpoint);
  const ModelFile from_checkpoint = ReadModelFile(directory + "/ckpt.h5");
  const SoftmaxModel original = ToOriginalScale(checkpoint.model, scaling);
  EXPECT_EQ(from_checkpoint.model.weights, original.weights);
  EXPECT_EQ(from_checkpoint.model.bias, original.bias);
  // W_o[:, 0] = W[:, 0] / 4;  b_o = b - W_o m
  EXPECT_EQ(from_checkpoint.model.weights(0, 0), 0.25);
  EXPECT_EQ(from_checkpoint.model.bias(0), 0.5 - (0.25 * 10.0 + 2.0 * -3.0));
  ASSERT_TRUE(from_checkpoint.feature_scaling.has_value());

  ModelFile written;
  written.model = original;
  written.loss = "hinge";
  written.feature_type = "float32";
  written.feature_scaling = scaling;
  WriteModelFile(directory + "/model.h5", written);
  const ModelFile read = ReadModelFile(directory + "/model.h5");
  EXPECT_EQ(read.model.weights, original.weights);  // stored as is: not mapped twice
  EXPECT_EQ(read.loss, "hinge");
  EXPECT_EQ(*read.feature_scaling, scaling);
}

}  // namespace
}  // namespace shardmax
