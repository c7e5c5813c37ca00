// CSV and LIBSVM conversion: exact arrays, label mapping, and every refused line with its
// exact message naming the file, line and column.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/logging.hpp"
#include "io/text_formats.hpp"
#include "tests/io/convert_test_support.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

using shardmax::testing::DatasetShape;
using shardmax::testing::ReadWholeDataset;
using shardmax::testing::UserErrorOf;
using shardmax::testing::WriteTextFile;

class ConvertTextTest : public ::testing::Test {
 protected:
  void SetUp() override { directory_ = shardmax::testing::MakeScratchDirectory(); }
  std::string Path(const std::string& name) const { return directory_ + "/" + name; }

  CsvInput Csv(const std::string& text) const {
    WriteTextFile(Path("in.csv"), text);
    CsvInput input;
    input.path = Path("in.csv");
    return input;
  }
  LibsvmInput Libsvm(const std::string& text) const {
    WriteTextFile(Path("in.svm"), text);
    LibsvmInput input;
    input.path = Path("in.svm");
    return input;
  }
  ConvertOutput Output(const std::string& name = "out.h5") const {
    ConvertOutput output;
    output.path = Path(name);
    return output;
  }
  std::vector<float> Features(const std::string& name = "out.h5") const {
    return ReadWholeDataset<float>(Path(name), "features", H5T_NATIVE_FLOAT);
  }
  std::vector<std::int32_t> Labels(const std::string& name = "out.h5") const {
    return ReadWholeDataset<std::int32_t>(Path(name), "labels", H5T_NATIVE_INT32);
  }
  std::vector<std::int64_t> LabelValues(const std::string& name = "out.h5") const {
    h5::Handle file = h5::OpenFileForReading(Path(name));
    return h5::ReadInts(file, "label_values", name);
  }
  // The message of converting `input`; no output file may be left behind.
  template <typename Input>
  std::string ErrorOf(const Input& input) const {
    const std::string message = UserErrorOf([&] {
      if constexpr (std::is_same_v<Input, CsvInput>) {
        ConvertCsv(input, Output("failed.h5"));
      } else {
        ConvertLibsvm(input, Output("failed.h5"));
      }
    });
    EXPECT_FALSE(std::filesystem::exists(Path("failed.h5")));
    EXPECT_FALSE(std::filesystem::exists(Path(".failed.h5.tmp")));
    return message;
  }
  std::string Where(const std::string& file, int line) const {
    return StrCat("'", Path(file), "', line ", line);
  }

  std::string directory_;
};

// ---- CSV ----

TEST_F(ConvertTextTest, CsvGivesExactFeaturesAndSortedLabelClasses) {
  const ConvertedShape shape = ConvertCsv(Csv("3,0.5,-1\n1,1e-3,2\n3,+4,5.25\n2,7,8\n"), Output());
  EXPECT_EQ(shape.rows, 4);
  EXPECT_EQ(shape.features, 2);
  EXPECT_EQ(shape.classes, 3);
  EXPECT_EQ(DatasetShape(Path("out.h5"), "features"), (std::vector<std::int64_t>{4, 2}));
  EXPECT_EQ(Features(), (std::vector<float>{0.5f, -1.0f, 0.001f, 2.0f, 4.0f, 5.25f, 7.0f, 8.0f}));
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{2, 0, 2, 1}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(ConvertTextTest, CsvLabelColumnByNameWithQuotesCrlfAndBlankLines) {
  CsvInput input = Csv("\"sepal, width\",species,petal\r\n1.5,2,3\r\n\r\n 2.5 , \"0\" ,4\r\n");
  input.has_header = true;
  input.label_column = "species";
  ConvertCsv(input, Output());
  EXPECT_EQ(Features(), (std::vector<float>{1.5f, 3.0f, 2.5f, 4.0f}));
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{1, 0}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{0, 2}));
}

TEST_F(ConvertTextTest, CsvLabelColumnByIndexAndOtherDelimiters) {
  CsvInput input = Csv("0.5;1;7\n0.25;0;8\n");
  input.delimiter = ';';
  input.label_column = "1";
  ConvertCsv(input, Output());
  EXPECT_EQ(Features(), (std::vector<float>{0.5f, 7.0f, 0.25f, 8.0f}));
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{1, 0}));

  CsvInput tabs = Csv("y\tx\tz\n1.0\t-2\t\"4\"\n5\t3\t 5\n");
  tabs.delimiter = '\t';
  tabs.has_header = true;
  ConvertCsv(tabs, Output("tabs.h5"));
  EXPECT_EQ(Features("tabs.h5"), (std::vector<float>{-2.0f, 4.0f, 3.0f, 5.0f}));
  EXPECT_EQ(LabelValues("tabs.h5"), (std::vector<std::int64_t>{1, 5}));
}

TEST_F(ConvertTextTest, CsvGivenLabelValuesFixTheClassOrder) {
  CsvInput input = Csv("1,0.5\n-1,0.25\n1,2\n");
  input.label_values = {1, -1};
  ConvertCsv(input, Output());
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{0, 1, 0}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{1, -1}));

  CsvInput unknown = Csv("1,0.5\n-1,0.25\n0,2\n");
  unknown.label_values = {1, -1};
  EXPECT_EQ(ErrorOf(unknown), Where("in.csv", 3) + ": label 0 is not one of --label-values 1,-1");
}

TEST_F(ConvertTextTest, CsvValuesBelowFloat32RangeBecomeWhatACastGives) {
  ConvertCsv(Csv("0,1e-50,-1e-40,1e-30\n"), Output());
  EXPECT_EQ(Features(), (std::vector<float>{0.0f, static_cast<float>(-1e-40), 1e-30f}));
}

TEST_F(ConvertTextTest, CsvRaggedRowsAreRefused) {
  EXPECT_EQ(ErrorOf(Csv("1,2,3\n4,5,6\n7,8\n")),
            Where("in.csv", 3) + ": 2 fields, but line 1 has 3");
  CsvInput header = Csv("y,a,b\n1,2,3,4\n");
  header.has_header = true;
  EXPECT_EQ(ErrorOf(header), Where("in.csv", 2) + ": 4 fields, but line 1 has 3");
}

TEST_F(ConvertTextTest, CsvNonNumericValuesNameLineAndColumn) {
  CsvInput input = Csv("y,a,b\n1,2,3\n0,4,x\n");
  input.has_header = true;
  EXPECT_EQ(ErrorOf(input), Where("in.csv", 3) + ", column 2 ('b'): 'x' is not a finite number");
  EXPECT_EQ(ErrorOf(Csv("1,nan,3\n")),
            Where("in.csv", 1) + ", column 1: 'nan' is not a finite number");
  EXPECT_EQ(ErrorOf(Csv("1,2,1e39\n")),
            Where("in.csv", 1) + ", column 2: '1e39' is not a finite number");
  EXPECT_EQ(ErrorOf(Csv("1,,3\n")),
            Where("in.csv", 1) + ", column 1: empty field (a missing value?)");
  EXPECT_EQ(ErrorOf(Csv("1,\"2,3\n")), Where("in.csv", 1) + ": a quoted field is not closed");
  CsvInput tabs = Csv("1\t\t\"2\"\n");
  tabs.delimiter = '\t';
  EXPECT_EQ(ErrorOf(tabs), Where("in.csv", 1) + ", column 1: empty field (a missing value?)");
}

TEST_F(ConvertTextTest, CsvLabelsMustBeIntegers) {
  EXPECT_EQ(ErrorOf(Csv("1,2\n1.5,2\n")),
            Where("in.csv", 2) + ", column 0: label '1.5' is not an integer");
  EXPECT_EQ(ErrorOf(Csv("cat,2\n")),
            Where("in.csv", 1) + ", column 0: label 'cat' is not an integer");
  ConvertCsv(Csv("2.0,1\n1.000000e+00,2\n"), Output());  // written by numerical tools
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{1, 2}));
}

TEST_F(ConvertTextTest, CsvEmptyFilesAndBadLabelColumns) {
  EXPECT_EQ(ErrorOf(Csv("")), "'" + Path("in.csv") + "' has no data rows");
  CsvInput empty = Csv("\n\n");
  empty.has_header = true;
  EXPECT_EQ(ErrorOf(empty), "'" + Path("in.csv") + "' is empty: expected a header line (--header)");
  CsvInput header_only = Csv("y,a\n");
  header_only.has_header = true;
  EXPECT_EQ(ErrorOf(header_only),
            "'" + Path("in.csv") + "' has no data rows after its header line");

  CsvInput by_name = Csv("y,a,b\n1,2,3\n");
  by_name.label_column = "kind";
  EXPECT_EQ(ErrorOf(by_name), "--label-column 'kind' is a column name, which needs --header");
  by_name.has_header = true;
  EXPECT_EQ(ErrorOf(by_name), "--label-column 'kind': the header of '" + Path("in.csv") +
                                  "' has no such column (it has: y, a, b)");
  CsvInput beyond = Csv("1,2,3\n");
  beyond.label_column = "3";
  EXPECT_EQ(ErrorOf(beyond), "--label-column 3 is not a column of '" + Path("in.csv") +
                                 "': its lines have 3 fields, numbered from 0");
  EXPECT_EQ(ErrorOf(Csv("1\n2\n")),
            Where("in.csv", 1) + ": only one column, the label; there are no features");
}

TEST_F(ConvertTextTest, CsvOutputDoesNotDependOnTheChunkSize) {
  std::string text;
  for (int row = 0; row < 10; ++row)
    text += std::to_string(row % 3) + "," + std::to_string(row * 0.5) + ",1\n";
  const CsvInput input = Csv(text);
  ConvertOutput one_row = Output("one.h5");
  one_row.storage.chunk_rows = 1;
  ConvertCsv(input, one_row);
  ConvertOutput four_rows = Output("four.h5");
  four_rows.storage = h5::Storage{4, h5::Compression::kGzip, 9};
  ConvertCsv(input, four_rows);
  EXPECT_EQ(Features("one.h5"), Features("four.h5"));
  EXPECT_EQ(Labels("one.h5"), Labels("four.h5"));
  EXPECT_EQ(Labels("one.h5"), (std::vector<std::int32_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0}));
}

// ---- LIBSVM ----

TEST_F(ConvertTextTest, LibsvmGivesDenseRowsAndMapsMinusOnePlusOne) {
  const ConvertedShape shape = ConvertLibsvm(
      Libsvm("# made by hand\n-1 1:0.5 3:2 # trailing comment\n+1 qid:7 2:-1.5\n\n-1 3:4e0\n+1\n"),
      Output());
  EXPECT_EQ(shape.rows, 4);
  EXPECT_EQ(shape.features, 3);
  EXPECT_EQ(Features(), (std::vector<float>{0.5f, 0, 2, 0, -1.5f, 0, 0, 0, 4, 0, 0, 0}));
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{0, 1, 0, 1}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{-1, 1}));
}

TEST_F(ConvertTextTest, LibsvmFeatureCountCanBeGivenAndIsThenALimit) {
  LibsvmInput input = Libsvm("3 2:1\n7 1:2.5\n");
  input.features = 4;
  ConvertLibsvm(input, Output());
  EXPECT_EQ(DatasetShape(Path("out.h5"), "features"), (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(Features(), (std::vector<float>{0, 1, 0, 0, 2.5f, 0, 0, 0}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{3, 7}));

  LibsvmInput narrow = Libsvm("3 2:1\n7 1:2.5 5:1\n");
  narrow.features = 4;
  EXPECT_EQ(ErrorOf(narrow), Where("in.svm", 2) + ": index 5 is beyond --features 4");
  EXPECT_EQ(ErrorOf(Libsvm("1\n0\n")),
            "'" + Path("in.svm") + "' has no index:value pairs; give the width with --features");
}

TEST_F(ConvertTextTest, LibsvmIndexZeroAndOutOfOrderIndicesAreRefused) {
  EXPECT_EQ(ErrorOf(Libsvm("1 1:1\n1 0:1 2:3\n")),
            Where("in.svm", 2) + ": index 0 in '0:1'; indices start at 1");
  EXPECT_EQ(ErrorOf(Libsvm("1 3:1 2:1\n")),
            Where("in.svm", 1) + ": index 2 follows index 3; indices must increase along a line");
  EXPECT_EQ(ErrorOf(Libsvm("1 2:1 2:3\n")),
            Where("in.svm", 1) + ": index 2 follows index 2; indices must increase along a line");
}

// One huge index must be refused, not allocate terabytes: dense rows hold at most 2^24
// features, sparse ones (column indices in int32) 2^31 - 1.
TEST_F(ConvertTextTest, LibsvmIndexBeyondTheStoredWidthIsRefusedBeforeAllocating) {
  EXPECT_EQ(ErrorOf(Libsvm("1 1:1\n1 99999999999:1\n")),
            Where("in.svm", 2) + ": index 99999999999 is beyond the 2147483647 features shardmax "
                                 "stores per row");
  LibsvmInput dense = Libsvm("1 1:1\n1 16777217:1\n");
  dense.layout = FeatureLayout::kDense;
  EXPECT_EQ(ErrorOf(dense), Where("in.svm", 2) + ": index 16777217 is beyond the 16777216 "
                                                 "features shardmax stores per row (dense)");
}

TEST_F(ConvertTextTest, LibsvmMalformedAndNonNumericTokensAreRefused) {
  EXPECT_EQ(ErrorOf(Libsvm("1 3\n")), Where("in.svm", 1) + ": '3' is not an index:value pair");
  EXPECT_EQ(ErrorOf(Libsvm("1 a:3\n")), Where("in.svm", 1) + ": 'a:3' is not an index:value pair");
  EXPECT_EQ(ErrorOf(Libsvm("1 1:2\n1 3:abc\n")),
            Where("in.svm", 2) + ": index 3: 'abc' is not a finite number");
  EXPECT_EQ(ErrorOf(Libsvm("1 3:\n")), Where("in.svm", 1) + ": index 3: '' is not a finite number");
  EXPECT_EQ(ErrorOf(Libsvm("one 1:2\n")), Where("in.svm", 1) + ": label 'one' is not an integer");
  EXPECT_EQ(ErrorOf(Libsvm("# only a comment\n\n")), "'" + Path("in.svm") + "' has no data rows");
}

TEST_F(ConvertTextTest, LibsvmOutputDoesNotDependOnTheChunkSize) {
  std::string text;
  for (int row = 0; row < 9; ++row) {
    text += std::to_string(10 * (row % 4)) + " " + std::to_string(row % 5 + 1) + ":" +
            std::to_string(row) + "\n";
  }
  const LibsvmInput input = Libsvm(text);
  ConvertOutput one_row = Output("one.h5");
  one_row.storage.chunk_rows = 1;
  ConvertLibsvm(input, one_row);
  ConvertOutput big = Output("big.h5");
  big.storage = h5::Storage{1000, h5::Compression::kShuffleGzip, 4};
  ConvertLibsvm(input, big);
  EXPECT_EQ(Features("one.h5"), Features("big.h5"));
  EXPECT_EQ(Labels("one.h5"), Labels("big.h5"));
  EXPECT_EQ(LabelValues("big.h5"), (std::vector<std::int64_t>{0, 10, 20, 30}));
}

// Sparse output: the CSR arrays hold exactly the pairs of the file, columns from 0.
TEST_F(ConvertTextTest, LibsvmWritesTheSparseLayoutWhenAskedOrWhenTheDataIsSparse) {
  const std::string text = "-1 1:0.5 3:2\n+1 2:-1.5\n\n-1 3:4e0\n+1\n";
  LibsvmInput input = Libsvm(text);
  input.layout = FeatureLayout::kSparse;
  const ConvertedShape shape = ConvertLibsvm(input, Output());
  EXPECT_TRUE(shape.is_sparse);
  const auto read = [&](const char* name, hid_t type, auto sample) {
    return ReadWholeDataset<decltype(sample)>(Path("out.h5"), name, type);
  };
  EXPECT_EQ(read("features/data", H5T_NATIVE_FLOAT, 0.0f),
            (std::vector<float>{0.5f, 2, -1.5f, 4}));
  EXPECT_EQ(read("features/indices", H5T_NATIVE_INT64, std::int64_t{}),
            (std::vector<std::int64_t>{0, 2, 1, 2}));
  EXPECT_EQ(read("features/indptr", H5T_NATIVE_INT64, std::int64_t{}),
            (std::vector<std::int64_t>{0, 2, 3, 4, 4}));
  EXPECT_EQ(Labels(), (std::vector<std::int32_t>{0, 1, 0, 1}));
  EXPECT_EQ(LabelValues(), (std::vector<std::int64_t>{-1, 1}));
  h5::Handle file = h5::OpenFileForReading(Path("out.h5"));
  EXPECT_EQ(h5::ReadStringAttribute(file, "features", "encoding-type", "out.h5"), "csr_matrix");

  // auto: 4 of 12 values non-zero stays dense; 2 of 2000 goes sparse.
  ConvertLibsvm(Libsvm(text), Output("auto-dense.h5"));
  EXPECT_EQ(DatasetShape(Path("auto-dense.h5"), "features"), (std::vector<std::int64_t>{4, 3}));
  LibsvmInput wide = Libsvm("1 7:1\n2 1000:2\n");
  EXPECT_TRUE(ConvertLibsvm(wide, Output("auto-sparse.h5")).is_sparse);
  EXPECT_EQ(ReadWholeDataset<std::int64_t>(Path("auto-sparse.h5"), "features/indices",
                                           H5T_NATIVE_INT64),
            (std::vector<std::int64_t>{6, 999}));
  wide.layout = FeatureLayout::kDense;
  EXPECT_FALSE(ConvertLibsvm(wide, Output("forced-dense.h5")).is_sparse);
}

TEST_F(ConvertTextTest, SparseLibsvmOutputDoesNotDependOnTheChunkSize) {
  std::string text;
  for (int row = 0; row < 300; ++row) {
    text += std::to_string(row % 3) + " " + std::to_string(row % 7 + 1) + ":" +
            std::to_string(row) + " " + std::to_string(row % 11 + 8) + ":1\n";
  }
  LibsvmInput input = Libsvm(text);
  input.layout = FeatureLayout::kSparse;
  ConvertOutput one_row = Output("one.h5");
  one_row.storage.chunk_rows = 1;
  ConvertLibsvm(input, one_row);
  ConvertOutput big = Output("big.h5");
  big.storage = h5::Storage{1000, h5::Compression::kShuffleGzip, 4};
  ConvertLibsvm(input, big);
  for (const char* name : {"features/indices", "features/indptr", "labels"}) {
    EXPECT_EQ(ReadWholeDataset<std::int64_t>(Path("one.h5"), name, H5T_NATIVE_INT64),
              ReadWholeDataset<std::int64_t>(Path("big.h5"), name, H5T_NATIVE_INT64))
        << name;
  }
  EXPECT_EQ(ReadWholeDataset<float>(Path("one.h5"), "features/data", H5T_NATIVE_FLOAT),
            ReadWholeDataset<float>(Path("big.h5"), "features/data", H5T_NATIVE_FLOAT));
}

}  // namespace
}  // namespace shardmax
