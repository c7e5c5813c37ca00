#include "io/idx_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {
namespace {

constexpr std::uint32_t kUnsignedByteType = 0x08;
// gzread takes an unsigned count; stay well inside it.
constexpr std::int64_t kMaxReadBytes = std::int64_t{1} << 30;

std::string Hex(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// The element type codes of the IDX format.
const char* ElementTypeName(std::uint32_t code) {
  switch (code) {
    case 0x08:
      return "unsigned bytes";
    case 0x09:
      return "signed bytes";
    case 0x0b:
      return "int16";
    case 0x0c:
      return "int32";
    case 0x0d:
      return "float32";
    case 0x0e:
      return "float64";
    default:
      return "unknown element type";
  }
}

// What a magic number of the form 0x0000TTNN says: element type TT in NN dimensions.
std::string DescribeMagic(std::uint32_t magic) {
  if ((magic >> 16) != 0) return Hex(magic) + " (not an IDX header)";
  const std::uint32_t dimensions = magic & 0xff;
  return StrCat(Hex(magic), " (", ElementTypeName((magic >> 8) & 0xff), ", ", dimensions,
                dimensions == 1 ? " dimension)" : " dimensions)");
}

std::uint32_t BigEndian32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

}  // namespace

void IdxReader::Closer::operator()(gzFile_s* file) const { gzclose(file); }

IdxReader::IdxReader(std::string path, int dimensions, std::string kind)
    : path_(std::move(path)), kind_(std::move(kind)) {
  file_.reset(gzopen(path_.c_str(), "rb"));
  if (!file_) {
    throw UserError("cannot open IDX " + kind_ + " file '" + path_ +
                    "': " + std::strerror(errno != 0 ? errno : ENOENT));
  }
  gzbuffer(file_.get(), 1 << 17);

  const std::uint32_t expected_magic =
      (kUnsignedByteType << 8) | static_cast<std::uint32_t>(dimensions);
  std::vector<std::uint8_t> header(4 + 4 * static_cast<std::size_t>(dimensions));
  const std::int64_t magic_bytes = ReadFully(header.data(), 4);
  if (magic_bytes < 4) {
    throw UserError(StrCat("'", path_, "' is not an IDX ", kind_, " file: it holds only ",
                           magic_bytes, " bytes, too few for the magic number ",
                           Hex(expected_magic)));
  }
  const std::uint32_t magic = BigEndian32(header.data());
  if (magic != expected_magic) {
    throw UserError("'" + path_ + "' is not an IDX " + kind_ + " file: magic number " +
                    DescribeMagic(magic) + ", expected " + DescribeMagic(expected_magic));
  }
  const auto header_size = static_cast<std::int64_t>(header.size());
  const std::int64_t size_bytes = ReadFully(header.data() + 4, header_size - 4);
  if (size_bytes < header_size - 4) {
    throw UserError(StrCat("'", path_, "': truncated IDX header: expected ", header_size,
                           " bytes, found ", 4 + size_bytes));
  }
  header_bytes_ = header_size;
  for (int i = 0; i < dimensions; ++i) {
    dims_.push_back(BigEndian32(header.data() + 4 + 4 * i));
  }
  // Checked before the product is used anywhere: two 32-bit sizes could overflow it, and a
  // damaged header must not make the converter allocate terabytes.
  std::int64_t bytes = 1;
  for (std::size_t i = 1; i < dims_.size(); ++i) {
    bytes *= dims_[i];
    if (bytes > kMaxConvertedFeatures) {
      throw UserError(StrCat("'", path_, "': IDX ", kind_, " of ", DescribeDims(),
                             " are larger than the ", kMaxConvertedFeatures,
                             " values per row shardmax stores"));
    }
  }
}

std::string IdxReader::DescribeDims() const {
  std::string text;
  for (std::size_t i = 1; i < dims_.size(); ++i) {
    if (!text.empty()) text += " x ";
    text += std::to_string(dims_[i]);
  }
  return text;
}

std::int64_t IdxReader::item_bytes() const {
  std::int64_t bytes = 1;
  for (std::size_t i = 1; i < dims_.size(); ++i) bytes *= dims_[i];
  return bytes;
}

std::string IdxReader::DescribeShape() const {
  std::string text;
  for (const std::int64_t size : dims_) {
    if (!text.empty()) text += " x ";
    text += std::to_string(size);
  }
  return StrCat(text, " = ", items() * item_bytes(), " bytes of data after the ", header_bytes_,
                "-byte header");
}

std::int64_t IdxReader::ReadSome(std::uint8_t* out, std::int64_t bytes) {
  const int got = gzread(file_.get(), out, static_cast<unsigned>(std::min(bytes, kMaxReadBytes)));
  int code = Z_OK;
  const char* message = gzerror(file_.get(), &code);
  // Z_BUF_ERROR is a gzip stream cut short: reported as truncation by the callers.
  if (got < 0 || (code != Z_OK && code != Z_BUF_ERROR)) {
    std::string text = message != nullptr ? message : "unknown zlib error";
    // zlib prefixes the path, which the message names already.
    if (text.rfind(path_ + ": ", 0) == 0) text.erase(0, path_.size() + 2);
    throw UserError(StrCat("'", path_, "': cannot read the ", kind_, " data after ",
                           data_bytes_read_, " bytes: ", text));
  }
  return got;
}

std::int64_t IdxReader::ReadFully(std::uint8_t* out, std::int64_t bytes) {
  std::int64_t done = 0;
  while (done < bytes) {
    const std::int64_t got = ReadSome(out + done, bytes - done);
    if (got == 0) break;
    done += got;
  }
  return done;
}

void IdxReader::Read(std::int64_t count, std::uint8_t* out) {
  const std::int64_t bytes = count * item_bytes();
  const std::int64_t got = ReadFully(out, bytes);
  data_bytes_read_ += got;
  if (got < bytes) {
    throw UserError(StrCat("'", path_, "': truncated IDX ", kind_, " file: its header promises ",
                           DescribeShape(), ", but the file ends after ", data_bytes_read_));
  }
}

void IdxReader::CheckAtEnd() {
  const std::int64_t expected = items() * item_bytes();
  if (data_bytes_read_ != expected) {
    throw std::logic_error(StrCat("IdxReader::CheckAtEnd: read ", data_bytes_read_, " of ",
                                  expected, " bytes of '", path_, "'"));
  }
  std::vector<std::uint8_t> rest(1 << 16);
  std::int64_t extra = 0;
  while (const std::int64_t got = ReadSome(rest.data(), static_cast<std::int64_t>(rest.size()))) {
    extra += got;
  }
  if (extra > 0) {
    throw UserError(StrCat("'", path_, "': ", extra,
                           " bytes more than its header promises: ", DescribeShape()));
  }
}

ConvertedShape ConvertIdx(const IdxInput& input, const ConvertOutput& output) {
  CheckOutputWritable(output);
  IdxReader images(input.images_path, 3, "images");
  IdxReader labels(input.labels_path, 1, "labels");
  if (images.items() != labels.items()) {
    throw UserError(StrCat("'", images.path(), "' holds ", images.items(), " images but '",
                           labels.path(), "' holds ", labels.items(), " labels"));
  }
  if (images.items() == 0) throw UserError("'" + images.path() + "' holds no images");

  // First pass over the (small) labels file: K must be known before writing.
  std::uint8_t largest_label = 0;
  std::vector<std::uint8_t> label_block(1 << 16);
  for (std::int64_t done = 0; done < labels.items();) {
    const std::int64_t count =
        std::min(static_cast<std::int64_t>(label_block.size()), labels.items() - done);
    labels.Read(count, label_block.data());
    largest_label = std::max(largest_label,
                             *std::max_element(label_block.begin(), label_block.begin() + count));
    done += count;
  }
  labels.CheckAtEnd();

  ConvertedShape shape;
  shape.rows = images.items();
  shape.features = images.item_bytes();
  shape.feature_type = input.feature_type;
  shape.classes = std::int64_t{largest_label} + 1;
  shape.format = "idx";
  shape.sources = {input.images_path, input.labels_path};

  WriteConvertedFile(output, shape, [&](ConvertedFileWriter& writer) {
    IdxReader row_labels(input.labels_path, 1, "labels");
    std::vector<std::uint8_t> image(static_cast<std::size_t>(shape.features));
    std::vector<float> scaled(image.size());
    for (std::int64_t row = 0; row < shape.rows; ++row) {
      std::uint8_t label = 0;
      images.Read(1, image.data());
      row_labels.Read(1, &label);
      if (shape.feature_type == FeatureType::kUint8) {
        writer.AddRow(std::span<const std::uint8_t>(image), label);
        continue;
      }
      // The same float the trainer computes when it reads a uint8 file.
      for (std::size_t j = 0; j < image.size(); ++j) {
        scaled[j] = static_cast<float>(image[j]) * (1.0f / 255.0f);
      }
      writer.AddRow(std::span<const float>(scaled), label);
    }
    images.CheckAtEnd();
    row_labels.CheckAtEnd();
  });
  return shape;
}

}  // namespace shardmax
