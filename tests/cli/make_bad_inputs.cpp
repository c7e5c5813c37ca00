// Test helper for the end-to-end scripts.
//   make_bad_inputs DIRECTORY                 writes the bad-input matrix files used by
//                                             cli/bad_input.sh into DIRECTORY
//   make_bad_inputs delete-dataset FILE NAME  deletes dataset NAME from an HDF5 file in place
//   make_bad_inputs reseal FILE               recomputes a checkpoint's checksum header, as a
//                                             writer with a bug would have sealed the file
#include <cstdio>
#include <utility>
#include <limits>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/hdf5_file.hpp"
#include "tests/test_support.hpp"

using shardmax::Matrix;
using shardmax::testing::WriteDataFile;
namespace h5 = shardmax::h5;

namespace {

// A data file whose features and labels have the given shapes and HDF5 types.
void WriteShaped(const std::string& path, std::vector<hsize_t> feature_dims, hid_t feature_type,
                 std::vector<hsize_t> label_dims, hid_t label_type) {
  h5::Handle file = h5::CreateFile(path);
  for (const auto& [name, dims, type] :
       {std::tuple{"features", feature_dims, feature_type}, {"labels", label_dims, label_type}}) {
    h5::Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                     H5Sclose);
    h5::Handle dataset(
        H5Dcreate2(file.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
    hsize_t count = 1;
    for (hsize_t dim : dims) count *= dim;
    std::vector<double> values(count, 1.0);
    if (count > 0) {
      H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    }
  }
}

// Format version 1 had no checksum header: an HDF5 file with the old attributes.
void WriteVersion1Checkpoint(const std::string& path) {
  h5::Handle file = h5::CreateFile(path);
  h5::WriteAttribute(file, "/", "format", std::string("shardmax-checkpoint"));
  h5::WriteAttribute(file, "/", "format_version", std::int64_t{1});
  h5::WriteMatrix(file, "/model/weights", Matrix::Zero(3, 4));
}

// For cli/losses.sh: sample weights (dataset "weights": 40 rows, 3 features, 3 classes), a
// negative weight, and 2-D labels with an entry that is not 0 or 1 (row 3, column 2).
void WriteWeightAndTargetFiles(const std::string& directory) {
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

// Sparse (CSR) files of 8 rows x 3 features, 2 non-zeros per row (columns r % 3 and
// (r + 1) % 3, sorted), each damaged in one place; rows 6 and 7 are the last rank's of 4.
void WriteSparseFiles(const std::string& directory) {
  Matrix features = Matrix::Zero(8, 3);
  for (int i = 0; i < 8; ++i) {
    features(i, i % 3) = 1.0 + i;
    features(i, (i + 1) % 3) = 0.5;
  }
  const std::vector<long long> labels{0, 1, 2, 0, 1, 2, 0, 1};
  const shardmax::testing::CsrParts good = shardmax::testing::ToCsr(features);
  const auto write = [&](const std::string& name, const auto& damage) {
    shardmax::testing::CsrParts parts = good;
    damage(parts);
    shardmax::testing::WriteCsrFile(directory + "/" + name, parts, labels);
  };
  write("sparse_good.h5", [](auto&) {});
  write("sparse_column_range.h5", [](auto& p) { p.indices[15] = 3; });  // row 7
  write("sparse_unsorted.h5", [](auto& p) { std::swap(p.indices[10], p.indices[11]); });  // row 5
  write("sparse_duplicate.h5", [](auto& p) { p.indices[5] = p.indices[4]; });  // row 2
  // Row 3 ends before it starts.
  write("sparse_indptr_decreasing.h5", [](auto& p) { p.indptr[4] = 5; });
  write("sparse_indptr_end.h5", [](auto& p) { p.indptr[8] = 15; });
  write("sparse_nan.h5", [](auto& p) { p.data[13] = std::numeric_limits<double>::quiet_NaN(); });
  write("sparse_no_shape.h5", [](auto& p) { p.has_shape = false; });
}

void WriteMatrixFiles(const std::string& directory) {
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
  std::vector<long long> large_first = labels;
  large_first[0] = 5;  // in rank 0's shard
  WriteDataFile(directory + "/large_label_first.h5", Matrix::Ones(8, 3), large_first,
                H5T_IEEE_F32LE);

  WriteDataFile(directory + "/row_mismatch.h5", Matrix::Ones(9, 3), labels, H5T_IEEE_F32LE);
  WriteDataFile(directory + "/three_rows.h5", Matrix::Ones(3, 3), {0, 1, 0}, H5T_IEEE_F32LE);

  WriteShaped(directory + "/features_1d.h5", {8}, H5T_IEEE_F32LE, {8}, H5T_STD_I64LE);
  WriteShaped(directory + "/features_3d.h5", {8, 2, 2}, H5T_IEEE_F32LE, {8}, H5T_STD_I64LE);
  WriteShaped(directory + "/labels_2d.h5", {8, 3}, H5T_IEEE_F32LE, {8, 1}, H5T_STD_I64LE);
  WriteShaped(directory + "/int_features.h5", {8, 3}, H5T_STD_I32LE, {8}, H5T_STD_I64LE);
  WriteShaped(directory + "/float_labels.h5", {8, 3}, H5T_IEEE_F32LE, {8}, H5T_IEEE_F64LE);
  WriteShaped(directory + "/zero_rows.h5", {0, 3}, H5T_IEEE_F32LE, {0}, H5T_STD_I64LE);
  WriteShaped(directory + "/zero_features.h5", {8, 0}, H5T_IEEE_F32LE, {8}, H5T_STD_I64LE);

  WriteVersion1Checkpoint(directory + "/ckpt-000000001.h5");
  WriteWeightAndTargetFiles(directory);
  WriteSparseFiles(directory);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 1) {
      WriteMatrixFiles(args[0]);
      return 0;
    }
    if (args.size() == 3 && args[0] == "delete-dataset") {
      h5::Handle file(H5Fopen(args[1].c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
      if (file.get() < 0 || H5Ldelete(file.get(), args[2].c_str(), H5P_DEFAULT) < 0) {
        std::fprintf(stderr, "cannot delete '%s' from '%s'\n", args[2].c_str(), args[1].c_str());
        return 1;
      }
      return 0;
    }
    if (args.size() == 5 && args[0] == "set-value") {  // the row's last column, in place
      const std::string& path = args[1];
      h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
      h5::Handle dataset = h5::OpenDataset(file, args[2], path);
      const std::vector<hsize_t> dims = h5::DatasetDims(dataset, path);
      const std::int64_t row = std::stoll(args[3]);
      std::vector<double> values(dims.size() == 2 ? dims[1] : 1);
      h5::ReadRows(dataset, row, 1, H5T_NATIVE_DOUBLE, values.data(), path);
      values.back() = std::stod(args[4]);
      h5::WriteRows(dataset, row, 1, H5T_NATIVE_DOUBLE, values.data(), path);
      return 0;
    }
    if (args.size() == 2 && args[0] == "reseal") {
      shardmax::SealCheckpointFile(args[1]);
      return 0;
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "make_bad_inputs: %s\n", error.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: make_bad_inputs DIRECTORY | delete-dataset FILE NAME | "
               "set-value FILE DATASET ROW VALUE | reseal FILE\n");
  return 2;
}
