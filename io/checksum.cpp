#include "io/checksum.hpp"

#include <zlib.h>

#include <bit>
#include <cstdio>
#include <limits>

namespace shardmax {
namespace {

// The checksum is of the stored bytes, which are little-endian: on a big-endian host the
// in-memory doubles would have to be swapped first.
static_assert(std::endian::native == std::endian::little,
              "checkpoint checksums assume a little-endian host");

std::uint32_t Crc32OfDoubles(const double* values, Eigen::Index count) {
  return Crc32(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(values),
                                              static_cast<std::size_t>(count) * sizeof(double)));
}

}  // namespace

std::uint32_t Crc32(std::span<const unsigned char> bytes, std::uint32_t crc) {
  uLong value = crc;
  // zlib takes lengths as uInt: feed large spans in pieces.
  constexpr std::size_t kPiece = std::numeric_limits<uInt>::max();
  for (std::size_t done = 0; done < bytes.size(); done += kPiece) {
    const std::size_t length = std::min(kPiece, bytes.size() - done);
    value = crc32(value, bytes.data() + done, static_cast<uInt>(length));
  }
  return static_cast<std::uint32_t>(value);
}

std::uint32_t Crc32Of(const Matrix& values) { return Crc32OfDoubles(values.data(), values.size()); }

std::uint32_t Crc32Of(const Vector& values) { return Crc32OfDoubles(values.data(), values.size()); }

std::string FormatCrc32(std::uint32_t crc) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(crc));
  return text;
}

}  // namespace shardmax
