#include "io/shard_stream.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "common/weighting.hpp"
#include "io/hdf5_file.hpp"
#include "io/mapped_rows.hpp"
#include "io/row_checks.hpp"

namespace shardmax {

// One buffer: the rows of a chunk as the blocks are cut from them.
struct StreamChunk {
  RowRange rows;
  // The features where they lie in the mapped file, in pieces (one per HDF5 chunk), or, when
  // empty, read into `features` (float32 and float64 files) or `bytes` (uint8, as stored).
  std::vector<MappedRows::Piece> in_place;
  std::vector<float> features;
  std::vector<std::uint8_t> bytes;
  std::vector<std::int64_t> raw_labels;
  std::vector<double> raw_targets;
  std::vector<Label> labels;
  TargetMatrix targets;
  std::vector<double> weights;       // sample weights, then times the class weights

  // Row `local` of the chunk (0: its first), of `d` features.
  const float* FeatureRow(std::int64_t local, std::int64_t d) const {
    return in_place.empty() ? features.data() + local * d
                            : reinterpret_cast<const float*>(InPlaceRow(local, d * 4));
  }
  const std::uint8_t* ByteRow(std::int64_t local, std::int64_t d) const {
    return in_place.empty() ? bytes.data() + local * d
                            : reinterpret_cast<const std::uint8_t*>(InPlaceRow(local, d));
  }

 private:
  const std::byte* InPlaceRow(std::int64_t local, std::int64_t row_bytes) const {
    const std::int64_t row = rows.begin + local;
    auto piece = in_place.rbegin();  // a few pieces at most
    while (piece->first_row > row) ++piece;
    return piece->data + (row - piece->first_row) * row_bytes;
  }
};

namespace {

bool IsUint8(const StreamSource& source) { return source.feature_type == "uint8"; }

}  // namespace

hid_t FeatureMemoryType(const StreamSource& source) {
  return IsUint8(source) ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
}

// The file and datasets a stream reads; opened, read and closed under the lock (not in the
// anonymous namespace: ChunkReader holds one).
struct StreamFiles {
  h5::Handle file;
  h5::Handle features;
  h5::Handle labels;
  h5::Handle sample_weights;
  std::string features_context;
  std::string labels_context;
  std::string weights_context;
  h5::ConversionBuffer conversion;  // labels and weights are converted chunk after chunk
  std::unique_ptr<MappedRows> mapped;  // the features read in place, where they can be

  explicit StreamFiles(const StreamSource& source) {
    const std::string file_context = "data file '" + source.path + "'";
    features_context = file_context + ", dataset '" + source.layout.features + "'";
    labels_context = file_context + ", dataset '" + source.layout.labels + "'";
    weights_context = file_context + ", dataset '" + source.layout.sample_weights + "'";
    file = h5::OpenFileForReading(source.path);  // no communicator: sec2, this thread only
    features = h5::OpenDataset(file, source.layout.features, file_context);
    if (source.map_rows) {
      mapped = MappedRows::Open(source.path, file, features, FeatureMemoryType(source),
                                features_context);
    }
    if (source.reads_labels) labels = h5::OpenDataset(file, source.layout.labels, file_context);
    if (!source.layout.sample_weights.empty()) {
      sample_weights = h5::OpenDataset(file, source.layout.sample_weights, file_context);
    }
  }
};

namespace {

// Reads rows into *chunk (holding the HDF5 lock only while calling HDF5), then checks them as
// ReadShard does and applies the class weights. Features stored as they are computed on are
// paged in where they lie (MappedRows) instead of copied. The features' NaN/Inf check, the one
// check that costs as much as a product, runs only while `check_features` (until a pass has
// checked every row); labels and weights are converted, and so checked, every time.
void ReadChunk(const StreamSource& source, const Vector& class_weights, RowRange rows,
               bool check_features, StreamFiles* files_in, StreamChunk* chunk) {
  StreamFiles& files = *files_in;
  const std::int64_t n = rows.size();
  const std::int64_t d = source.feature_count;
  const std::int64_t k = source.label_columns;
  // The buffer's last rows leave the resident set before it takes these.
  for (const MappedRows::Piece& piece : chunk->in_place) {
    files.mapped->Release(piece.data, piece.rows);
  }
  chunk->rows = rows;
  {
    const auto lock = h5::LockLibrary();
    // Blocks are cut at global multiples of kBlockRows: each must lie in one piece.
    chunk->in_place = files.mapped ? files.mapped->LocatePieces(rows.begin, n, kBlockRows)
                                   : std::vector<MappedRows::Piece>();
    if (!chunk->in_place.empty()) {
      // paged in below, without the lock
    } else if (IsUint8(source)) {
      chunk->bytes.resize(static_cast<std::size_t>(n * d));
      h5::ReadRows(files.features, rows.begin, n, H5T_NATIVE_UINT8, chunk->bytes.data(),
                   files.features_context);
    } else {
      chunk->features.resize(static_cast<std::size_t>(n * d));
      h5::ReadRows(files.features, rows.begin, n, H5T_NATIVE_FLOAT, chunk->features.data(),
                   files.features_context, files.conversion.transfer());
    }
    if (source.reads_labels && k == 0) {
      chunk->raw_labels.resize(static_cast<std::size_t>(n));
      h5::ReadRows(files.labels, rows.begin, n, H5T_NATIVE_INT64, chunk->raw_labels.data(),
                   files.labels_context, files.conversion.transfer());
    } else if (source.reads_labels) {
      chunk->raw_targets.resize(static_cast<std::size_t>(n * k));
      h5::ReadRows(files.labels, rows.begin, n, H5T_NATIVE_DOUBLE, chunk->raw_targets.data(),
                   files.labels_context, files.conversion.transfer());
    }
    chunk->weights.clear();
    if (!source.layout.sample_weights.empty()) {
      chunk->weights.resize(static_cast<std::size_t>(n));
      h5::ReadRows(files.sample_weights, rows.begin, n, H5T_NATIVE_DOUBLE,
                   chunk->weights.data(), files.weights_context, files.conversion.transfer());
    }
  }
  for (const MappedRows::Piece& piece : chunk->in_place) {
    files.mapped->PageIn(piece.data, piece.first_row, piece.rows);
  }
  if (check_features && !IsUint8(source)) {
    if (chunk->in_place.empty()) {
      CheckFiniteFeatures(chunk->features.data(), n, d, rows.begin, files.features_context);
    }
    for (const MappedRows::Piece& piece : chunk->in_place) {
      CheckFiniteFeatures(reinterpret_cast<const float*>(piece.data), piece.rows, d,
                          piece.first_row, files.features_context);
    }
  }
  chunk->labels.clear();
  if (source.reads_labels && k == 0) {
    chunk->labels.resize(static_cast<std::size_t>(n));
    ConvertLabels(chunk->raw_labels.data(), n, rows.begin, files.labels_context,
                  chunk->labels.data());
  }
  chunk->targets.resize(k > 0 ? n : 0, k);
  if (source.reads_labels && k > 0) {
    ConvertTargets(chunk->raw_targets.data(), n, k, rows.begin, files.labels_context,
                   chunk->targets.data());
  }
  if (!chunk->weights.empty()) {
    CheckSampleWeights(chunk->weights.data(), n, rows.begin, files.weights_context);
  }
  if (class_weights.size() > 0) {
    chunk->weights = RowWeights(chunk->labels, class_weights, chunk->weights);
  }
}

// The rank's rows cut at global multiples of chunk_rows.
std::vector<RowRange> CutChunks(RowRange rows, std::int64_t chunk_rows) {
  std::vector<RowRange> chunks;
  for (std::int64_t begin = rows.begin; begin < rows.end;) {
    const std::int64_t end = std::min(rows.end, (begin / chunk_rows + 1) * chunk_rows);
    chunks.push_back(RowRange{begin, end});
    begin = end;
  }
  return chunks;
}

// The blocks of a chunk, cut at global multiples of kBlockRows as Shard::ForEachBlock cuts them.
void VisitChunkBlocks(const StreamSource& source, const StreamChunk& chunk,
                      const std::function<void(const RowBlock&)>& visit) {
  const std::int64_t d = source.feature_count;
  const Eigen::Index label_columns = chunk.targets.cols();
  for (std::int64_t global = chunk.rows.begin; global < chunk.rows.end;) {
    const std::int64_t end = std::min(chunk.rows.end, (global / kBlockRows + 1) * kBlockRows);
    const std::int64_t local = global - chunk.rows.begin;
    const std::int64_t count = end - global;
    // uint8 rows go to the kernel as they are (RowBlock::bytes): a quarter of the traffic.
    const bool is_uint8 = IsUint8(source);
    const auto first = static_cast<std::size_t>(local);
    const auto size = static_cast<std::size_t>(count);
    const RowBlock block{
        Eigen::Map<const FeatureMatrix>(is_uint8 ? nullptr : chunk.FeatureRow(local, d),
                                        count, is_uint8 ? 0 : d),
        chunk.labels.empty() ? std::span<const Label>()
                             : std::span(chunk.labels).subspan(first, size),
        chunk.weights.empty() ? std::span<const double>()
                              : std::span(chunk.weights).subspan(first, size),
        Eigen::Map<const TargetMatrix>(chunk.targets.data() + local * label_columns,
                                       label_columns > 0 ? count : 0, label_columns),
        {},
        global,
        is_uint8 ? ByteRows{chunk.ByteRow(local, d), d} : ByteRows{}};
    visit(block);
    global = end;
  }
}

}  // namespace

// The reader of a pass or an epoch and its two buffers: chunk i goes to buffer i % 2 once the
// caller has released the chunk i - 2 it held. With read-ahead a background thread reads the
// next chunk while the caller computes on this one; without, Wait reads the chunk itself, on
// the caller's thread: on a rank with one CPU a thread could only take turns with the passes,
// and reading in line saves the handoffs and computes on rows still in the cache.
class ChunkReader {
 public:
  ChunkReader(const StreamSource& source, const Vector& class_weights,
              std::vector<RowRange> chunks, bool check_features, bool read_ahead)
      : source_(source),
        class_weights_(class_weights),
        chunks_(std::move(chunks)),
        check_features_(check_features),
        read_ahead_(read_ahead) {
    if (read_ahead_) thread_ = std::thread([this] { Run(); });
  }
  ~ChunkReader() {
    if (read_ahead_) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
      }
      changed_.notify_all();
      thread_.join();
    }
    CloseFiles();
  }
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // Waits for chunk `index` (reads it, without read-ahead); rethrows the reader's error if it
  // failed before reaching it.
  const StreamChunk& Wait(std::int64_t index) {
    Slot& slot = slots_[Buffer(index)];
    if (!read_ahead_) {
      if (slot.chunk != index) {
        Read(index, &slot.buffer);
        slot.chunk = index;
      }
      return slot.buffer;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return slot.chunk == index || error_ != nullptr; });
    if (slot.chunk != index) std::rethrow_exception(error_);
    return slot.buffer;
  }

  // The buffer of chunk `index` may take the chunk after next.
  void Release(std::int64_t index) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      slots_[Buffer(index)].chunk = kFree;
    }
    changed_.notify_all();
  }

 private:
  static constexpr std::int64_t kFree = -1;
  struct Slot {
    StreamChunk buffer;
    std::int64_t chunk = kFree;  // the chunk it holds, or kFree
  };
  static std::size_t Buffer(std::int64_t index) { return static_cast<std::size_t>(index % 2); }

  // Opens the file at the first chunk, on the thread that reads.
  void Read(std::int64_t index, StreamChunk* buffer) {
    if (!files_) {
      const auto lock = h5::LockLibrary();
      files_.emplace(source_);
    }
    ReadChunk(source_, class_weights_, chunks_[static_cast<std::size_t>(index)], check_features_,
              &*files_, buffer);
  }

  void CloseFiles() {
    const auto lock = h5::LockLibrary();
    files_.reset();
  }

  void Run() {
    try {
      for (std::int64_t index = 0; index < static_cast<std::int64_t>(chunks_.size()); ++index) {
        Slot& slot = slots_[Buffer(index)];
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || slot.chunk == kFree; });
          if (stop_) break;
        }
        Read(index, &slot.buffer);
        {
          const std::lock_guard<std::mutex> lock(mutex_);
          slot.chunk = index;
        }
        changed_.notify_all();
      }
    } catch (...) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
      }
      changed_.notify_all();
    }
    // The files stay open until the reader is destroyed: the caller still computes on the last
    // chunks, whose rows may lie in the mapped file.
  }

  const StreamSource& source_;
  const Vector& class_weights_;
  const std::vector<RowRange> chunks_;
  const bool check_features_;
  const bool read_ahead_;
  std::optional<StreamFiles> files_;  // used by the reading thread only
  std::mutex mutex_;
  std::condition_variable changed_;
  std::array<Slot, 2> slots_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members it uses exist
};

std::int64_t StreamBytesPerRow(const StreamSource& source) {
  std::int64_t bytes = source.feature_count * (IsUint8(source) ? 1 : 4);
  if (source.reads_labels) {
    bytes += source.label_columns > 0 ? source.label_columns * (8 + 1) : 8 + 4;
  }
  return bytes + 8;  // row weights (sample weights, class weights or both)
}

std::int64_t ChunkRowsForBudget(std::int64_t bytes_per_row, std::int64_t budget_bytes) {
  const std::int64_t rows = budget_bytes / (2 * bytes_per_row);
  return std::max<std::int64_t>(1, rows / kBlockRows) * kBlockRows;
}

ShardStream::ShardStream(StreamSource source, std::int64_t chunk_rows, bool read_ahead)
    : source_(std::move(source)), chunk_rows_(chunk_rows), read_ahead_(read_ahead) {}

void ShardStream::ForEachBlock(const std::function<void(const RowBlock&)>& visit) const {
  const std::vector<RowRange> chunks = CutChunks(source_.rows, chunk_rows_);
  if (chunks.empty()) return;
  ChunkReader reader(source_, class_weights_, chunks, !features_checked_, read_ahead_);
  for (std::int64_t index = 0; index < static_cast<std::int64_t>(chunks.size()); ++index) {
    VisitChunkBlocks(source_, reader.Wait(index), visit);
    reader.Release(index);
  }
  features_checked_ = true;
}

StreamedEpoch::StreamedEpoch(const ShardStream& stream, ChunkOrder chunk_order,
                             std::int64_t first_position)
    : stream_(stream),
      chunk_order_(std::move(chunk_order)),
      chunks_(CutChunks(stream.source().rows, stream.chunk_rows())) {
  const std::int64_t first_row = stream.source().rows.begin + first_position;
  while (first_chunk_ < static_cast<std::int64_t>(chunks_.size()) &&
         chunks_[static_cast<std::size_t>(first_chunk_)].end <= first_row) {
    ++first_chunk_;
  }
  held_from_ = held_to_ = first_chunk_;
  if (first_chunk_ == static_cast<std::int64_t>(chunks_.size())) return;  // nothing left
  reader_ = std::make_unique<ChunkReader>(
      stream.source(), stream.class_weights(),
      std::vector<RowRange>(chunks_.begin() + first_chunk_, chunks_.end()),
      !stream.features_checked_, stream.read_ahead());
}

StreamedEpoch::~StreamedEpoch() = default;

const StreamChunk& StreamedEpoch::Hold(std::int64_t chunk) {
  const StreamChunk& buffer = reader_->Wait(chunk - first_chunk_);
  // The reader has checked every chunk up to the last: an epoch from the first one has seen all.
  if (first_chunk_ == 0 && chunk + 1 == static_cast<std::int64_t>(chunks_.size())) {
    stream_.features_checked_ = true;
  }
  if (chunk == held_to_) {
    orders_[static_cast<std::size_t>(chunk % 2)] = chunk_order_(chunk, buffer.rows.size());
    held_to_ = chunk + 1;
  }
  return buffer;
}

RowBlock StreamedEpoch::Gather(RowRange positions, GatheredRows* storage) {
  const StreamSource& source = stream_.source();
  const std::int64_t count = positions.size();
  if (count > stream_.chunk_rows()) {
    throw std::logic_error("a streamed batch is longer than a chunk");  // the caller checks
  }
  const std::int64_t d = source.feature_count;
  const std::int64_t label_columns = source.label_columns;
  // Chunks wholly before this batch are done with: their buffers take the next chunks.
  const std::int64_t first_row = source.rows.begin + positions.begin;
  while (held_from_ < held_to_ && chunks_[static_cast<std::size_t>(held_from_)].end <= first_row) {
    reader_->Release(held_from_ - first_chunk_);
    ++held_from_;
  }
  const bool is_uint8 = IsUint8(source);  // gathered as bytes, as an in-memory shard does
  storage->features.resize(count, is_uint8 ? 0 : d);
  storage->bytes.resize(is_uint8 ? count : 0, is_uint8 ? d : 0);
  storage->sparse.Clear();
  storage->labels.resize(source.reads_labels && label_columns == 0 ? count : 0);
  storage->targets.resize(label_columns > 0 ? count : 0, label_columns);
  storage->weights.resize(stream_.has_weights() ? count : 0);
  std::int64_t chunk = held_from_;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = source.rows.begin + positions.begin + i;  // as a position
    while (chunks_[static_cast<std::size_t>(chunk)].end <= row) ++chunk;
    const StreamChunk& buffer = Hold(chunk);
    const std::int64_t position_in_chunk = row - buffer.rows.begin;
    const std::int64_t local = orders_[static_cast<std::size_t>(chunk % 2)]
                                      [static_cast<std::size_t>(position_in_chunk)];
    if (is_uint8) {
      std::copy_n(buffer.ByteRow(local, d), d, storage->bytes.data() + i * d);
    } else {
      std::copy_n(buffer.FeatureRow(local, d), d, storage->features.data() + i * d);
    }
    const auto at = static_cast<std::size_t>(i);
    const auto from = static_cast<std::size_t>(local);
    if (!storage->labels.empty()) storage->labels[at] = buffer.labels[from];
    if (label_columns > 0) storage->targets.row(i) = buffer.targets.row(local);
    if (!storage->weights.empty()) storage->weights[at] = buffer.weights[from];
  }
  RowBlock block{Eigen::Map<const FeatureMatrix>(storage->features.data(), count,
                                                 storage->features.cols()),
                 storage->labels, storage->weights,
                 Eigen::Map<const TargetMatrix>(storage->targets.data(), storage->targets.rows(),
                                                label_columns)};
  if (is_uint8) block.bytes = {storage->bytes.data(), d};
  return block;
}

}  // namespace shardmax
