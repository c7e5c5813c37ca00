#include "io/dataset_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>

#include "common/block_parallel.hpp"
#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/hdf5_file.hpp"
#include "io/mapped_rows.hpp"
#include "io/row_checks.hpp"
#include "io/shard_stream.hpp"
#include "io/sparse_reader.hpp"
#include "io/virtual_shards.hpp"

namespace shardmax {
namespace {

// Rows read per H5Dread call, so the conversion buffers stay small.
constexpr std::int64_t kReadRows = 16384;

// Only a readable regular file may reach HDF5: opening a FIFO would block for ever, and a
// directory gives an obscure HDF5 message.
void CheckReadable(const std::string& path) {
  const std::string context = "cannot open data file '" + path + "': ";
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) throw UserError(context + "no such file");
  if (std::filesystem::is_directory(status)) throw UserError(context + "it is a directory");
  if (!std::filesystem::is_regular_file(status)) {
    throw UserError(context + "not a regular file (a FIFO, socket or device)");
  }
  if (::access(path.c_str(), R_OK) != 0) throw UserError(context + std::strerror(errno));
}

// uint8 features are held as they are stored (no value can be NaN or infinite); the others are
// read as float.
void ReadFeatures(const h5::Handle& dataset, const std::string& context, Shard* shard) {
  if (shard->feature_type == "uint8") {
    shard->features.resize(shard->rows.size(), 0);
    shard->feature_bytes.resize(shard->rows.size(), shard->feature_count);
    for (std::int64_t done = 0; done < shard->rows.size(); done += kReadRows) {
      const std::int64_t count = std::min(kReadRows, shard->rows.size() - done);
      h5::ReadRows(dataset, shard->rows.begin + done, count, H5T_NATIVE_UINT8,
                   shard->feature_bytes.data() + done * shard->feature_count, context);
    }
    return;
  }
  shard->features.resize(shard->rows.size(), shard->feature_count);
  for (std::int64_t done = 0; done < shard->rows.size(); done += kReadRows) {
    const std::int64_t count = std::min(kReadRows, shard->rows.size() - done);
    const std::int64_t first_row = shard->rows.begin + done;
    float* out = shard->features.data() + done * shard->feature_count;
    h5::ReadRows(dataset, first_row, count, H5T_NATIVE_FLOAT, out, context);
    CheckFiniteFeatures(out, count, shard->feature_count, first_row, context);
  }
}

void ReadLabels(const h5::Handle& dataset, const std::string& context, Shard* shard) {
  std::vector<std::int64_t> raw(static_cast<std::size_t>(shard->rows.size()));
  h5::ReadRows(dataset, shard->rows.begin, shard->rows.size(), H5T_NATIVE_INT64, raw.data(),
               context);
  shard->labels.resize(raw.size());
  ConvertLabels(raw.data(), shard->rows.size(), shard->rows.begin, context, shard->labels.data());
}

// 2-D labels: each entry must be exactly 0 or 1.
void ReadTargets(const h5::Handle& dataset, std::int64_t labels, const std::string& context,
                 Shard* shard) {
  shard->targets.resize(shard->rows.size(), labels);
  std::vector<double> raw;
  for (std::int64_t done = 0; done < shard->rows.size(); done += kReadRows) {
    const std::int64_t count = std::min(kReadRows, shard->rows.size() - done);
    raw.resize(static_cast<std::size_t>(count * labels));
    h5::ReadRows(dataset, shard->rows.begin + done, count, H5T_NATIVE_DOUBLE, raw.data(), context);
    ConvertTargets(raw.data(), count, labels, shard->rows.begin + done, context,
                   shard->targets.data() + done * labels);
  }
}

void ReadSampleWeights(const h5::Handle& dataset, const std::string& context, Shard* shard) {
  shard->weights.resize(static_cast<std::size_t>(shard->rows.size()));
  h5::ReadRows(dataset, shard->rows.begin, shard->rows.size(), H5T_NATIVE_DOUBLE,
               shard->weights.data(), context);
  CheckSampleWeights(shard->weights.data(), shard->rows.size(), shard->rows.begin, context);
}

// The dataset must be 1-D with one numeric entry per row (`kind` says of what).
void CheckPerRowDataset(const h5::Handle& dataset, const std::string& context,
                        std::int64_t total_rows, const char* kind) {
  const auto dims = h5::DatasetDims(dataset, context);
  if (dims.size() != 1) {
    throw UserError(StrCat(context, ": must be 1-D (one ", kind, " per row), found ", dims.size(),
                           "-D"));
  }
  if (!h5::IsNumericType(dataset)) {
    throw UserError(StrCat(context, ": ", kind, "s must be numbers, found ",
                           h5::DescribeType(dataset)));
  }
  if (static_cast<std::int64_t>(dims[0]) != total_rows) {
    throw UserError(StrCat(context, ": has ", dims[0], " rows, but the features have ",
                           total_rows));
  }
}

constexpr std::int64_t kBytesPerMib = std::int64_t{1} << 20;
// Two buffers of at most this much (a budget can only make them smaller): a chunk small
// enough to be still in the cache when the pass reads what the thread has just written
// (measured: 1 MiB chunks ran passes at 2 to 3 times the rows/s of 128 MiB ones).
constexpr std::int64_t kCacheFriendlyStreamBytes = 4 * kBytesPerMib;
// Two chunks of features read in place by whole passes. Nothing is copied, so the cache does
// not favour small chunks there, and a chunk's fixed costs (its labels read through HDF5, two
// madvise calls) weigh less in larger ones: against 1 MiB chunks of float32 rows, 7 to 8 MiB
// ones ran ahead in 6 of 8 interleaved pairs, by 0.03 of the in-memory rate on average
// (README, "Streaming").
constexpr std::int64_t kInPlaceStreamBytes = 16 * kBytesPerMib;

std::string Mib(std::int64_t bytes) {
  return FormatFixed(static_cast<double>(bytes) / static_cast<double>(kBytesPerMib), 1);
}

// Bytes a row takes in an in-memory shard: features (dense: uint8 ones as stored, the others
// as float; sparse: the file's mean nonzeros per row, each a float and an int32 column, and
// the row's int64 offset), labels, sample weights.
std::int64_t InMemoryBytesPerRow(const StreamSource& source,
                                 const SparseFeaturesSource* sparse) {
  std::int64_t bytes = 0;
  if (sparse != nullptr) {
    const std::int64_t nonzeros = (sparse->nonzeros + sparse->rows - 1) / sparse->rows;
    bytes = nonzeros * std::int64_t{sizeof(float) + sizeof(std::int32_t)} + 8;
  } else {
    bytes = source.feature_count * (source.feature_type == "uint8" ? 1 : 4);
  }
  if (source.reads_labels) bytes += source.label_columns > 0 ? source.label_columns : 4;
  if (!source.layout.sample_weights.empty()) bytes += 8;
  return bytes;
}

// Rows per chunk if the shard streams, else 0. The same on every rank: it depends on the
// largest rank's share, not on this rank's, and on the file (`in_place`: its features can be
// read where they lie, MappedRows).
std::int64_t ChooseChunkRows(const StreamConfig& streaming, const StreamSource& source,
                             std::int64_t largest_rows, const SparseFeaturesSource* sparse,
                             std::int64_t virtual_shards, const std::function<bool()>& in_place) {
  const std::int64_t budget = streaming.memory_budget_mb * kBytesPerMib;
  const std::int64_t in_memory = largest_rows * InMemoryBytesPerRow(source, sparse);
  const bool over_budget = budget > 0 && in_memory > budget;
  if (!streaming.force && !over_budget) return 0;
  const std::string file = "data file '" + source.path + "'";
  const std::string reason =
      streaming.force ? std::string("--stream")
                      : StrCat("its shard needs ", Mib(in_memory),
                               " MiB per rank in memory, over --memory-budget ",
                               streaming.memory_budget_mb);
  if (sparse != nullptr) {
    throw UserError(file + " cannot stream (" + reason + "): sparse features are read whole; "
                    "run without --stream, or with a larger --memory-budget");
  }
  if (virtual_shards > 0) {
    throw UserError(file + " cannot stream (" + reason + "): --reproducible reads its virtual "
                    "shards whole; drop --stream or --reproducible, or raise --memory-budget");
  }
  const std::int64_t row_bytes = StreamBytesPerRow(source);
  if (budget > 0 && 2 * kBlockRows * row_bytes > budget) {
    throw UserError(StrCat("--memory-budget ", streaming.memory_budget_mb,
                           " is too small to stream ", file, ": two chunks of ", kBlockRows,
                           " rows need ", Mib(2 * kBlockRows * row_bytes), " MiB"));
  }
  // Mini-batch training shuffles within chunks, so its batches keep the one chunk size.
  const std::int64_t preferred_bytes = streaming.chunk_rows == 0 && streaming.whole_passes &&
                                               source.map_rows && in_place()
                                           ? kInPlaceStreamBytes
                                           : kCacheFriendlyStreamBytes;
  const std::int64_t buffers_bytes =
      budget > 0 ? std::min(budget, preferred_bytes) : preferred_bytes;
  const std::int64_t chunk_rows = streaming.chunk_rows > 0
                                      ? streaming.chunk_rows
                                      : ChunkRowsForBudget(row_bytes, buffers_bytes);
  if (budget > 0 && 2 * chunk_rows * row_bytes > budget) {
    throw UserError(StrCat("--stream-chunk-rows ", chunk_rows, ": two chunks of ", file,
                           " need ", Mib(2 * chunk_rows * row_bytes),
                           " MiB, over --memory-budget ", streaming.memory_budget_mb));
  }
  LogInfo(StrCat("streaming ", file, " (", reason, "): chunks of ", chunk_rows,
                 " rows, two buffers of ", Mib(chunk_rows * row_bytes), " MiB per rank"));
  return chunk_rows;
}

// A reader thread overlaps the passes only on a CPU of its own; on the rank's one CPU it would
// take turns with them, and reading each chunk when the pass reaches it is faster.
bool ChooseReadAhead(ReadAhead read_ahead) {
  if (read_ahead != ReadAhead::kAuto) return read_ahead == ReadAhead::kOn;
  if (CpusOfThisProcess() >= 2) return true;
  LogInfo("streaming on this rank's one CPU (mpirun binds a rank to a core unless told "
          "otherwise): each chunk is read when the pass reaches it; give each rank two CPUs "
          "(mpirun --map-by slot:PE=2 or --bind-to none, srun --cpus-per-task=2) to read the "
          "next chunk in the background while it computes");
  return false;
}

// Whether a streamed pass pages the features in where they lie or copies them through HDF5.
void LogHowRowsAreRead(const StreamSource& source, const h5::Handle& file,
                       const h5::Handle& features) {
  if (!source.map_rows) {
    LogInfo("streaming copies the features through HDF5 (--stream-mmap off)");
    return;
  }
  const std::string why_not =
      MappedRows::WhyNotInPlace(file, features, FeatureMemoryType(source));
  LogInfo(why_not.empty() ? "streaming reads the features in place, through a read-only memory "
                            "map of the file (--stream-mmap off copies them through HDF5)"
                          : "streaming copies the features through HDF5, as they cannot be read "
                            "in place: " + why_not);
  if (!why_not.empty()) return;
  const auto mapped = MappedRows::Open(source.path, file, features, FeatureMemoryType(source),
                                       source.path);
  const std::int64_t off_line = mapped == nullptr ? 0 : mapped->BytesOffCacheLine();
  if (off_line != 0) {
    LogInfo(StrCat("the rows of '", source.path, "' start ", off_line,
                   " bytes past a 64-byte cache line: read in place, a wide vector load then "
                   "spans two lines (AVX-512 passes 5-10% slower); `h5repack -t 65536 -a 4096 "
                   "IN OUT` writes a copy with them on page boundaries, as files shardmax "
                   "writes have them"));
  }
}

}  // namespace

RowBlock Shard::Block(std::int64_t local_begin, std::int64_t count) const {
  const auto begin = static_cast<std::size_t>(local_begin);
  const auto size = static_cast<std::size_t>(count);
  const Eigen::Index label_columns = targets.cols();
  const Eigen::Index feature_columns = features.cols();  // 0 for a sparse shard
  RowBlock block{
      Eigen::Map<const FeatureMatrix>(features.data() + local_begin * feature_columns, count,
                                      feature_columns),
      labels.empty() ? std::span<const Label>() : std::span(labels).subspan(begin, size),
      weights.empty() ? std::span<const double>() : std::span(weights).subspan(begin, size),
      Eigen::Map<const TargetMatrix>(targets.data() + local_begin * label_columns,
                                     label_columns > 0 ? count : 0, label_columns)};
  if (is_sparse) block.sparse = sparse.Rows(local_begin, count);
  if (holds_bytes()) {
    block.bytes = {feature_bytes.data() + local_begin * feature_count, feature_count};
  }
  block.first_row = rows.begin + local_begin;
  return block;
}

void Shard::HoldFeaturesAsFloat() {
  if (!holds_bytes()) return;
  features = DenseFeaturesAsFloat(Block(0, rows.size()));
  feature_bytes.resize(0, 0);
}

RowBlock Shard::Gather(std::span<const std::int64_t> local_rows, GatheredRows* storage) const {
  return GatherRows(local_rows, /*with_dense_features=*/true, storage);
}

RowBlock Shard::GatherAllButDenseFeatures(std::span<const std::int64_t> local_rows,
                                          GatheredRows* storage) const {
  return GatherRows(local_rows, /*with_dense_features=*/false, storage);
}

RowBlock Shard::GatherRows(std::span<const std::int64_t> local_rows, bool with_dense_features,
                           GatheredRows* storage) const {
  if (stream) throw std::logic_error("Shard::Gather on a streamed shard: see StreamedEpoch");
  const auto count = static_cast<Eigen::Index>(local_rows.size());
  const Eigen::Index label_columns = targets.cols();
  // No columns for a sparse shard, or when the caller reads the features where they lie.
  const Eigen::Index feature_columns = with_dense_features ? features.cols() : 0;
  storage->features.resize(count, feature_columns);
  const bool copies_bytes = with_dense_features && holds_bytes();
  storage->bytes.resize(copies_bytes ? count : 0, copies_bytes ? feature_count : 0);
  storage->sparse.Clear();
  storage->labels.resize(labels.empty() ? 0 : local_rows.size());
  storage->targets.resize(label_columns > 0 ? count : 0, label_columns);
  storage->weights.resize(weights.empty() ? 0 : local_rows.size());
  for (std::size_t i = 0; i < local_rows.size(); ++i) {
    const auto row = local_rows[i];
    const auto index = static_cast<Eigen::Index>(i);
    if (feature_columns > 0) storage->features.row(index) = features.row(row);
    if (copies_bytes) storage->bytes.row(index) = feature_bytes.row(row);
    if (!labels.empty()) storage->labels[i] = labels[static_cast<std::size_t>(row)];
    if (label_columns > 0) storage->targets.row(index) = targets.row(row);
    if (!weights.empty()) storage->weights[i] = weights[static_cast<std::size_t>(row)];
    if (is_sparse) storage->sparse.AppendRow(sparse.View(), row);
  }
  RowBlock block{
      Eigen::Map<const FeatureMatrix>(storage->features.data(), count, feature_columns),
      storage->labels, storage->weights,
      Eigen::Map<const TargetMatrix>(storage->targets.data(), storage->targets.rows(),
                                     label_columns)};
  if (is_sparse) block.sparse = storage->sparse.View();
  if (copies_bytes) block.bytes = {storage->bytes.data(), feature_count};
  return block;
}

bool Shard::has_labels() const {
  if (is_multi_label()) return true;
  return stream ? stream->has_labels() : labels.size() == static_cast<std::size_t>(rows.size());
}

bool Shard::has_weights() const { return stream ? stream->has_weights() : !weights.empty(); }

void Shard::ForEachBlock(const std::function<void(const RowBlock&)>& visit) const {
  if (stream) return stream->ForEachBlock(visit);
  std::int64_t global = rows.begin;
  std::int64_t virtual_shard = 0;  // the one holding row `global`, with virtual shards
  while (global < rows.end) {
    std::int64_t part_end = rows.end;
    if (virtual_shards > 0) {
      while (VirtualShardRows(total_rows, virtual_shards, virtual_shard).end <= global) {
        ++virtual_shard;
      }
      part_end = VirtualShardRows(total_rows, virtual_shards, virtual_shard).end;
    }
    const std::int64_t block_end = std::min(part_end, (global / kBlockRows + 1) * kBlockRows);
    visit(Block(global - rows.begin, block_end - global));
    global = block_end;
  }
}

void VisitBlocksAgreed(const Communicator& comm, const Shard& shard,
                       const std::function<void(const RowBlock&)>& visit) {
  if (!shard.is_streamed()) return shard.ForEachBlock(visit);
  RunAndAgree(comm, [&] { shard.ForEachBlock(visit); });
}

Shard ReadShard(const Communicator& comm, const std::string& path, const DatasetLayout& layout,
                ShardLabels labels_to_read, std::int64_t virtual_shards,
                const StreamConfig& streaming) {
  // Every rank checks the file first: a collective open on a file some rank cannot see would hang.
  RunAndAgree(comm, [&] { CheckReadable(path); });

  Shard shard;
  shard.path = path;
  RunAndAgree(comm, [&] {
    const std::string file_context = "data file '" + path + "'";
    h5::Handle file = h5::OpenFileForReading(path, &comm);
    const std::string features_context = file_context + ", dataset '" + layout.features + "'";
    const std::string labels_context = file_context + ", dataset '" + layout.labels + "'";
    // Sparse features are a group (io/sparse_reader.hpp), dense ones a 2-D dataset.
    shard.is_sparse = IsSparseFeatures(file, layout.features);
    std::optional<SparseFeaturesSource> sparse;
    h5::Handle features;
    if (shard.is_sparse) {
      sparse = OpenSparseFeatures(file, layout.features,
                                  file_context + ", sparse features '" + layout.features + "'");
      shard.feature_type = sparse->value_type;
      shard.total_rows = sparse->rows;
      shard.feature_count = sparse->features;
    } else {
      features = h5::OpenDataset(file, layout.features, file_context);
    }
    const bool reads_labels = labels_to_read == ShardLabels::kRead;
    h5::Handle labels;
    if (reads_labels) labels = h5::OpenDataset(file, layout.labels, file_context);

    if (!shard.is_sparse) {
      const auto feature_dims = h5::DatasetDims(features, features_context);
      if (feature_dims.size() != 2) {
        throw UserError(StrCat(features_context, ": must be 2-D (rows x features), found ",
                               feature_dims.size(), "-D"));
      }
      shard.feature_type = h5::DescribeType(features);
      if (shard.feature_type != "float32" && shard.feature_type != "float64" &&
          shard.feature_type != "uint8") {
        throw UserError(features_context + ": element type " + shard.feature_type +
                        " is not supported (float32, float64 or uint8)");
      }
      shard.total_rows = static_cast<std::int64_t>(feature_dims[0]);
      shard.feature_count = static_cast<std::int64_t>(feature_dims[1]);
    }
    std::int64_t label_columns = 0;  // 0: 1-D class labels
    if (reads_labels) {
      const auto label_dims = h5::DatasetDims(labels, labels_context);
      if (label_dims.size() != 1 && label_dims.size() != 2) {
        throw UserError(StrCat(labels_context,
                               ": must be 1-D (one class label per row) or 2-D (rows x K 0/1 "
                               "labels), found ",
                               label_dims.size(), "-D"));
      }
      if (label_dims.size() == 2) {
        label_columns = static_cast<std::int64_t>(label_dims[1]);
        if (label_columns == 0) throw UserError(labels_context + ": has 0 label columns");
        if (!h5::IsNumericType(labels)) {
          throw UserError(labels_context + ": 2-D labels must be 0/1 numbers, found " +
                          h5::DescribeType(labels));
        }
      } else if (!h5::IsIntegerType(labels)) {
        throw UserError(labels_context + ": labels must be integers, found " +
                        h5::DescribeType(labels));
      }
      if (static_cast<std::int64_t>(label_dims[0]) != shard.total_rows) {
        throw UserError(StrCat(file_context, ": '", layout.features, "' has ", shard.total_rows,
                               " rows but '", layout.labels, "' has ", label_dims[0]));
      }
    }
    if (shard.total_rows == 0) throw UserError(features_context + ": has 0 rows");
    if (shard.feature_count == 0) throw UserError(features_context + ": has 0 features");
    if (shard.total_rows < comm.size()) {
      throw UserError(StrCat(file_context, ": has ", shard.total_rows, " rows, fewer than the ",
                             comm.size(), " ranks; run with at most ", shard.total_rows,
                             " ranks"));
    }
    shard.rows = ShardRows(shard.total_rows, comm.size(), comm.rank());
    if (virtual_shards > 0) {
      CheckVirtualShards(virtual_shards, comm.size(), virtual_shards);  // --max-ranks: Train's
      if (shard.total_rows < virtual_shards) {
        throw UserError(StrCat(file_context, ": has ", shard.total_rows, " rows, fewer than the ",
                               virtual_shards, " virtual shards (--virtual-shards)"));
      }
      shard.virtual_shards = virtual_shards;
      shard.rows =
          RankRowsOfVirtualShards(shard.total_rows, virtual_shards, comm.size(), comm.rank());
    }
    const std::string weights_context = file_context + ", dataset '" + layout.sample_weights + "'";
    h5::Handle weights;
    if (!layout.sample_weights.empty()) {
      weights = h5::OpenDataset(file, layout.sample_weights, file_context);
      CheckPerRowDataset(weights, weights_context, shard.total_rows, "weight");
    }
    const StreamSource source{path,
                              layout,
                              reads_labels,
                              label_columns,
                              shard.feature_type,
                              shard.feature_count,
                              shard.rows,
                              streaming.map_rows};
    const std::int64_t chunk_rows =
        ChooseChunkRows(streaming, source, ShardRows(shard.total_rows, comm.size(), 0).size(),
                        sparse ? &*sparse : nullptr, virtual_shards, [&] {
                          return MappedRows::WhyNotInPlace(file, features,
                                                           FeatureMemoryType(source))
                              .empty();
                        });
    if (chunk_rows > 0) {
      LogHowRowsAreRead(source, file, features);
      shard.stream = std::make_shared<ShardStream>(source, chunk_rows,
                                                   ChooseReadAhead(streaming.read_ahead));
      shard.targets.resize(0, label_columns);  // is_multi_label() says what the rows hold
    } else {
      if (shard.is_sparse) {
        shard.sparse = ReadSparseRows(*sparse, shard.rows,
                                      file_context + ", sparse features '" + layout.features + "'");
        shard.features.resize(shard.rows.size(), 0);
      } else {
        ReadFeatures(features, features_context, &shard);
      }
      if (reads_labels && label_columns == 0) ReadLabels(labels, labels_context, &shard);
      if (reads_labels && label_columns > 0) {
        ReadTargets(labels, label_columns, labels_context, &shard);
      }
      if (!layout.sample_weights.empty()) ReadSampleWeights(weights, weights_context, &shard);
    }
    if (h5::HasObject(file, "label_values")) {
      shard.classes.label_values = h5::ReadInts(file, "label_values", file_context);
    }
    if (h5::HasObject(file, "class_names")) {
      shard.classes.class_names = h5::ReadStrings(file, "class_names", file_context);
    }
  });
  return shard;
}

std::int64_t CountClasses(const Communicator& comm, const Shard& shard) {
  // Every rank sees the same K columns: no need to agree.
  if (shard.is_multi_label()) return shard.targets.cols();
  Label largest = 0;
  VisitBlocksAgreed(comm, shard, [&](const RowBlock& block) {
    for (const Label label : block.labels) largest = std::max(largest, label);
  });
  return AllreduceMax(comm, static_cast<std::int64_t>(largest)) + 1;
}

std::vector<std::int64_t> CountRowsPerClass(const Communicator& comm, const Shard& shard,
                                            std::int64_t classes) {
  std::vector<double> counts(static_cast<std::size_t>(classes), 0.0);
  VisitBlocksAgreed(comm, shard, [&](const RowBlock& block) {
    for (const Label label : block.labels) counts[static_cast<std::size_t>(label)] += 1.0;
  });
  AllreduceSum(comm, counts);  // integers below 2^53: exact in any order
  return std::vector<std::int64_t>(counts.begin(), counts.end());
}

void CheckLabelsBelow(const Communicator& comm, const Shard& shard, const DatasetLayout& layout,
                      std::int64_t classes, const std::string& classes_source) {
  RunAndAgree(comm, [&] {
    if (shard.is_multi_label() && shard.targets.cols() != classes) {
      throw UserError(StrCat("data file '", shard.path, "', dataset '", layout.labels, "': has ",
                             shard.targets.cols(), " label columns, not the number of classes ",
                             classes, " (", classes_source, ")"));
    }
    if (shard.is_multi_label()) return;
    std::int64_t row = shard.rows.begin;  // blocks come in row order
    shard.ForEachBlock([&](const RowBlock& block) {
      for (const Label label : block.labels) {
        if (label >= classes) {
          throw UserError(StrCat("data file '", shard.path, "', dataset '", layout.labels,
                                 "': row ", row, " has label ", label,
                                 ", not below the number of classes ", classes, " (",
                                 classes_source, ")"));
        }
        ++row;
      }
    });
  });
}

void CheckLabelsSuitLoss(const Shard& shard, const DatasetLayout& layout, const Loss& loss,
                         const std::string& loss_source) {
  if (shard.is_multi_label() == loss.is_multi_label()) return;
  const std::string context = "data file '" + shard.path + "', dataset '" + layout.labels + "'";
  const std::string loss_name = "loss '" + std::string(loss.name()) + "' (" + loss_source + ")";
  if (loss.is_multi_label()) {
    throw AgreedError(context + ": holds 1-D class labels, but " + loss_name +
                      " needs a 2-D matrix of 0/1 labels (rows x K)");
  }
  throw AgreedError(StrCat(context, ": holds 2-D multi-label targets (", shard.targets.cols(),
                           " columns), but ", loss_name,
                           " needs 1-D class labels; multi-label data trains with --loss sigmoid"));
}

}  // namespace shardmax
