// CRC-32 (zlib's: the checksum of gzip and PNG) of bytes, of whole files and of float64 arrays,
// for verifying checkpoints before they are trusted.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/types.hpp"

namespace shardmax {

// Continues `crc` (0 to start) over `bytes`.
std::uint32_t Crc32(std::span<const unsigned char> bytes, std::uint32_t crc = 0);

// Of the values as HDF5 stores them (float64, little-endian, row-major).
std::uint32_t Crc32Of(const Matrix& values);
std::uint32_t Crc32Of(const Vector& values);

// "0x1234abcd": how checksums appear in files and messages.
std::string FormatCrc32(std::uint32_t crc);

}  // namespace shardmax
