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

  // Expects `work` to throw an AgreedError containing every one of `parts`.
  template <typename Work>
  void ExpectAgreed(Work work, const std::vector<std::string>& parts) {
    try {
      work();
      ADD_FAILURE() << "no error";
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
    // uint8 is held as stored, a quarter of the memory; blocks read it as the same floats.
    EXPECT_EQ(shard.holds_bytes(), type == FeatureType::kUint8);
    const FeatureMatrix features = DenseFeaturesAsFloat(shard.Block(0, shard.rows.size()));
    ASSERT_EQ(features.rows(), 1500);
    ASSERT_EQ(features.cols(), 7);
    for (Eigen::Index i = 0; i < expected.size(); ++i) {
      const double x = expected.data()[i];
      const float want = type == FeatureType::kUint8
                             ? static_cast<float>(std::clamp(std::round(128.0 + 32.0 * x), 0.0, 255.0)) *
                                   (1.0f / 255.0f)
                             : static_cast<float>(x);
      ASSERT_EQ(features.data()[i], want) << "element " << i;
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

// Regression test for a finding of tests/fuzz/fuzz_data: a features index whose entries for
// rows 4..11 carry keys no lookup finds (so HDF5 reads them as fill values) made HDF5 copy
// past the end of its buffer. Every chunk a shard reads must be stored.
TEST_F(DatasetReaderTest, ChunksMissingFromTheIndexAreRefused) {
  ExpectReadError(std::string(SHARDMAX_TEST_DATA_DIR) + "/fuzz_data_unindexed_chunks.h5",
                  {"dataset 'features': damaged or incomplete: the chunk at row 4 was never "
                   "written"});
}

// Regression test for two findings of tests/fuzz/fuzz_data: shapes damaged into 7.8e18 x 6
// values overflowed the memory budget's byte counts (UndefinedBehaviorSanitizer: signed
// integer overflow). Shapes whose values could not be addressed are refused, whatever the
// dataset: here chunked ones that store nothing, as a valid file can.
TEST_F(DatasetReaderTest, ShapesTooLargeToAddressAreRefused) {
  const auto write = [&](const std::string& name, hsize_t rows, hsize_t columns,
                         hsize_t label_rows) {
    const std::string path = Path(name);
    h5::Handle file = h5::CreateFile(path);
    const auto create = [&](const char* dataset, hid_t type, std::vector<hsize_t> dims) {
      const h5::Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                             H5Sclose);
      const h5::Handle creation(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      const std::vector<hsize_t> chunk(dims.size(), 1);
      H5Pset_chunk(creation.get(), static_cast<int>(chunk.size()), chunk.data());
      return h5::Handle(H5Dcreate2(file.get(), dataset, type, space.get(), H5P_DEFAULT,
                                   creation.get(), H5P_DEFAULT),
                        H5Dclose);
    };
    create("features", H5T_IEEE_F32LE, {rows, columns});
    create("labels", H5T_STD_I64LE, {label_rows});
    return path;
  };
  ExpectReadError(write("wide.h5", 7813572730162249731, 6, 7813572730162249731),
                  {"wide.h5", "dataset 'features': claims a shape of 7813572730162249731 x 6, "
                   "more values than a machine can address"});
  ExpectReadError(write("overflowing.h5", hsize_t{1} << 40, hsize_t{1} << 30, 4),
                  {"claims a shape of 1099511627776 x 1073741824"});
  ExpectReadError(write("labels.h5", 4, 2, hsize_t{1} << 62),
                  {"dataset 'labels': claims a shape of 4611686018427387904"});
}

// What a conversion stopped halfway leaves: the rows after the first chunk were never written.
TEST_F(DatasetReaderTest, RowsNeverWrittenAreRefused) {
  const std::string path = Path("half.h5");
  {
    h5::Handle file = h5::CreateFile(path);
    const Matrix features = Matrix::Ones(4, 2);
    h5::Handle feature_set = h5::CreateDataset(file, "features", H5T_IEEE_F32LE, 8, 2, 4);
    h5::WriteRows(feature_set, 0, 4, H5T_NATIVE_DOUBLE, features.data(), path);
    h5::Handle label_set = h5::CreateDataset(file, "labels", H5T_STD_I64LE, 8, 0, 4);
    const std::vector<long long> labels(8, 0);
    h5::WriteRows(label_set, 0, 8, H5T_NATIVE_LLONG, labels.data(), path);
  }
  ExpectReadError(path, {"half.h5", "dataset 'features': damaged or incomplete: the chunk at "
                         "row 4 was never written"});
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

// A data file with 2-D labels of `label_type` and, optionally, a 1-D dataset `weights`.
void WriteMultiLabelFile(const std::string& path, const Matrix& targets, hid_t label_type,
                         const std::vector<double>& weights = {}) {
  h5::Handle file = h5::CreateFile(path);
  const Matrix features = Matrix::Ones(targets.rows(), 2);
  h5::Handle feature_set =
      h5::CreateDataset(file, "features", H5T_IEEE_F32LE, targets.rows(), 2, 0);
  h5::WriteRows(feature_set, 0, targets.rows(), H5T_NATIVE_DOUBLE, features.data(), path);
  h5::Handle label_set =
      h5::CreateDataset(file, "labels", label_type, targets.rows(), targets.cols(), 0);
  h5::WriteRows(label_set, 0, targets.rows(), H5T_NATIVE_DOUBLE, targets.data(), path);
  if (!weights.empty()) {
    const auto rows = static_cast<Eigen::Index>(weights.size());
    h5::WriteDoubles(file, "weights", Eigen::Map<const Vector>(weights.data(), rows));
  }
}

TEST_F(DatasetReaderTest, TwoDimensionalLabelsAreMultiLabelTargets) {
  Matrix targets(3, 4);
  targets << 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1;
  for (const hid_t type : {H5T_STD_U8LE, H5T_STD_I64LE, H5T_IEEE_F32LE}) {
    WriteMultiLabelFile(Path("ml.h5"), targets, type);
    const Shard shard = ReadShard(comm_, Path("ml.h5"), {});
    EXPECT_TRUE(shard.is_multi_label());
    EXPECT_TRUE(shard.has_labels());
    EXPECT_TRUE(shard.labels.empty());
    EXPECT_EQ(shard.targets.cast<double>(), targets);
    EXPECT_EQ(CountClasses(comm_, shard), 4);
    EXPECT_NO_THROW(CheckLabelsBelow(comm_, shard, {}, 4));
    ExpectAgreed([&] { CheckLabelsBelow(comm_, shard, {}, 3); },
                 {"ml.h5", "'labels'", "has 4 label columns, not the number of classes 3"});
  }
}

TEST_F(DatasetReaderTest, TargetsOtherThanZeroOrOneNameTheRowAndColumn) {
  Matrix targets = Matrix::Zero(5, 3);
  targets(3, 2) = 0.5;
  WriteMultiLabelFile(Path("half.h5"), targets, H5T_IEEE_F64LE);
  ExpectReadError(Path("half.h5"), {"half.h5", "'labels'", "row 3, column 2 is 0.5", "0 or 1"});
  targets(3, 2) = 2;
  WriteMultiLabelFile(Path("two.h5"), targets, H5T_STD_I32LE);
  ExpectReadError(Path("two.h5"), {"two.h5", "row 3, column 2 is 2"});
}

TEST_F(DatasetReaderTest, LabelsMustSuitTheLoss) {
  WriteMultiLabelFile(Path("ml.h5"), Matrix::Zero(2, 3), H5T_STD_U8LE);
  WriteDataFile(Path("single.h5"), Matrix::Ones(2, 2), {0, 1}, H5T_IEEE_F32LE);
  const Shard multi = ReadShard(comm_, Path("ml.h5"), {});
  const Shard single = ReadShard(comm_, Path("single.h5"), {});
  EXPECT_NO_THROW(CheckLabelsSuitLoss(multi, {}, SigmoidCrossEntropy(), "--loss"));
  EXPECT_NO_THROW(CheckLabelsSuitLoss(single, {}, MulticlassHinge(), "--loss"));
  ExpectAgreed([&] { CheckLabelsSuitLoss(multi, {}, SoftmaxCrossEntropy(), "--loss"); },
               {"ml.h5", "2-D multi-label targets (3 columns)", "loss 'softmax' (--loss)",
                "--loss sigmoid"});
  ExpectAgreed([&] { CheckLabelsSuitLoss(single, {}, SigmoidCrossEntropy(), "model 'm.h5'"); },
               {"single.h5", "1-D class labels", "loss 'sigmoid' (model 'm.h5')"});
}

TEST_F(DatasetReaderTest, SampleWeightsAreReadWhenNamedAndChecked) {
  DatasetLayout layout;
  layout.sample_weights = "weights";
  WriteMultiLabelFile(Path("w.h5"), Matrix::Zero(4, 2), H5T_STD_U8LE, {0.5, 0.0, 2.0, 1.0});
  const Shard shard = ReadShard(comm_, Path("w.h5"), layout);
  EXPECT_EQ(shard.weights, (std::vector<double>{0.5, 0.0, 2.0, 1.0}));
  EXPECT_TRUE(ReadShard(comm_, Path("w.h5"), {}).weights.empty());  // not named: not read

  WriteMultiLabelFile(Path("neg.h5"), Matrix::Zero(4, 2), H5T_STD_U8LE, {0.5, 1.0, -2.0, 1.0});
  ExpectReadError(Path("neg.h5"), {"neg.h5", "'weights'", "row 2 has weight -2", ">= 0"}, layout);
  WriteMultiLabelFile(Path("nan.h5"), Matrix::Zero(4, 2), H5T_STD_U8LE,
                      {0.5, 1.0, 1.0, std::numeric_limits<double>::quiet_NaN()});
  ExpectReadError(Path("nan.h5"), {"nan.h5", "'weights'", "row 3 has weight nan"}, layout);
  WriteMultiLabelFile(Path("short.h5"), Matrix::Zero(4, 2), H5T_STD_U8LE, {0.5, 1.0, 1.0});
  ExpectReadError(Path("short.h5"), {"short.h5", "'weights'", "has 3 rows", "features have 4"},
                  layout);
  layout.sample_weights = "absent";
  ExpectReadError(Path("w.h5"), {"w.h5", "no dataset 'absent'"}, layout);
  layout.sample_weights = "labels";  // 2-D
  ExpectReadError(Path("w.h5"), {"w.h5", "'labels'", "must be 1-D (one weight per row)"}, layout);
}

// Gather copies rows, in the order asked, with everything the shard has for them.
TEST_F(DatasetReaderTest, GatherCopiesRowsWithTheirTargetsAndWeights) {
  Shard shard;
  shard.feature_count = 2;
  shard.rows = RowRange{10, 14};
  shard.features.resize(4, 2);
  shard.features << 0, 1, 2, 3, 4, 5, 6, 7;
  shard.targets.resize(4, 3);
  shard.targets << 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1;
  shard.weights = {0.1, 0.2, 0.3, 0.4};
  GatheredRows storage;
  const std::vector<std::int64_t> order{3, 0, 2};
  const RowBlock block = shard.Gather(order, &storage);
  ASSERT_EQ(block.rows(), 3);
  EXPECT_EQ(block.features(0, 1), 7.0f);
  EXPECT_EQ(block.features(1, 0), 0.0f);
  EXPECT_EQ(block.targets.row(0), shard.targets.row(3));
  EXPECT_EQ(block.targets.row(2), shard.targets.row(2));
  EXPECT_TRUE(block.labels.empty());
  EXPECT_EQ(std::vector<double>(block.weights.begin(), block.weights.end()),
            (std::vector<double>{0.4, 0.1, 0.3}));
  // Block views the same rows in place.
  const RowBlock view = shard.Block(1, 2);
  EXPECT_EQ(view.targets.row(0), shard.targets.row(1));
  EXPECT_EQ(view.weights[1], 0.3);
}

}  // namespace
}  // namespace shardmax
