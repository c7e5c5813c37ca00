#include <gtest/gtest.h>

#include "common/error.hpp"
#include "io/checkpoint.hpp"
#include "io/model_file.hpp"
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

}  // namespace
}  // namespace shardmax
