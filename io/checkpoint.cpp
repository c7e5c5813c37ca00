#include "io/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"
#include "io/checksum.hpp"
#include "io/hdf5_file.hpp"
#include "io/model_file.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

const std::regex kCheckpointName(R"(ckpt-(\d{9,})\.h5)");
const std::regex kUnfinishedWrite(R"(\.(ckpt-\d{9,}\.h5|latest)\.tmp)");
constexpr const char* kHeaderMagic = "shardmax-checkpoint\n";
constexpr const char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";
constexpr const char* kChecksumAttribute = "crc32";

// Checkpoints in `directory` as (step, path), oldest first.
std::vector<std::pair<std::int64_t, std::string>> ListCheckpoints(const std::string& directory) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, match, kCheckpointName)) {
      found.emplace_back(std::stoll(match[1].str()), entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Test hook (README, "Test hooks"): SHARDMAX_TEST_KILL_IN_CHECKPOINT_WRITE=STAGE:STEP kills the
// writing process with SIGKILL when it reaches STAGE while writing the checkpoint of global
// step STEP, exactly as a crash or a cluster's kill -9 there would.
void KillHereIfTestAsks(const char* stage, std::int64_t global_step) {
  const char* request = std::getenv("SHARDMAX_TEST_KILL_IN_CHECKPOINT_WRITE");
  if (request == nullptr) return;
  if (std::string(request) == StrCat(stage, ":", global_step)) std::raise(SIGKILL);
}

// Each array carries the CRC-32 of its values, so it verifies on its own (even copied out).
void WriteArray(const h5::Handle& file, const std::string& name,
                const Eigen::Map<const Matrix>& values) {
  const h5::Handle dataset =
      h5::CreateDataset(file, name, H5T_IEEE_F64LE, values.rows(), values.cols(), 0);
  h5::WriteRows(dataset, 0, values.rows(), H5T_NATIVE_DOUBLE, values.data(),
                "dataset '" + name + "'");
  const std::uint32_t crc = Crc32(std::span(reinterpret_cast<const unsigned char*>(values.data()),
                                            static_cast<std::size_t>(values.size()) * sizeof(double)));
  h5::WriteAttribute(file, name, kChecksumAttribute, static_cast<std::int64_t>(crc));
}

void CheckArray(const h5::Handle& file, const std::string& name, std::uint32_t actual,
                const std::string& context) {
  const std::int64_t recorded = h5::ReadIntAttribute(file, name, kChecksumAttribute, context);
  if (recorded != static_cast<std::int64_t>(actual)) {
    throw UserError(StrCat(context, ": dataset '", name, "' fails its checksum (crc32 of the values ",
                           FormatCrc32(actual), ", recorded ",
                           FormatCrc32(static_cast<std::uint32_t>(recorded)), ")"));
  }
}

void WriteContents(const h5::Handle& file, const Checkpoint& checkpoint) {
  h5::WriteAttribute(file, "/", "format", std::string("shardmax-checkpoint"));
  h5::WriteAttribute(file, "/", "format_version", kCheckpointFormatVersion);

  WriteModelDatasets(file, checkpoint.model);
  h5::WriteAttribute(file, "/model/weights", kChecksumAttribute,
                     static_cast<std::int64_t>(Crc32Of(checkpoint.model.weights)));
  h5::WriteAttribute(file, "/model/bias", kChecksumAttribute,
                     static_cast<std::int64_t>(Crc32Of(checkpoint.model.bias)));
  if (checkpoint.feature_scaling) WriteFeatureScaling(file, *checkpoint.feature_scaling);
  for (const NamedMatrix& state : checkpoint.optimizer_state) {
    WriteArray(file, "/optimizer/" + state.name, state.Values());
  }

  const TrainingPosition& position = checkpoint.position;
  h5::WriteAttribute(file, "/", "epoch", position.epoch);
  h5::WriteAttribute(file, "/", "step_in_epoch", position.step_in_epoch);
  h5::WriteAttribute(file, "/", "global_step", position.global_step);
  h5::WriteAttribute(file, "/", "cursor", position.cursor);
  h5::WriteAttribute(file, "/", "epoch_loss_sum", position.epoch_loss_sum);
  h5::WriteAttribute(file, "/", "best_validation_loss", position.best_validation_loss);
  h5::WriteAttribute(file, "/", "best_epoch", position.best_epoch);
  h5::WriteAttribute(file, "/", "epoch_weight_sum", position.epoch_weight_sum);

  const RunSignature& run = checkpoint.run;
  h5::WriteAttribute(file, "/", "seed", static_cast<std::int64_t>(run.seed));
  h5::WriteAttribute(file, "/", "world_size", run.world_size);
  h5::WriteAttribute(file, "/", "rows", run.rows);
  h5::WriteAttribute(file, "/", "features", run.features);
  h5::WriteAttribute(file, "/", "classes", run.classes);
  h5::WriteAttribute(file, "/", "batch_size", run.batch_size);
  h5::WriteAttribute(file, "/", "learning_rate", run.learning_rate);
  h5::WriteAttribute(file, "/", "momentum", run.momentum);
  h5::WriteAttribute(file, "/", "weight_decay", run.weight_decay);
  h5::WriteAttribute(file, "/", "loss", run.loss);
  h5::WriteAttribute(file, "/", "optimizer", run.optimizer);
  h5::WriteAttribute(file, "/", "train_path", run.train_path);
  h5::WriteAttribute(file, "/", "virtual_shards", run.virtual_shards);
  h5::WriteAttribute(file, "/", "stream_chunk_rows", run.stream_chunk_rows);
  h5::WriteAttribute(file, "/", "max_ranks", run.max_ranks);
}

// A POSIX file descriptor closed on scope exit.
class FileDescriptor {
 public:
  FileDescriptor(const std::string& path, int flags, mode_t mode = 0)
      : fd_(::open(path.c_str(), flags, mode)) {
    if (fd_ < 0) throw UserError("cannot open '" + path + "': " + std::strerror(errno));
  }
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // A close that reports failure (some file systems report a failed write only here).
  void Close(const std::string& path) {
    const int status = ::close(fd_);
    fd_ = -1;
    if (status != 0) throw UserError("cannot write '" + path + "': " + std::strerror(errno));
  }

 private:
  int fd_;
};

struct Envelope {
  std::int64_t bytes = 0;  // after the header
  std::uint32_t crc = 0;   // of those bytes
};

// Reads the whole file after the header, returning its length and CRC-32.
Envelope MeasureBody(const FileDescriptor& file, const std::string& context) {
  Envelope body;
  std::vector<unsigned char> buffer(1 << 16);
  off_t offset = kCheckpointHeaderBytes;
  while (true) {
    const ssize_t got = ::pread(file.get(), buffer.data(), buffer.size(), offset);
    if (got < 0) throw UserError(context + ": cannot read: " + std::strerror(errno));
    if (got == 0) return body;
    body.crc = Crc32(std::span(buffer.data(), static_cast<std::size_t>(got)), body.crc);
    body.bytes += got;
    offset += got;
  }
}

// The header, padded with NUL bytes to its full size.
std::string HeaderText(const Envelope& body) {
  std::string text = StrCat(kHeaderMagic, "format_version ", kCheckpointFormatVersion, "\nbytes ",
                            body.bytes, "\ncrc32 ", FormatCrc32(body.crc), "\n");
  text.resize(static_cast<std::size_t>(kCheckpointHeaderBytes), '\0');
  return text;
}

// The whole checkpoint file, header included, built in memory: HDF5 never writes to disk
// here, so a full disk is our own checked write() failing (HDF 1.10 can crash at exit after a
// failed flush of its own), and the checksum is taken over exactly the bytes written. HDF5
// copies its image straight after the space kept for the header, which is then filled in:
// one buffer the size of the file, besides HDF5's own until it is closed here.
std::vector<char> CheckpointImage(const Checkpoint& checkpoint) {
  std::vector<char> image;
  {
    h5::Handle file = h5::CreateFileInMemory(static_cast<hsize_t>(kCheckpointHeaderBytes));
    WriteContents(file, checkpoint);
    // The image leaves out the user block: the header goes in front of it.
    h5::CopyFileImage(file, "building the checkpoint",
                      static_cast<std::size_t>(kCheckpointHeaderBytes), &image);
  }
  const auto body = std::span(reinterpret_cast<const unsigned char*>(image.data()), image.size())
                        .subspan(static_cast<std::size_t>(kCheckpointHeaderBytes));
  const std::string header = HeaderText(Envelope{static_cast<std::int64_t>(body.size()), Crc32(body)});
  std::copy(header.begin(), header.end(), image.begin());
  return image;
}

// Writes `image` to a new file at `path`; with the test hook, dies half way through.
void WriteImage(const std::string& path, const std::vector<char>& image, std::int64_t global_step) {
  FileDescriptor file(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::size_t done = 0;
  while (done < image.size()) {
    if (done >= image.size() / 2) KillHereIfTestAsks("half-written", global_step);
    const std::size_t piece = std::min<std::size_t>(image.size() - done, image.size() / 2 + 1);
    const ssize_t wrote = ::write(file.get(), image.data() + done, piece);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      throw UserError("cannot write '" + path + "': " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(wrote);
  }
  file.Close(path);
}

// Whether the file holds `needle` anywhere (read in pieces that overlap by its length).
bool FileContains(const FileDescriptor& file, const std::string& needle) {
  std::string window;
  std::vector<char> buffer(1 << 16);
  off_t offset = 0;
  while (true) {
    const ssize_t got = ::pread(file.get(), buffer.data(), buffer.size(), offset);
    if (got <= 0) return false;
    window.append(buffer.data(), static_cast<std::size_t>(got));
    if (window.find(needle) != std::string::npos) return true;
    window.erase(0, window.size() - std::min(window.size(), needle.size() - 1));
    offset += got;
  }
}

// A file without our header: a checkpoint of format version 1 (which had none), some other
// HDF5 file, or not HDF5 at all. Told apart by the bytes alone: HDF5 never parses a file that
// has not passed the checksum, because HDF5 1.10 reads out of bounds on crafted files.
[[noreturn]] void RefuseUnsealedFile(const FileDescriptor& file, const std::string& context,
                                     const std::string& start) {
  if (start.compare(0, sizeof kHdf5Signature - 1, kHdf5Signature) != 0) {
    throw UserError(context + ": not a shardmax checkpoint (no checkpoint header and not HDF5)");
  }
  // Version 1 stored the format name as an attribute, so its bytes are in the file.
  if (!FileContains(file, "shardmax-checkpoint")) {
    throw UserError(context + ": not a shardmax checkpoint (an HDF5 file without a checkpoint "
                              "header)");
  }
  throw UserError(StrCat(context, ": format version 1, this build reads version ",
                         kCheckpointFormatVersion,
                         ": resume it with the shardmax that wrote it, or start a fresh run"));
}

// Checks the header against the file's length and checksum before HDF5 reads any of it:
// a truncated or damaged file is refused here, by name, and HDF5 never parses corrupt bytes.
void VerifyEnvelope(const std::string& path, const std::string& context) {
  const FileDescriptor file(path, O_RDONLY);
  std::string header(static_cast<std::size_t>(kCheckpointHeaderBytes), '\0');
  const ssize_t got = ::pread(file.get(), header.data(), header.size(), 0);
  if (got < 0) throw UserError(context + ": cannot read: " + std::strerror(errno));
  header.resize(static_cast<std::size_t>(got));
  if (got == 0) throw UserError(context + ": empty file");
  if (header.compare(0, std::strlen(kHeaderMagic), kHeaderMagic) != 0) {
    RefuseUnsealedFile(file, context, header);
  }
  if (got < kCheckpointHeaderBytes) {
    throw UserError(StrCat(context, ": truncated inside its ", kCheckpointHeaderBytes,
                           "-byte header (", got, " bytes)"));
  }
  std::istringstream fields(header.substr(std::strlen(kHeaderMagic)));
  std::string key;
  std::int64_t version = -1;
  std::int64_t bytes = -1;
  std::string crc_text;
  fields >> key >> version;
  if (key != "format_version") throw UserError(context + ": damaged checkpoint header");
  if (version != kCheckpointFormatVersion) {
    throw UserError(StrCat(context, ": format version ", version, ", this build reads version ",
                           kCheckpointFormatVersion,
                           ": resume it with the shardmax that wrote it, or start a fresh run"));
  }
  fields >> key >> bytes;
  if (key != "bytes" || bytes < 0) throw UserError(context + ": damaged checkpoint header");
  fields >> key >> crc_text;
  if (key != "crc32" || !fields) throw UserError(context + ": damaged checkpoint header");

  const Envelope body = MeasureBody(file, context);
  if (body.bytes != bytes) {
    throw UserError(StrCat(context, ": truncated or extended: ", body.bytes,
                           " bytes follow the header, which records ", bytes));
  }
  if (FormatCrc32(body.crc) != crc_text) {
    throw UserError(StrCat(context, ": damaged: the file's crc32 is ", FormatCrc32(body.crc),
                           ", its header records ", crc_text));
  }
}

std::vector<NamedMatrix> ReadOptimizerState(const h5::Handle& file, const std::string& context) {
  std::vector<NamedMatrix> states;
  if (!h5::HasObject(file, "/optimizer")) return states;
  h5::ErrorPrintingOff quiet;
  h5::Handle group(h5::CheckId(H5Gopen2(file.get(), "/optimizer", H5P_DEFAULT), context),
                   H5Gclose);
  H5G_info_t info;
  h5::Check(H5Gget_info(group.get(), &info), context);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256];
    h5::CheckId(H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                   sizeof name, H5P_DEFAULT),
                context);
    const std::string path = std::string("/optimizer/") + name;
    states.push_back({name, h5::ReadMatrix(file, path, context)});
    CheckArray(file, path, Crc32Of(states.back().values), context);
  }
  return states;
}

// Everything after the envelope: structure, checksums of the arrays, shapes, position.
Checkpoint ReadVerifiedContents(const std::string& path, const std::string& context) {
  h5::Handle file = h5::OpenFileForReading(path);
  if (h5::ReadStringAttribute(file, "/", "format", context) != "shardmax-checkpoint") {
    throw UserError(context + ": not a shardmax checkpoint");
  }
  const std::int64_t version = h5::ReadIntAttribute(file, "/", "format_version", context);
  if (version != kCheckpointFormatVersion) {
    throw UserError(StrCat(context, ": its header says format version ",
                           kCheckpointFormatVersion, " but its attribute says ", version));
  }

  Checkpoint checkpoint;
  checkpoint.model = ReadModelDatasets(file, context);
  CheckArray(file, "/model/weights", Crc32Of(checkpoint.model.weights), context);
  CheckArray(file, "/model/bias", Crc32Of(checkpoint.model.bias), context);
  const Eigen::Index classes = checkpoint.model.classes();
  const Eigen::Index features = checkpoint.model.features();

  const RunSignature run{
      static_cast<std::uint64_t>(h5::ReadIntAttribute(file, "/", "seed", context)),
      h5::ReadIntAttribute(file, "/", "world_size", context),
      h5::ReadIntAttribute(file, "/", "rows", context),
      h5::ReadIntAttribute(file, "/", "features", context),
      h5::ReadIntAttribute(file, "/", "classes", context),
      h5::ReadIntAttribute(file, "/", "batch_size", context),
      h5::ReadDoubleAttribute(file, "/", "learning_rate", context),
      h5::ReadDoubleAttribute(file, "/", "momentum", context),
      h5::ReadDoubleAttribute(file, "/", "weight_decay", context),
      h5::ReadStringAttribute(file, "/", "loss", context),
      h5::ReadStringAttribute(file, "/", "optimizer", context),
      h5::ReadStringAttribute(file, "/", "train_path", context)};
  checkpoint.run = run;
  if (h5::HasAttribute(file, "/", "virtual_shards")) {
    checkpoint.run.virtual_shards = h5::ReadIntAttribute(file, "/", "virtual_shards", context);
    if (checkpoint.run.virtual_shards < 0) {
      throw UserError(StrCat(context, ": virtual_shards is ", checkpoint.run.virtual_shards));
    }
  }
  checkpoint.run.max_ranks = checkpoint.run.virtual_shards;  // written before --max-ranks
  if (h5::HasAttribute(file, "/", "max_ranks")) {
    checkpoint.run.max_ranks = h5::ReadIntAttribute(file, "/", "max_ranks", context);
    if (checkpoint.run.max_ranks < 0) {
      throw UserError(StrCat(context, ": max_ranks is ", checkpoint.run.max_ranks));
    }
  }
  if (h5::HasAttribute(file, "/", "stream_chunk_rows")) {
    checkpoint.run.stream_chunk_rows =
        h5::ReadIntAttribute(file, "/", "stream_chunk_rows", context);
    if (checkpoint.run.stream_chunk_rows < 0) {
      throw UserError(StrCat(context, ": stream_chunk_rows is ", checkpoint.run.stream_chunk_rows));
    }
  }
  if (run.classes != classes || run.features != features) {
    throw UserError(StrCat(context, ": '/model/weights' is ", classes, " x ", features,
                           " but the checkpoint records K = ", run.classes, ", D = ",
                           run.features));
  }

  checkpoint.position = TrainingPosition{
      h5::ReadIntAttribute(file, "/", "epoch", context),
      h5::ReadIntAttribute(file, "/", "step_in_epoch", context),
      h5::ReadIntAttribute(file, "/", "global_step", context),
      h5::ReadIntAttribute(file, "/", "cursor", context),
      h5::ReadDoubleAttribute(file, "/", "epoch_loss_sum", context),
      h5::ReadDoubleAttribute(file, "/", "best_validation_loss", context),
      h5::ReadIntAttribute(file, "/", "best_epoch", context)};
  const TrainingPosition& position = checkpoint.position;
  if (position.epoch < 0 || position.step_in_epoch < 0 || position.global_step < 0 ||
      position.cursor < 0 || position.cursor > run.rows) {
    throw UserError(StrCat(context, ": impossible position (epoch ", position.epoch, ", step ",
                           position.step_in_epoch, " of it, global step ", position.global_step,
                           ", cursor ", position.cursor, " of ", run.rows, " rows)"));
  }
  std::smatch match;
  const std::string name = fs::path(path).filename().string();
  if (std::regex_match(name, match, kCheckpointName) &&
      std::stoll(match[1].str()) != position.global_step) {
    throw UserError(StrCat(context, ": holds global step ", position.global_step,
                           ", not the step its name says"));
  }
  // Checkpoints from before row weights lack it: their rows all weighed 1.
  checkpoint.position.epoch_weight_sum =
      h5::HasAttribute(file, "/", "epoch_weight_sum")
          ? h5::ReadDoubleAttribute(file, "/", "epoch_weight_sum", context)
          : static_cast<double>(checkpoint.position.cursor);
  checkpoint.feature_scaling = ReadFeatureScaling(file, run.features, context);

  // Each solver keeps arrays of its own shapes (velocities K x D, the L-BFGS history M x n,
  // AdamW's step count 1 x 1); the trainer checks them against what it expects on resume.
  checkpoint.optimizer_state = ReadOptimizerState(file, context);
  for (const NamedMatrix& state : checkpoint.optimizer_state) {
    if (!state.values.allFinite()) {
      throw UserError(StrCat(context, ": dataset '/optimizer/", state.name,
                             "' holds values that are not finite"));
    }
  }
  return checkpoint;
}

}  // namespace

std::string CheckpointFileName(std::int64_t global_step) {
  char name[32];
  std::snprintf(name, sizeof name, "ckpt-%09lld.h5", static_cast<long long>(global_step));
  return name;
}

void SealCheckpointFile(const std::string& path) {
  const std::string context = "checkpoint '" + path + "'";
  FileDescriptor file(path, O_RDWR);
  const std::string header = HeaderText(MeasureBody(file, context));
  if (::pwrite(file.get(), header.data(), header.size(), 0) !=
      static_cast<ssize_t>(header.size())) {
    throw UserError(context + ": cannot write its header: " + std::strerror(errno));
  }
}

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  const std::int64_t step = checkpoint.position.global_step;
  const std::vector<char> image = CheckpointImage(checkpoint);
  WriteFileAtomically(path, [&](const std::string& temporary) {
    WriteImage(temporary, image, step);
    KillHereIfTestAsks("written", step);
  });
  KillHereIfTestAsks("renamed", step);
  const std::string pointer = (fs::path(DirectoryOf(path)) / kLatestPointerName).string();
  WriteFileAtomically(pointer, [&](const std::string& temporary) {
    std::ofstream out(temporary, std::ios::trunc);
    out << fs::path(path).filename().string() << '\n';
    out.close();
    if (!out) throw UserError("cannot write '" + temporary + "'");
  });
}

Checkpoint ReadCheckpoint(const std::string& path) {
  const std::string context = "checkpoint '" + path + "'";
  if (!fs::is_regular_file(path)) throw UserError(context + ": no such file");
  try {
    VerifyEnvelope(path, context);
    return ReadVerifiedContents(path, context);
  } catch (const UserError& error) {
    // Every message starts with the checkpoint's name, also those from the HDF5 layer.
    const std::string text = error.what();
    if (text.rfind(context, 0) == 0) throw;
    throw UserError(context + ": " + text);
  }
}

std::optional<std::string> FindNewestCheckpoint(const std::string& directory) {
  const auto found = ListCheckpoints(directory);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

CheckpointSearch FindNewestValidCheckpoint(const std::string& directory) {
  CheckpointSearch search;
  const auto found = ListCheckpoints(directory);
  for (auto candidate = found.rbegin(); candidate != found.rend(); ++candidate) {
    try {
      ReadCheckpoint(candidate->second);
      search.newest_valid = candidate->second;
      return search;
    } catch (const std::exception& error) {
      search.skipped.push_back({candidate->second, error.what()});
    }
  }
  return search;
}

std::optional<std::string> ReadLatestPointer(const std::string& directory) {
  std::ifstream in(fs::path(directory) / kLatestPointerName);
  std::string name;
  if (!in || !std::getline(in, name) || name.empty()) return std::nullopt;
  return (fs::path(directory) / name).string();
}

std::vector<std::string> RemoveUnfinishedCheckpointWrites(const std::string& directory) {
  std::vector<std::string> removed;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    std::error_code ignored;
    if (std::regex_match(name, kUnfinishedWrite) && fs::remove(entry.path(), ignored)) {
      removed.push_back(entry.path().string());
    }
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

void PruneCheckpoints(const std::string& directory, int keep) {
  const auto found = ListCheckpoints(directory);
  if (found.size() <= static_cast<std::size_t>(keep)) return;  // nothing to delete
  int valid = 0;
  for (auto candidate = found.rbegin(); candidate != found.rend(); ++candidate) {
    if (valid < keep) {
      try {
        ReadCheckpoint(candidate->second);
        ++valid;
      } catch (const std::exception&) {
        // Damaged: kept for the user to look at, and not counted.
      }
      continue;
    }
    std::error_code ignored;
    fs::remove(candidate->second, ignored);
  }
}

}  // namespace shardmax
