#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "io/dataset_reader.hpp"
#include "io/hdf5_file.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

using shardmax::testing::MakeScratchDirectory;
using shardmax::testing::WriteDataFile;

class DatasetReaderTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return directory_ + "/" + name; }

  // Expects ReadShard to fail with a message containing every one of `parts`.
  void ExpectReadError(const std::string& path, const std::vector<std::string>& parts,
                       const DatasetLayout& layout = {}) {
    try {
      ReadShard(comm_, path, layout);
      ADD_FAILURE() << "no error reading " << path;
    } catch (const AgreedError& error) {
      for (const std::string& part : parts) {
        EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
            << "message: " << error.what() << "\nmissing: " << part;
      }
    }
  }

  Communicator comm_{MPI_COMM_SELF};
  std::string directory_ = MakeScratchDirectory();
};

// For each stored type, a hyperslab of rows equals the generator's rows as the reader maps them.
TEST_F(DatasetReaderTest, RowsEqualTheGeneratedRowsForEveryType) {
  for (FeatureType type : {FeatureType::kFloat32, FeatureType::kFloat64, FeatureType::kUint8}) {
    SyntheticConfig config = shardmax::testing::SmallSynthetic(Path("data.h5"), 1500, 7, 4);
    config.type = type;
    WriteSyntheticDataset(config);
    const Shard shard = ReadShard(comm_, config.output_path, {});
    ASSERT_EQ(shard.total_rows, 1500);
    ASSERT_EQ(shard.feature_count, 7);
    Matrix expected(1500, 7);
    std::vector<Label> expected_labels(1500);
    GenerateSyntheticRows(config, 0, 0, expected, expected_labels);
    EXPECT_EQ(shard.labels, expected_labels);
    for (Eigen::Index i = 0; i < expected.size(); ++i) {
      const double x = expected.data()[i];
      const float want = type == FeatureType::kUint8
                             ? static_cast<float>(std::clamp(std::round(128.0 + 32.0 * x), 0.0, 255.0)) *
                                   (1.0f / 255.0f)
                             : static_cast<float>(x);
      ASSERT_EQ(shard.features.data()[i], want) << "element " << i;
    }
  }
}

TEST_F(DatasetReaderTest, ReadRowsReadsAHyperslabInTheMiddle) {
  SyntheticConfig config = shardmax::testing::SmallSynthetic(Path("data.h5"), 300, 5, 3);
  WriteSyntheticDataset(config);
  Matrix expected(40, 5);
  std::vector<Label> labels(40);
  GenerateSyntheticRows(config, 0, 123, expected, labels);
  h5::Handle file = h5::OpenFileForReading(config.output_path);
  h5::Handle dataset = h5::OpenDataset(file, "features", "test");
  FeatureMatrix rows(40, 5);
  h5::ReadRows(dataset, 123, 40, H5T_NATIVE_FLOAT, rows.data(), "test");
  EXPECT_EQ(rows, expected.cast<float>());
}

TEST_F(DatasetReaderTest, BlocksAreCutAtGlobalMultiplesOfTheBlockSize) {
  Shard shard;
  shard.feature_count = 1;
  shard.rows = RowRange{1000, 3100};
  shard.features = FeatureMatrix::Zero(2100, 1);
  shard.labels.assign(2100, 0);
  std::vector<Eigen::Index> sizes;
  shard.ForEachBlock([&](const RowBlock& block) { sizes.push_back(block.rows()); });
  EXPECT_EQ(sizes, (std::vector<Eigen::Index>{kBlockRows - 1000, kBlockRows, kBlockRows, 3100 - 3 * kBlockRows}));
}

TEST_F(DatasetReaderTest, MissingFileIsNamed) {
  ExpectReadError(Path("absent.h5"), {"absent.h5", "no such"});
}

TEST_F(DatasetReaderTest, NonHdf5FileIsNamed) {
  const std::string path = Path("text.h5");
  FILE* file = std::fopen(path.c_str(), "w");
  std::fputs("not hdf5\n", file);
  std::fclose(file);
  ExpectReadError(path, {"text.h5", "signature"});
}

TEST_F(DatasetReaderTest, MissingDatasetIsNamed) {
  WriteDataFile(Path("d.h5"), Matrix::Ones(4, 2), {0, 1, 0, 1}, H5T_IEEE_F32LE);
  ExpectReadError(Path("d.h5"), {"d.h5", "no dataset 'pixels'"}, DatasetLayout{"pixels", "labels"});
  ExpectReadError(Path("d.h5"), {"d.h5", "no dataset 'y'"}, DatasetLayout{"features", "y"});
}

TEST_F(DatasetReaderTest, FeaturesMustBeTwoDimensional) {
  const std::string path = Path("oned.h5");
  {
    h5::Handle file = h5::CreateFile(path);
    std::vector<float> values{1, 2, 3};
    h5::Handle features = h5::CreateDataset(file, "features", H5T_IEEE_F32LE, 3, 0, 0);
    h5::WriteRows(features, 0, 3, H5T_NATIVE_FLOAT, values.data(), path);
    std::vector<int> labels{0, 1, 0};
    h5::Handle label_set = h5::CreateDataset(file, "labels", H5T_STD_I32LE, 3, 0, 0);
    h5::WriteRows(label_set, 0, 3, H5T_NATIVE_INT, labels.data(), path);
  }
  ExpectReadError(path, {"oned.h5", "'features'", "must be 2-D", "1-D"});
}

TEST_F(DatasetReaderTest, RowCountsMustAgree) {
  WriteDataFile(Path("rows.h5"), Matrix::Ones(5, 2), {0, 1, 0, 1}, H5T_IEEE_F32LE);
  ExpectReadError(Path("rows.h5"), {"rows.h5", "5 rows", "has 4"});
}

TEST_F(DatasetReaderTest, NegativeLabelNamesTheRow) {
  WriteDataFile(Path("neg.h5"), Matrix::Ones(4, 2), {0, 1, -3, 1}, H5T_IEEE_F32LE);
  ExpectReadError(Path("neg.h5"), {"neg.h5", "'labels'", "row 2", "label -3"});
}

TEST_F(DatasetReaderTest, NanAndInfNameTheRowAndColumn) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    Matrix features = Matrix::Ones(6, 3);
    features(4, 2) = bad;
    WriteDataFile(Path("nan.h5"), features, {0, 1, 0, 1, 0, 1}, H5T_IEEE_F64LE);
    ExpectReadError(Path("nan.h5"), {"nan.h5", "'features'", "row 4", "column 2",
                                     std::isnan(bad) ? "NaN" : "infinite"});
  }
}

TEST_F(DatasetReaderTest, FloatLabelsAndStringFeaturesAreRefused) {
  const std::string path = Path("types.h5");
  {
    h5::Handle file = h5::CreateFile(path);
    Matrix features = Matrix::Ones(2, 2);
    h5::Handle feature_set = h5::CreateDataset(file, "features", H5T_STD_I32LE, 2, 2, 0);
    h5::WriteRows(feature_set, 0, 2, H5T_NATIVE_DOUBLE, features.data(), path);
    h5::Handle label_set = h5::CreateDataset(file, "labels", H5T_IEEE_F32LE, 2, 0, 0);
    std::vector<float> labels{0, 1};
    h5::WriteRows(label_set, 0, 2, H5T_NATIVE_FLOAT, labels.data(), path);
  }
  ExpectReadError(path, {"types.h5", "int32", "not supported"});
}

// Regression test for a finding of tests/fuzz/fuzz_data: a file whose labels type was
// damaged into a 65540-byte integer made HDF5 read past its buffer (AddressSanitizer:
// heap-buffer-overflow in H5VM_memcpyvv). Such types are refused before any read.
TEST_F(DatasetReaderTest, NonstandardNumberTypesAreRefusedBeforeReading) {
  ExpectReadError(std::string(SHARDMAX_TEST_DATA_DIR) + "/fuzz_data_65540_byte_label_type.h5",
                  {"dataset 'labels': labels must be integers, found nonstandard number type "
                   "(524320 bits)"});
}

// Regression test for a finding of tests/fuzz/fuzz_data: a chunk of the features whose index
// entry records 0 stored bytes where its 4 x 3 float32 shape needs 48 made HDF5 copy past the
// end of its buffer (heap-buffer-overflow in H5VM_memcpyvv, inside H5Dread).
TEST_F(DatasetReaderTest, ChunksStoredShorterThanTheirShapeAreRefused) {
  ExpectReadError(std::string(SHARDMAX_TEST_DATA_DIR) + "/fuzz_data_short_chunk.h5",
                  {"dataset 'features': damaged: the chunk at row 0 is stored in 0 bytes, not "
                   "the 48 its shape needs"});
}

TEST_F(DatasetReaderTest, LabelsAtOrAboveClassCountAreRefused) {
  WriteDataFile(Path("k.h5"), Matrix::Ones(4, 2), {0, 1, 2, 5}, H5T_IEEE_F32LE);
  const Shard shard = ReadShard(comm_, Path("k.h5"), {});
  EXPECT_EQ(CountClasses(comm_, shard), 6);
  try {
    CheckLabelsBelow(comm_, shard, {}, 3);
    ADD_FAILURE() << "label 5 accepted with 3 classes";
  } catch (const AgreedError& error) {
    EXPECT_NE(std::string(error.what()).find("row 3 has label 5"), std::string::npos) << error.what();
  }
  EXPECT_NO_THROW(CheckLabelsBelow(comm_, shard, {}, 6));
}

}  // namespace
}  // namespace shardmax
