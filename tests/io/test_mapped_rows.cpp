// MappedRows (io/mapped_rows.hpp): rows located in the mapped file are the rows HDF5 reads, in
// contiguous and chunked datasets, under a user block and after their pages were released;
// storage that is not the computed type laid out row after row is left to HDF5.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.hpp"
#include "io/hdf5_file.hpp"
#include "io/mapped_rows.hpp"
#include "io/synthetic.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

constexpr std::int64_t kColumns = 7;
// Wide rows: 64 bytes each, 64 KiB chunks (the smallest objects CreateFile aligns).
constexpr std::int64_t kWideColumns = 16;
constexpr std::int64_t kPageChunkRows = 1024;
static_assert(kPageChunkRows * kWideColumns * 4 ==
              static_cast<std::int64_t>(h5::kAlignedObjectBytes));

// How a test file stores its N x kColumns dataset "x".
struct Layout {
  hid_t file_type = H5T_IEEE_F32LE;
  hsize_t chunk_rows = 0;  // 0: contiguous
  hsize_t chunk_columns = kColumns;
  hsize_t user_block = 0;
  bool gzip = false;
  bool compact = false;
  std::int64_t written_rows = -1;  // -1: all; else only the rows [0, written_rows)
};

float Value(std::int64_t row, std::int64_t column) {
  return static_cast<float>(row * 1000 + column);
}

void WriteFile(const std::string& path, std::int64_t rows, const Layout& layout) {
  h5::Handle creation(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (layout.user_block > 0) H5Pset_userblock(creation.get(), layout.user_block);
  h5::Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, creation.get(), H5P_DEFAULT), H5Fclose);
  ASSERT_GE(file.get(), 0);
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), kColumns};
  h5::Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  h5::Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (layout.chunk_rows > 0) {
    const hsize_t chunk[2] = {layout.chunk_rows, layout.chunk_columns};
    H5Pset_chunk(properties.get(), 2, chunk);
    if (layout.gzip) H5Pset_deflate(properties.get(), 4);
  }
  if (layout.compact) H5Pset_layout(properties.get(), H5D_COMPACT);
  h5::Handle dataset(H5Dcreate2(file.get(), "x", layout.file_type, space.get(), H5P_DEFAULT,
                                properties.get(), H5P_DEFAULT),
                     H5Dclose);
  ASSERT_GE(dataset.get(), 0);
  const std::int64_t written = layout.written_rows < 0 ? rows : layout.written_rows;
  std::vector<float> values;
  for (std::int64_t i = 0; i < written; ++i) {
    for (std::int64_t j = 0; j < kColumns; ++j) values.push_back(Value(i, j));
  }
  h5::WriteRows(dataset, 0, written, H5T_NATIVE_FLOAT, values.data(), path);
}

class MappedRowsTest : public ::testing::Test {
 protected:
  // The file's dataset "x", opened as a stream opens it.
  struct Opened {
    h5::Handle file;
    h5::Handle dataset;
    std::unique_ptr<MappedRows> rows;
  };
  Opened Open(const std::string& name, std::int64_t rows, const Layout& layout,
              hid_t memory_type = H5T_NATIVE_FLOAT) {
    const std::string path = directory_ + "/" + name;
    WriteFile(path, rows, layout);
    Opened opened;
    opened.file = h5::OpenFileForReading(path);
    opened.dataset = h5::OpenDataset(opened.file, "x", path);
    opened.rows = MappedRows::Open(path, opened.file, opened.dataset, memory_type, path);
    return opened;
  }

  // Rows [first, first + count) located, paged in and equal to what was written.
  static void ExpectRows(MappedRows* mapped, std::int64_t first, std::int64_t count) {
    const std::byte* located = mapped->Locate(first, count);
    ASSERT_NE(located, nullptr) << "rows " << first << " + " << count;
    mapped->PageIn(located, first, count);
    std::vector<float> expected;
    for (std::int64_t i = first; i < first + count; ++i) {
      for (std::int64_t j = 0; j < kColumns; ++j) expected.push_back(Value(i, j));
    }
    EXPECT_EQ(std::memcmp(located, expected.data(), expected.size() * sizeof(float)), 0)
        << "rows " << first << " + " << count;
  }

  // Not read in place: WhyNotInPlace names `why`, and Open gives null.
  void ExpectLeftToHdf5(const std::string& name, const Layout& layout, const std::string& why,
                        hid_t memory_type = H5T_NATIVE_FLOAT) {
    const Opened opened = Open(name, 50, layout, memory_type);
    EXPECT_EQ(opened.rows, nullptr) << name;
    const std::string reason = MappedRows::WhyNotInPlace(opened.file, opened.dataset, memory_type);
    EXPECT_NE(reason.find(why), std::string::npos) << name << ": " << reason;
  }

  std::string directory_ = shardmax::testing::MakeScratchDirectory();
};

TEST_F(MappedRowsTest, ContiguousRowsAreTheRowsWritten) {
  Opened opened = Open("contiguous.h5", 1000, Layout{});
  ASSERT_NE(opened.rows, nullptr);
  EXPECT_EQ(MappedRows::WhyNotInPlace(opened.file, opened.dataset, H5T_NATIVE_FLOAT), "");
  ExpectRows(opened.rows.get(), 0, 1);
  ExpectRows(opened.rows.get(), 17, 500);
  ExpectRows(opened.rows.get(), 997, 3);
  EXPECT_EQ(opened.rows->Locate(998, 3), nullptr);  // past the last row
}

TEST_F(MappedRowsTest, ChunkedRowsUnderAUserBlockAreTheRowsWritten) {
  // HDF5 1.10 gives chunk addresses after the user block (the contiguous offset counts it):
  // without adding it, these rows would be read 512 bytes early.
  for (const hsize_t user_block : {hsize_t{0}, hsize_t{512}, hsize_t{4096}}) {
    Layout layout;
    layout.chunk_rows = 100;
    layout.user_block = user_block;
    Opened opened = Open("chunked.h5", 1050, layout);  // the last chunk half full
    ASSERT_NE(opened.rows, nullptr) << user_block;
    ExpectRows(opened.rows.get(), 0, 100);
    ExpectRows(opened.rows.get(), 250, 50);
    ExpectRows(opened.rows.get(), 130, 10);
    ExpectRows(opened.rows.get(), 1000, 50);
    EXPECT_EQ(opened.rows->Locate(150, 100), nullptr);  // across two chunks
    Layout contiguous;
    contiguous.user_block = user_block;
    Opened whole = Open("contiguous-block.h5", 300, contiguous);
    ASSERT_NE(whole.rows, nullptr) << user_block;
    ExpectRows(whole.rows.get(), 0, 300);
  }
}

TEST_F(MappedRowsTest, RowsAcrossChunksAreLocatedInPieces) {
  Layout layout;
  layout.chunk_rows = 2048;
  Opened opened = Open("pieces.h5", 9001, layout);
  ASSERT_NE(opened.rows, nullptr);
  const std::vector<MappedRows::Piece> pieces = opened.rows->LocatePieces(3000, 4000, 1024);
  ASSERT_EQ(pieces.size(), 3u);
  const std::int64_t firsts[] = {3000, 4096, 6144};
  const std::int64_t counts[] = {1096, 2048, 856};
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    EXPECT_EQ(pieces[p].first_row, firsts[p]);
    EXPECT_EQ(pieces[p].rows, counts[p]);
    EXPECT_EQ(pieces[p].data, opened.rows->Locate(firsts[p], counts[p]));
    ExpectRows(opened.rows.get(), firsts[p], counts[p]);
  }
  EXPECT_EQ(opened.rows->LocatePieces(8192, 809, 1024).size(), 1u);  // the last, partial chunk
  // Chunks of 1500 rows: a block of 1024 rows from row 1024 would span two of them.
  layout.chunk_rows = 1500;
  Opened odd = Open("odd-pieces.h5", 4000, layout);
  ASSERT_NE(odd.rows, nullptr);
  EXPECT_TRUE(odd.rows->LocatePieces(0, 2048, 1024).empty());
  EXPECT_EQ(odd.rows->LocatePieces(0, 1500, 1024).size(), 1u);
  EXPECT_EQ(odd.rows->LocatePieces(1500, 1500, 500).size(), 1u);
  EXPECT_EQ(odd.rows->LocatePieces(0, 3000, 500).size(), 2u);
  Opened contiguous = Open("one-piece.h5", 4000, Layout{});
  EXPECT_EQ(contiguous.rows->LocatePieces(100, 3900, 1024).size(), 1u);
}

TEST_F(MappedRowsTest, ReleasedRowsArePagedInAgain) {
  Opened opened = Open("released.h5", 5000, Layout{});
  ASSERT_NE(opened.rows, nullptr);
  ExpectRows(opened.rows.get(), 1000, 2000);
  opened.rows->Release(opened.rows->Locate(1000, 2000), 2000);
  ExpectRows(opened.rows.get(), 1000, 2000);
  ExpectRows(opened.rows.get(), 2999, 1);  // next to released pages
}

// Kibibytes of `path` mapped into this process (its mappings' Rss in /proc/self/smaps).
std::int64_t MappedKibibytes(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::int64_t total = 0;
  bool in_file = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.find('-') < line.find(' ') && line.find(' ') != std::string::npos &&
        std::isxdigit(static_cast<unsigned char>(line[0]))) {
      in_file = line.size() >= path.size() &&
                line.compare(line.size() - path.size(), path.size(), path) == 0;
    } else if (in_file && line.rfind("Rss:", 0) == 0) {
      total += std::stoll(line.substr(4));
    }
  }
  return total;
}

TEST_F(MappedRowsTest, ReleasingEveryPieceLeavesNothingMapped) {
  // Chunks of "x" with chunks of "y" between them, as `gen` writes features and labels: paging
  // a piece in also maps the cached pages in the kernel's 64 KiB fault-around window beside
  // it, which no piece of "x" covers. A pass must not leave them behind: 64 KiB per chunk
  // made the resident set grow with the file.
  const std::string path = directory_ + "/interleaved.h5";
  constexpr std::int64_t kChunks = 40;
  constexpr std::int64_t kRows = kChunks * kPageChunkRows;
  {
    const h5::Handle file = h5::CreateFile(path);
    const h5::Handle x =
        h5::CreateDataset(file, "x", H5T_IEEE_F32LE, kRows, kWideColumns, kPageChunkRows);
    const h5::Handle y = h5::CreateDataset(file, "y", H5T_STD_I32LE, kRows, 0, kPageChunkRows);
    const std::vector<float> values(static_cast<std::size_t>(kPageChunkRows * kWideColumns), 1);
    const std::vector<std::int32_t> labels(static_cast<std::size_t>(kPageChunkRows), 1);
    for (std::int64_t first = 0; first < kRows; first += kPageChunkRows) {
      h5::WriteRows(x, first, kPageChunkRows, H5T_NATIVE_FLOAT, values.data(), path);
      h5::WriteRows(y, first, kPageChunkRows, H5T_NATIVE_INT32, labels.data(), path);
    }
  }
  const h5::Handle file = h5::OpenFileForReading(path);
  const h5::Handle x = h5::OpenDataset(file, "x", path);
  const auto mapped = MappedRows::Open(path, file, x, H5T_NATIVE_FLOAT, path);
  ASSERT_NE(mapped, nullptr);
  const std::int64_t at_open = MappedKibibytes(path);
  for (std::int64_t first = 0; first < kRows; first += kPageChunkRows) {
    for (const MappedRows::Piece& piece : mapped->LocatePieces(first, kPageChunkRows, 1)) {
      mapped->PageIn(piece.data, piece.first_row, piece.rows);
      mapped->Release(piece.data, piece.rows);
    }
  }
  // What Open paged in (the file's first page, and its window) may stay.
  EXPECT_LE(MappedKibibytes(path), std::max<std::int64_t>(at_open, 64))
      << "KiB of " << kChunks << " chunks of 64 KiB";
}

TEST_F(MappedRowsTest, RowsCutOffUnderTheRunAreAnErrorNamingThem) {
  // A file truncated while mapped: MADV_POPULATE_READ reports the missing pages, which a plain
  // read of the mapping would turn into a SIGBUS.
  Opened opened = Open("truncated.h5", 5000, Layout{});
  ASSERT_NE(opened.rows, nullptr);
  const std::byte* located = opened.rows->Locate(4000, 1000);
  ASSERT_NE(located, nullptr);
  ASSERT_EQ(truncate((directory_ + "/truncated.h5").c_str(), 4096), 0);
  try {
    opened.rows->PageIn(located, 4000, 1000);
    ADD_FAILURE() << "no error paging in rows past the file's end";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("truncated.h5: cannot read rows 4000 to 4999"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(MappedRowsTest, Uint8RowsAreReadAsBytes) {
  Layout layout;
  layout.file_type = H5T_STD_U8LE;
  const Opened opened = Open("bytes.h5", 40, layout, H5T_NATIVE_UINT8);
  ASSERT_NE(opened.rows, nullptr);
  const std::byte* located = opened.rows->Locate(0, 40);
  ASSERT_NE(located, nullptr);
  opened.rows->PageIn(located, 0, 40);
  std::vector<std::uint8_t> read(40 * kColumns);  // as HDF5 reads them
  h5::ReadRows(opened.dataset, 0, 40, H5T_NATIVE_UINT8, read.data(), "bytes.h5");
  EXPECT_EQ(std::memcmp(located, read.data(), read.size()), 0);
  EXPECT_EQ(read[5], 5);  // not all saturated
  ExpectLeftToHdf5("bytes-as-float.h5", layout, "stored type");
}

TEST_F(MappedRowsTest, StorageNotLaidOutAsComputedOnIsLeftToHdf5) {
  Layout gzip;
  gzip.chunk_rows = 10;
  gzip.gzip = true;
  ExpectLeftToHdf5("gzip.h5", gzip, "compressed");
  Layout narrow_chunks;
  narrow_chunks.chunk_rows = 10;
  narrow_chunks.chunk_columns = 3;
  ExpectLeftToHdf5("narrow.h5", narrow_chunks, "do not span every column");
  Layout float64;
  float64.file_type = H5T_IEEE_F64LE;
  ExpectLeftToHdf5("float64.h5", float64, "stored type");
  Layout big_endian;
  big_endian.file_type = H5T_IEEE_F32BE;
  ExpectLeftToHdf5("big-endian.h5", big_endian, "stored type");
  Layout compact;
  compact.compact = true;
  ExpectLeftToHdf5("compact.h5", compact, "compact");
}

TEST_F(MappedRowsTest, AChunkNeverWrittenIsLeftToHdf5) {
  Layout layout;
  layout.chunk_rows = 100;
  layout.written_rows = 100;
  Opened opened = Open("unwritten.h5", 300, layout);
  ASSERT_NE(opened.rows, nullptr);
  ExpectRows(opened.rows.get(), 0, 100);
  EXPECT_EQ(opened.rows->Locate(100, 10), nullptr);  // HDF5's read names what is missing
}

TEST_F(MappedRowsTest, GeneratedFilesAreReadInPlace) {
  // What `shardmax gen` writes (and the stream tests read): float32 and uint8 in chunks of rows.
  for (const FeatureType type : {FeatureType::kFloat32, FeatureType::kUint8}) {
    const std::string path = directory_ + "/generated.h5";
    SyntheticConfig config = shardmax::testing::SmallSynthetic(path, 3000, 9, 4, 1.0);
    config.type = type;
    WriteSyntheticDataset(config);
    const h5::Handle file = h5::OpenFileForReading(path);
    const h5::Handle features = h5::OpenDataset(file, "features", path);
    const hid_t memory_type =
        type == FeatureType::kUint8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
    EXPECT_EQ(MappedRows::WhyNotInPlace(file, features, memory_type), "");
  }
}

// Writes a small dataset, then "contiguous" and "chunked" (kAlignedRows x kWideColumns float32
// each) into `file`: without alignment, nothing after the small one falls on a page boundary
// by chance.
constexpr std::int64_t kAlignedRows = 6000;

void WriteWideRows(const h5::Handle& file, const std::string& path) {
  const std::vector<std::int32_t> labels(3, 1);
  h5::WriteRows(h5::CreateDataset(file, "labels", H5T_STD_I32LE, 3, 0, 0), 0, 3,
                H5T_NATIVE_INT32, labels.data(), path);
  const std::vector<float> values(static_cast<std::size_t>(kAlignedRows * kWideColumns), 0.5F);
  for (const std::int64_t chunk_rows : {std::int64_t{0}, kPageChunkRows}) {
    const std::string name = chunk_rows == 0 ? "contiguous" : "chunked";
    h5::WriteRows(
        h5::CreateDataset(file, name, H5T_IEEE_F32LE, kAlignedRows, kWideColumns, chunk_rows), 0,
        kAlignedRows, H5T_NATIVE_FLOAT, values.data(), path);
  }
}

TEST_F(MappedRowsTest, LargeDataInCreatedFilesStartsOnPageBoundaries) {
  const std::string path = directory_ + "/aligned.h5";
  WriteWideRows(h5::CreateFile(path), path);
  const h5::Handle file = h5::OpenFileForReading(path);
  for (const std::string name : {"contiguous", "chunked"}) {
    const h5::Handle dataset = h5::OpenDataset(file, name, path);
    const auto mapped = MappedRows::Open(path, file, dataset, H5T_NATIVE_FLOAT, path);
    ASSERT_NE(mapped, nullptr) << name;
    EXPECT_EQ(mapped->BytesOffCacheLine(), 0) << name;
    // The map starts on a page, so a located row on a page is one on a page in the file.
    const std::int64_t step = name == "contiguous" ? kAlignedRows : kPageChunkRows;
    for (std::int64_t first = 0; first < kAlignedRows; first += step) {
      const auto address = reinterpret_cast<std::uintptr_t>(mapped->Locate(first, 1));
      ASSERT_NE(address, 0U) << name << " row " << first;
      EXPECT_EQ(address % h5::kObjectAlignment, 0U) << name << " row " << first;
    }
  }
}

TEST_F(MappedRowsTest, RowsOffTheirCacheLinesAreMeasured) {
  // HDF5's default layout, as other tools write it, packs the data after the small dataset.
  const std::string path = directory_ + "/packed.h5";
  WriteWideRows(h5::Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                           H5Fclose),
                path);
  const h5::Handle file = h5::OpenFileForReading(path);
  for (const std::string name : {"contiguous", "chunked"}) {
    const h5::Handle dataset = h5::OpenDataset(file, name, path);
    const auto mapped = MappedRows::Open(path, file, dataset, H5T_NATIVE_FLOAT, path);
    ASSERT_NE(mapped, nullptr) << name;
    const auto address = reinterpret_cast<std::uintptr_t>(mapped->Locate(0, 1));
    EXPECT_NE(address % 64, 0U) << name << ": packed at a line by chance; move it";
    EXPECT_EQ(mapped->BytesOffCacheLine(), static_cast<std::int64_t>(address % 64)) << name;
  }
}

}  // namespace
}  // namespace shardmax
