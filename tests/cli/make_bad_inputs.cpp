// Writes the bad-input matrix files used by cli/bad_input.sh, and the weighted and
// multi-label files used by cli/losses.sh, into the given directory.
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "io/hdf5_file.hpp"
#include "tests/test_support.hpp"

using shardmax::Matrix;
using shardmax::testing::WriteDataFile;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_bad_inputs DIRECTORY\n");
    return 2;
  }
  const std::string directory = argv[1];
  const std::vector<long long> labels{0, 1, 2, 0, 1, 2, 0, 1};

  Matrix nan = Matrix::Ones(8, 3);
  nan(6, 1) = std::numeric_limits<double>::quiet_NaN();
  WriteDataFile(directory + "/nan.h5", nan, labels, H5T_IEEE_F64LE);

  Matrix inf = Matrix::Ones(8, 3);
  inf(7, 0) = std::numeric_limits<double>::infinity();
  WriteDataFile(directory + "/inf.h5", inf, labels, H5T_IEEE_F32LE);

  std::vector<long long> negative = labels;
  negative[5] = -1;
  WriteDataFile(directory + "/negative_label.h5", Matrix::Ones(8, 3), negative, H5T_IEEE_F32LE);

  std::vector<long long> large = labels;
  large[7] = 9;  // in the last rank's shard
  WriteDataFile(directory + "/large_label.h5", Matrix::Ones(8, 3), large, H5T_IEEE_F32LE);

  WriteDataFile(directory + "/row_mismatch.h5", Matrix::Ones(9, 3), labels, H5T_IEEE_F32LE);
  WriteDataFile(directory + "/three_rows.h5", Matrix::Ones(3, 3), {0, 1, 0}, H5T_IEEE_F32LE);

  {
    const std::string path = directory + "/features_1d.h5";
    shardmax::h5::Handle file = shardmax::h5::CreateFile(path);
    std::vector<double> values(8, 1.0);
    auto features = shardmax::h5::CreateDataset(file, "features", H5T_IEEE_F32LE, 8, 0, 0);
    shardmax::h5::WriteRows(features, 0, 8, H5T_NATIVE_DOUBLE, values.data(), path);
    auto label_set = shardmax::h5::CreateDataset(file, "labels", H5T_STD_I64LE, 8, 0, 0);
    shardmax::h5::WriteRows(label_set, 0, 8, H5T_NATIVE_LLONG, labels.data(), path);
  }
  // Sample weights (dataset "weights"): 40 rows of 3 features and 3 classes, and bad weights.
  {
    Matrix features(40, 3);
    std::vector<long long> classes(40);
    std::vector<double> weights(40);
    for (int i = 0; i < 40; ++i) {
      classes[static_cast<std::size_t>(i)] = i % 3;
      for (int j = 0; j < 3; ++j) {
        features(i, j) = (j == i % 3 ? 2.0 : 0.0) + 0.1 * ((i * 7 + j) % 5);
      }
      weights[static_cast<std::size_t>(i)] = 0.5 + (i % 4);
    }
    WriteDataFile(directory + "/weighted.h5", features, classes, H5T_IEEE_F32LE, weights);
    weights[5] = -1.0;
    WriteDataFile(directory + "/negative_weight.h5", features, classes, H5T_IEEE_F32LE, weights);
  }
  // 2-D labels with one entry that is not 0 or 1 (row 3, column 2).
  {
    const std::string path = directory + "/bad_targets.h5";
    shardmax::h5::Handle file = shardmax::h5::CreateFile(path);
    const Matrix features = Matrix::Ones(8, 3);
    auto feature_set = shardmax::h5::CreateDataset(file, "features", H5T_IEEE_F32LE, 8, 3, 0);
    shardmax::h5::WriteRows(feature_set, 0, 8, H5T_NATIVE_DOUBLE, features.data(), path);
    Matrix targets = Matrix::Zero(8, 4);
    targets(3, 2) = 0.5;
    auto label_set = shardmax::h5::CreateDataset(file, "labels", H5T_IEEE_F32LE, 8, 4, 0);
    shardmax::h5::WriteRows(label_set, 0, 8, H5T_NATIVE_DOUBLE, targets.data(), path);
  }
  return 0;
}
