#include "io/mapped_rows.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {
namespace {

// The kernel's default fault_around_bytes (mm/memory.c): a read fault on a file mapping maps
// the cached pages of the aligned window around it.
constexpr std::int64_t kFaultAroundBytes = 64 * 1024;

std::int64_t PageBytes() {
  static const std::int64_t bytes = sysconf(_SC_PAGESIZE);
  return bytes;
}

// What the dataset's storage says about reading its rows in place: "" when they can be,
// else why not. Fills the layout fields of *rows when they can.
std::string InspectStorage(const h5::Handle& file, const h5::Handle& dataset, hid_t memory_type,
                           MappedRowsLayout* rows) {
  const h5::Handle type(H5Dget_type(dataset.get()), H5Tclose);
  if (type.get() < 0 || H5Tequal(type.get(), memory_type) <= 0) {
    return "its stored type is not the one computed on (float32 or uint8, this machine's byte "
           "order)";
  }
  const h5::Handle space(H5Dget_space(dataset.get()), H5Sclose);
  hsize_t dims[2] = {0, 0};
  if (space.get() < 0 || H5Sget_simple_extent_ndims(space.get()) != 2 ||
      H5Sget_simple_extent_dims(space.get(), dims, nullptr) != 2) {
    return "it is not 2-D";
  }
  const h5::Handle creation(H5Dget_create_plist(dataset.get()), H5Pclose);
  if (creation.get() < 0) return "its creation properties cannot be read";
  if (H5Pget_nfilters(creation.get()) != 0) return "it is compressed or filtered";
  if (H5Pget_external_count(creation.get()) != 0) return "it is stored in external files";
  const auto value_bytes = static_cast<std::int64_t>(H5Tget_size(type.get()));
  rows->total_rows = static_cast<std::int64_t>(dims[0]);
  rows->row_bytes = static_cast<std::int64_t>(dims[1]) * value_bytes;
  rows->alignment = value_bytes;
  switch (H5Pget_layout(creation.get())) {
    case H5D_CONTIGUOUS: {
      const haddr_t offset = H5Dget_offset(dataset.get());  // from the file's start
      if (offset == HADDR_UNDEF) return "its data was never written";
      rows->contiguous_offset = static_cast<std::int64_t>(offset);
      return "";
    }
    case H5D_CHUNKED: {
      hsize_t chunk[2] = {0, 0};
      if (H5Pget_chunk(creation.get(), 2, chunk) != 2 || chunk[0] == 0) {
        return "its chunk shape cannot be read";
      }
      if (chunk[1] != dims[1]) return "its chunks do not span every column";
      // Chunk addresses count from HDF5's base address, after the user block (HDF5 1.10).
      const h5::Handle file_creation(H5Fget_create_plist(file.get()), H5Pclose);
      hsize_t user_block = 0;
      if (file_creation.get() < 0 || H5Pget_userblock(file_creation.get(), &user_block) < 0) {
        return "its file's user block cannot be read";
      }
      rows->chunk_rows = static_cast<std::int64_t>(chunk[0]);
      rows->base_offset = static_cast<std::int64_t>(user_block);
      return "";
    }
    default:
      return "it is stored in the dataset's header (compact)";
  }
}

}  // namespace

std::string MappedRows::WhyNotInPlace(const h5::Handle& file, const h5::Handle& dataset,
                                      hid_t memory_type) {
  h5::ErrorPrintingOff quiet;
  MappedRowsLayout rows;
  return InspectStorage(file, dataset, memory_type, &rows);
}

std::unique_ptr<MappedRows> MappedRows::Open(const std::string& path, const h5::Handle& file,
                                             const h5::Handle& dataset, hid_t memory_type,
                                             const std::string& context) {
  h5::ErrorPrintingOff quiet;
  MappedRowsLayout layout;
  if (!InspectStorage(file, dataset, memory_type, &layout).empty()) return nullptr;
  const int descriptor = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return nullptr;
  struct stat status {};
  void* map = MAP_FAILED;
  if (fstat(descriptor, &status) == 0 && status.st_size > 0) {
    map = mmap(nullptr, static_cast<std::size_t>(status.st_size), PROT_READ, MAP_SHARED,
               descriptor, 0);
  }
  close(descriptor);  // the mapping keeps the file
  if (map == MAP_FAILED) return nullptr;
  std::unique_ptr<MappedRows> mapped(new MappedRows());
  mapped->context_ = context;
  mapped->dataset_ = dataset.get();
  mapped->map_ = static_cast<const std::byte*>(map);
  mapped->file_bytes_ = status.st_size;
  mapped->layout_ = layout;
  // Without MADV_POPULATE_READ (before Linux 5.14) a read error would be a SIGBUS: read
  // through HDF5 there.
  if (mapped->Advise(mapped->map_, 1, MADV_POPULATE_READ) != 0) return nullptr;
  // Passes read the rows in file order: the kernel reads ahead of the pages paged in, as it
  // does for read() (a hint: failure changes nothing).
  madvise(map, static_cast<std::size_t>(status.st_size), MADV_SEQUENTIAL);
  return mapped;
}

MappedRows::~MappedRows() {
  munmap(const_cast<std::byte*>(map_), static_cast<std::size_t>(file_bytes_));
}

const std::byte* MappedRows::Locate(std::int64_t first_row, std::int64_t rows) {
  if (rows <= 0 || first_row < 0 || first_row + rows > layout_.total_rows) return nullptr;
  std::int64_t offset = -1;
  if (layout_.contiguous_offset >= 0) {
    offset = layout_.contiguous_offset + first_row * layout_.row_bytes;
  } else {
    const std::int64_t chunk = first_row / layout_.chunk_rows;
    if ((first_row + rows - 1) / layout_.chunk_rows != chunk) return nullptr;  // two chunks
    if (chunk != cached_chunk_) {
      cached_chunk_ = chunk;
      cached_offset_ = -1;
      h5::ErrorPrintingOff quiet;
      hsize_t coordinates[2] = {static_cast<hsize_t>(chunk * layout_.chunk_rows), 0};
      unsigned filter_mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t stored = 0;
      // A chunk never written, or stored in fewer bytes than its shape needs (a damaged
      // file), is left to HDF5's read and its checks.
      if (H5Dget_chunk_info_by_coord(dataset_, coordinates, &filter_mask, &address, &stored) >=
              0 &&
          address != HADDR_UNDEF && filter_mask == 0 &&
          static_cast<std::int64_t>(stored) == layout_.chunk_rows * layout_.row_bytes) {
        cached_offset_ = layout_.base_offset + static_cast<std::int64_t>(address);
      }
    }
    if (cached_offset_ < 0) return nullptr;
    offset = cached_offset_ + (first_row - chunk * layout_.chunk_rows) * layout_.row_bytes;
  }
  // Rows past the file's end (a truncated file) are left to HDF5, which reports them.
  if (offset < 0 || offset + rows * layout_.row_bytes > file_bytes_) return nullptr;
  if (offset % layout_.alignment != 0) return nullptr;
  return map_ + offset;
}

std::vector<MappedRows::Piece> MappedRows::LocatePieces(std::int64_t first_row,
                                                        std::int64_t rows,
                                                        std::int64_t cut_rows) {
  const std::int64_t piece_rows =
      layout_.contiguous_offset >= 0 ? layout_.total_rows : layout_.chunk_rows;
  std::vector<Piece> pieces;
  for (std::int64_t begin = first_row; begin < first_row + rows;) {
    if (begin != first_row && begin % cut_rows != 0) return {};
    const std::int64_t end = std::min(first_row + rows, (begin / piece_rows + 1) * piece_rows);
    const std::byte* data = Locate(begin, end - begin);
    if (data == nullptr) return {};
    pieces.push_back(Piece{begin, end - begin, data});
    begin = end;
  }
  return pieces;
}

std::int64_t MappedRows::BytesOffCacheLine() {
  constexpr std::int64_t kCacheLineBytes = 64;
  if (layout_.row_bytes % kCacheLineBytes != 0) return 0;
  const std::byte* first = Locate(0, 1);
  // The map itself starts on a page.
  return first == nullptr ? 0 : (first - map_) % kCacheLineBytes;
}

void MappedRows::PageIn(const std::byte* located, std::int64_t first_row,
                        std::int64_t rows) const {
  if (Advise(located, rows * layout_.row_bytes, MADV_POPULATE_READ) != 0) {
    throw UserError(StrCat(context_, ": cannot read rows ", first_row, " to ",
                           first_row + rows - 1, ": ", std::strerror(errno)));
  }
}

void MappedRows::Release(const std::byte* located, std::int64_t rows) const {
  // Rounded outwards to the kernel's fault-around windows: paging rows in also maps the
  // cached pages around them in the same aligned 64 KiB (fault_around_bytes), and those
  // beside a piece that no piece covers (the gaps between HDF5 chunks, the labels' chunks)
  // would stay mapped: 64 KiB per 64 MiB chunk, a resident set that grew with the file. A
  // page of rows still in use is simply paged in again.
  const std::int64_t from = (located - map_) / kFaultAroundBytes * kFaultAroundBytes;
  const std::int64_t to = located - map_ + rows * layout_.row_bytes;
  const std::int64_t end = std::min(file_bytes_, (to + kFaultAroundBytes - 1) /
                                                     kFaultAroundBytes * kFaultAroundBytes);
  Advise(map_ + from, end - from, MADV_DONTNEED);
}

int MappedRows::Advise(const std::byte* located, std::int64_t bytes, int advice) const {
  const std::int64_t page = PageBytes();
  const std::int64_t begin = (located - map_) / page * page;
  const std::int64_t end = std::min(file_bytes_, located - map_ + bytes);
  for (;;) {
    const int status = madvise(const_cast<std::byte*>(map_ + begin),
                               static_cast<std::size_t>(end - begin), advice);
    // POPULATE_READ stops early on a signal (EINTR) or a page it must retry (EAGAIN).
    if (status == 0 || (errno != EINTR && errno != EAGAIN)) return status;
  }
}

}  // namespace shardmax
