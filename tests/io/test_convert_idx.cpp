// IDX conversion: exact arrays from gzip-compressed and raw files, every header and length
// check with its exact message, storage settings, chunk-size independence and overwriting.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "io/dataset_reader.hpp"
#include "io/file_summary.hpp"
#include "io/idx_reader.hpp"
#include "tests/io/convert_test_support.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

using shardmax::testing::DatasetShape;
using shardmax::testing::DatasetType;
using shardmax::testing::ReadWholeDataset;
using shardmax::testing::UserErrorOf;

constexpr std::uint32_t kImagesMagic = 0x00000803;
constexpr std::uint32_t kLabelsMagic = 0x00000801;

// Three 2 x 2 images and their labels.
const std::vector<std::uint8_t> kPixels = {0, 1, 2, 3, 255, 128, 64, 32, 10, 20, 30, 40};
const std::vector<std::uint8_t> kLabels = {2, 0, 1};

std::vector<std::uint8_t> IdxBytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                   const std::vector<std::uint8_t>& data) {
  std::vector<std::uint32_t> words = {magic};
  words.insert(words.end(), dims.begin(), dims.end());
  std::vector<std::uint8_t> bytes;
  for (const std::uint32_t word : words) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back((word >> shift) & 0xff);
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void WriteRaw(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void WriteGzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

class ConvertIdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = shardmax::testing::MakeScratchDirectory();
    WriteGzip(Path("images.gz"), IdxBytes(kImagesMagic, {3, 2, 2}, kPixels));
    WriteGzip(Path("labels.gz"), IdxBytes(kLabelsMagic, {3}, kLabels));
  }
  std::string Path(const std::string& name) const { return directory_ + "/" + name; }

  IdxInput Input(const std::string& images = "images.gz",
                 const std::string& labels = "labels.gz") const {
    return IdxInput{Path(images), Path(labels), FeatureType::kUint8};
  }
  ConvertOutput Output(const std::string& name = "out.h5") const {
    ConvertOutput output;
    output.path = Path(name);
    return output;
  }
  // Only the files the test wrote, with no output or temporary file of a failed conversion.
  bool HoldsOnlyInputs() const {
    for (const auto& entry : std::filesystem::directory_iterator(directory_)) {
      if (entry.path().extension() == ".h5" || entry.path().extension() == ".tmp") return false;
    }
    return true;
  }

  std::string directory_;
};

TEST_F(ConvertIdxTest, GzipFileGivesTheExactPixelsAndLabels) {
  const ConvertedShape shape = ConvertIdx(Input(), Output());
  EXPECT_EQ(shape.rows, 3);
  EXPECT_EQ(shape.features, 4);
  EXPECT_EQ(shape.classes, 3);
  const std::string out = Path("out.h5");
  EXPECT_EQ(DatasetShape(out, "features"), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(DatasetType(out, "features"), "uint8");
  EXPECT_EQ(DatasetType(out, "labels"), "int32");
  EXPECT_EQ(ReadWholeDataset<std::uint8_t>(out, "features", H5T_NATIVE_UINT8), kPixels);
  EXPECT_EQ(ReadWholeDataset<std::int32_t>(out, "labels", H5T_NATIVE_INT32),
            (std::vector<std::int32_t>{2, 0, 1}));
  h5::Handle file = h5::OpenFileForReading(out);
  EXPECT_EQ(h5::ReadIntAttribute(file, "/", "classes", out), 3);
  EXPECT_EQ(h5::ReadStringAttribute(file, "/", "converted_from", out), "idx");
  EXPECT_FALSE(h5::HasObject(file, "label_values"));
  EXPECT_FALSE(h5::HasObject(file, "class_names"));
}

TEST_F(ConvertIdxTest, RawFilesGiveTheSameArraysAsGzip) {
  WriteRaw(Path("images.raw"), IdxBytes(kImagesMagic, {3, 2, 2}, kPixels));
  WriteRaw(Path("labels.raw"), IdxBytes(kLabelsMagic, {3}, kLabels));
  ConvertIdx(Input("images.raw", "labels.raw"), Output("raw.h5"));
  ConvertIdx(Input(), Output("gzip.h5"));
  EXPECT_EQ(ReadWholeDataset<std::uint8_t>(Path("raw.h5"), "features", H5T_NATIVE_UINT8), kPixels);
  EXPECT_EQ(ReadWholeDataset<std::int32_t>(Path("raw.h5"), "labels", H5T_NATIVE_INT32),
            ReadWholeDataset<std::int32_t>(Path("gzip.h5"), "labels", H5T_NATIVE_INT32));
}

TEST_F(ConvertIdxTest, Float32HoldsExactlyWhatTheTrainerReadsFromUint8) {
  IdxInput input = Input();
  input.feature_type = FeatureType::kFloat32;
  ConvertIdx(input, Output("float.h5"));
  ConvertIdx(Input(), Output("bytes.h5"));
  EXPECT_EQ(DatasetType(Path("float.h5"), "features"), "float32");
  const std::vector<float> stored =
      ReadWholeDataset<float>(Path("float.h5"), "features", H5T_NATIVE_FLOAT);
  std::vector<float> expected;
  for (const std::uint8_t pixel : kPixels) expected.push_back(pixel * (1.0f / 255.0f));
  EXPECT_EQ(stored, expected);
  EXPECT_EQ(stored[4], 1.0f);

  const Communicator comm(MPI_COMM_SELF);
  const Shard from_bytes = ReadShard(comm, Path("bytes.h5"), {});
  const FeatureMatrix read = DenseFeaturesAsFloat(from_bytes.Block(0, from_bytes.rows.size()));
  EXPECT_EQ(std::vector<float>(read.data(), read.data() + read.size()), stored);
}

TEST_F(ConvertIdxTest, ClassNamesAreStoredAndMustMatchTheClassCount) {
  ConvertOutput output = Output();
  output.class_names = {"zero", "one", "two"};
  ConvertIdx(Input(), output);
  h5::Handle file = h5::OpenFileForReading(output.path);
  EXPECT_EQ(h5::ReadStrings(file, "class_names", output.path), output.class_names);

  ConvertOutput wrong = Output("wrong.h5");
  wrong.class_names = {"zero", "one"};
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input(), wrong); }),
            "--class-names gives 2 names for the 3 classes of the labels in '" + Path("images.gz") +
                "' and '" + Path("labels.gz") + "'");
  EXPECT_FALSE(std::filesystem::exists(wrong.path));
}

TEST_F(ConvertIdxTest, TruncatedImagesAreRefusedAndLeaveNoFile) {
  std::vector<std::uint8_t> short_pixels(kPixels.begin(), kPixels.end() - 1);
  WriteGzip(Path("images.gz"), IdxBytes(kImagesMagic, {3, 2, 2}, short_pixels));
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input(), Output()); }),
            "writing '" + Path("out.h5") + "' failed (any previous file of that name is kept): '" +
                Path("images.gz") +
                "': truncated IDX images file: its header promises 3 x 2 x 2 "
                "= 12 bytes of data after the 16-byte header, but the file ends after 11");
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, TruncatedLabelsAreRefusedBeforeWriting) {
  WriteRaw(Path("labels.raw"), IdxBytes(kLabelsMagic, {3}, {2, 0}));
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("images.gz", "labels.raw"), Output()); }),
            "'" + Path("labels.raw") +
                "': truncated IDX labels file: its header promises 3 = 3 "
                "bytes of data after the 8-byte header, but the file ends after 2");
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, ACutGzipStreamIsReportedAsTruncated) {
  WriteGzip(Path("whole.gz"), IdxBytes(kImagesMagic, {3, 2, 2}, kPixels));
  std::ifstream whole(Path("whole.gz"), std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(whole)), {});
  bytes.resize(bytes.size() - 12);  // drops the gzip trailer and some of the data
  WriteRaw(Path("images.gz"), bytes);
  const std::string message = UserErrorOf([&] { ConvertIdx(Input(), Output()); });
  EXPECT_NE(message.find("': truncated IDX images file: its header promises 3 x 2 x 2 = 12 bytes"),
            std::string::npos)
      << message;
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, ACorruptGzipStreamNamesZlibsFinding) {
  std::ifstream whole(Path("images.gz"), std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(whole)), {});
  bytes[bytes.size() - 8] ^= 0xff;  // the CRC-32 of the trailer
  WriteRaw(Path("images.gz"), bytes);
  const std::string message = UserErrorOf([&] { ConvertIdx(Input(), Output()); });
  EXPECT_NE(message.find("'" + Path("images.gz") + "': cannot read the images data after "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(" bytes: incorrect data check"), std::string::npos) << message;
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, ExtraBytesAfterTheDataAreRefused) {
  std::vector<std::uint8_t> long_pixels = kPixels;
  long_pixels.insert(long_pixels.end(), {7, 7});
  WriteRaw(Path("images.raw"), IdxBytes(kImagesMagic, {3, 2, 2}, long_pixels));
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("images.raw"), Output()); }),
            "writing '" + Path("out.h5") + "' failed (any previous file of that name is kept): '" +
                Path("images.raw") +
                "': 2 bytes more than its header promises: 3 x 2 x 2 = 12 "
                "bytes of data after the 16-byte header");
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, WrongMagicNumbersNameTheFileAndBothNumbers) {
  EXPECT_EQ(
      UserErrorOf([&] { ConvertIdx(Input("labels.gz", "labels.gz"), Output()); }),
      "'" + Path("labels.gz") +
          "' is not an IDX images file: magic number 0x00000801 "
          "(unsigned bytes, 1 dimension), expected 0x00000803 (unsigned bytes, 3 dimensions)");
  EXPECT_EQ(
      UserErrorOf([&] { ConvertIdx(Input("images.gz", "images.gz"), Output()); }),
      "'" + Path("images.gz") +
          "' is not an IDX labels file: magic number 0x00000803 "
          "(unsigned bytes, 3 dimensions), expected 0x00000801 (unsigned bytes, 1 dimension)");
  WriteRaw(Path("floats.raw"), IdxBytes(0x00000d03, {3, 2, 2}, kPixels));
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("floats.raw"), Output()); }),
            "'" + Path("floats.raw") +
                "' is not an IDX images file: magic number 0x00000d03 "
                "(float32, 3 dimensions), expected 0x00000803 (unsigned bytes, 3 dimensions)");
  WriteRaw(Path("text.raw"), {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("text.raw"), Output()); }),
            "'" + Path("text.raw") +
                "' is not an IDX images file: magic number 0x68656c6c (not "
                "an IDX header), expected 0x00000803 (unsigned bytes, 3 dimensions)");
  WriteRaw(Path("tiny.raw"), {0, 0});
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("tiny.raw"), Output()); }),
            "'" + Path("tiny.raw") +
                "' is not an IDX images file: it holds only 2 bytes, too few "
                "for the magic number 0x00000803");
  WriteRaw(Path("header.raw"), {0, 0, 8, 3, 0, 0, 0, 3, 0, 0});
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("header.raw"), Output()); }),
            "'" + Path("header.raw") + "': truncated IDX header: expected 16 bytes, found 10");
  EXPECT_TRUE(HoldsOnlyInputs());
}

// Image sizes come from the header: their product could overflow 64 bits, or ask for
// terabytes, before a byte of data is read.
TEST_F(ConvertIdxTest, HugeImageSizesInTheHeaderAreRefusedBeforeAllocating) {
  WriteRaw(Path("huge.idx"), IdxBytes(kImagesMagic, {3, 0xffffffffu, 0xffffffffu}, kPixels));
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("huge.idx"), Output()); }),
            "'" + Path("huge.idx") +
                "': IDX images of 4294967295 x 4294967295 are larger than the 16777216 values "
                "per row shardmax stores");
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, ImageAndLabelCountsMustAgree) {
  WriteGzip(Path("two.gz"), IdxBytes(kLabelsMagic, {2}, {1, 0}));
  EXPECT_EQ(
      UserErrorOf([&] { ConvertIdx(Input("images.gz", "two.gz"), Output()); }),
      "'" + Path("images.gz") + "' holds 3 images but '" + Path("two.gz") + "' holds 2 labels");
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input("images.gz", "absent.gz"), Output()); }),
            "cannot open IDX labels file '" + Path("absent.gz") + "': No such file or directory");
  EXPECT_TRUE(HoldsOnlyInputs());
}

TEST_F(ConvertIdxTest, CompressionAndChunksAreAppliedAsAsked) {
  ConvertOutput output = Output("packed.h5");
  output.storage = h5::Storage{2, h5::Compression::kShuffleGzip, 6};
  ConvertIdx(Input(), output);
  h5::Handle file = h5::OpenFileForReading(output.path);
  const DatasetInfo features = DescribeDataset(file, "features", output.path);
  EXPECT_EQ(features.chunk, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(features.filters, (std::vector<std::string>{"shuffle", "gzip level 6"}));
  const DatasetInfo labels = DescribeDataset(file, "labels", output.path);
  EXPECT_EQ(labels.chunk, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(labels.filters, (std::vector<std::string>{"shuffle", "gzip level 6"}));

  ConvertOutput gzip = Output("gzip.h5");
  gzip.storage = h5::Storage{8192, h5::Compression::kGzip, 1};
  ConvertIdx(Input(), gzip);
  h5::Handle gzip_file = h5::OpenFileForReading(gzip.path);
  const DatasetInfo gzip_features = DescribeDataset(gzip_file, "features", gzip.path);
  EXPECT_EQ(gzip_features.chunk, (std::vector<std::int64_t>{3, 4}));  // at most N rows
  EXPECT_EQ(gzip_features.filters, (std::vector<std::string>{"gzip level 1"}));

  ConvertIdx(Input(), Output("plain.h5"));
  h5::Handle plain = h5::OpenFileForReading(Path("plain.h5"));
  EXPECT_TRUE(DescribeDataset(plain, "features", "plain").filters.empty());
  EXPECT_EQ(ReadWholeDataset<std::uint8_t>(output.path, "features", H5T_NATIVE_UINT8), kPixels);
}

TEST_F(ConvertIdxTest, OutputDoesNotDependOnTheChunkSize) {
  for (const std::int64_t chunk_rows : {1, 2, 3, 1000}) {
    ConvertOutput output = Output("chunks" + std::to_string(chunk_rows) + ".h5");
    output.storage.chunk_rows = chunk_rows;
    ConvertIdx(Input(), output);
    EXPECT_EQ(ReadWholeDataset<std::uint8_t>(output.path, "features", H5T_NATIVE_UINT8), kPixels)
        << chunk_rows;
    EXPECT_EQ(ReadWholeDataset<std::int32_t>(output.path, "labels", H5T_NATIVE_INT32),
              (std::vector<std::int32_t>{2, 0, 1}))
        << chunk_rows;
  }
}

TEST_F(ConvertIdxTest, SummaryCountsClassesAndTheValueRange) {
  ConvertOutput output = Output();
  output.class_names = {"zero", "one", "two"};
  output.storage.chunk_rows = 2;
  ConvertIdx(Input(), output);
  h5::Handle file = h5::OpenFileForReading(output.path);
  const DataSummary summary = SummarizeData(file, DatasetLayout{}, output.path);
  EXPECT_EQ(summary.rows, 3);
  EXPECT_EQ(summary.features, 4);
  EXPECT_EQ(summary.feature_type, "uint8");
  EXPECT_EQ(summary.label_counts, (std::map<std::int64_t, std::int64_t>{{0, 1}, {1, 1}, {2, 1}}));
  EXPECT_EQ(summary.classes.class_names, output.class_names);
  EXPECT_EQ(summary.min, 0.0);
  EXPECT_EQ(summary.max, 255.0);
  EXPECT_EQ(summary.mean, 585.0 / 12.0);
  EXPECT_EQ(summary.non_finite, 0);
}

TEST_F(ConvertIdxTest, AnExistingOutputIsKeptUnlessOverwriting) {
  shardmax::testing::WriteTextFile(Path("out.h5"), "precious");
  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input(), Output()); }),
            "output file '" + Path("out.h5") + "' already exists; pass --overwrite to replace it");
  std::ifstream kept(Path("out.h5"));
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(kept)), {}), "precious");

  ConvertOutput output = Output();
  output.overwrite = true;
  ConvertIdx(Input(), output);
  EXPECT_EQ(ReadWholeDataset<std::uint8_t>(output.path, "features", H5T_NATIVE_UINT8), kPixels);

  EXPECT_EQ(UserErrorOf([&] { ConvertIdx(Input(), Output("absent/out.h5")); }),
            "output file '" + Path("absent/out.h5") + "': directory '" + Path("absent") +
                "' does not exist");
}

}  // namespace
}  // namespace shardmax
