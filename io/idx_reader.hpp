// IDX files, the format of MNIST and Fashion-MNIST: a big-endian header (the magic number
// 0x000008NN for unsigned bytes in NN dimensions, then NN uint32 sizes) followed by the bytes
// in row-major order. Files are read through zlib's gzread, which decompresses when the file
// starts with the gzip magic bytes 1f 8b and passes raw files through, so both work whatever
// their name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/converted_file.hpp"

struct gzFile_s;

namespace shardmax {

class IdxReader {
 public:
  // Opens `path` and checks its header: unsigned bytes in `dimensions` dimensions. `kind`
  // ("images", "labels") names the file's role in messages.
  IdxReader(std::string path, int dimensions, std::string kind);

  const std::string& path() const { return path_; }
  const std::vector<std::int64_t>& dims() const { return dims_; }
  std::int64_t items() const { return dims_[0]; }  // N
  std::int64_t item_bytes() const;                 // the product of the other sizes

  // Reads the next `count` items; throws, naming the file, if the data ends early.
  void Read(std::int64_t count, std::uint8_t* out);
  // Throws, naming the file, unless every item was read and nothing follows.
  void CheckAtEnd();

 private:
  struct Closer {
    void operator()(gzFile_s* file) const;
  };
  // Reads up to `bytes`; returns how many, 0 at the end; throws on a zlib error.
  std::int64_t ReadSome(std::uint8_t* out, std::int64_t bytes);
  // Reads until `bytes` are in or the file ends; returns how many were read.
  std::int64_t ReadFully(std::uint8_t* out, std::int64_t bytes);
  std::string DescribeShape() const;
  std::string DescribeDims() const;  // the sizes of one item: "28 x 28"

  std::string path_;
  std::string kind_;
  std::unique_ptr<gzFile_s, Closer> file_;
  std::vector<std::int64_t> dims_;
  std::int64_t header_bytes_ = 0;
  std::int64_t data_bytes_read_ = 0;
};

struct IdxInput {
  std::string images_path;                         // magic 0x00000803: N x rows x cols
  std::string labels_path;                         // magic 0x00000801: N
  FeatureType feature_type = FeatureType::kUint8;  // kFloat32 stores value/255
};

// Writes N x (rows*cols) features and the labels (K = largest label + 1) to output.path.
// Reads the labels file twice (to learn K first) and the images file once.
ConvertedShape ConvertIdx(const IdxInput& input, const ConvertOutput& output);

}  // namespace shardmax
