#include "io/prediction_writer.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/json_writer.hpp"
#include "common/logging.hpp"
#include "io/atomic_file.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {
namespace {

namespace fs = std::filesystem;

constexpr int kCsvTurnTag = 1;

// Rank 0, once every rank has closed the temporary file.
void CommitOutput(const std::string& temporary, const PredictionOutput& output) {
  // Checked again: the file may have appeared since CheckPredictionOutput.
  if (!output.overwrite && fs::exists(output.path)) {
    throw UserError("output file '" + output.path +
                    "' (--output) appeared while predicting; not replaced without --overwrite");
  }
  CommitTemporary(temporary, output.path);
}

// Every block must continue where the last one ended, and the rank's rows must all come.
class RowCursor {
 public:
  explicit RowCursor(const RowRange& rows) : rows_(rows), next_(rows.begin) {}
  void Advance(const PredictionBlock& block) {
    const std::int64_t count = block.rows();
    if (block.first_row != next_ || next_ + count > rows_.end) {
      throw std::logic_error(StrCat("prediction block of rows ", block.first_row, "..",
                                    block.first_row + count, " out of order (expected row ",
                                    next_, " of ", rows_.begin, "..", rows_.end, ")"));
    }
    next_ += count;
  }
  void CheckComplete() const {
    if (next_ != rows_.end) {
      throw std::logic_error(StrCat("predictions stopped at row ", next_, " of ", rows_.end));
    }
  }

 private:
  RowRange rows_;
  std::int64_t next_;
};

void WriteHdf5(const Communicator& comm, const PredictionOutput& output, const std::string& temporary,
               std::int64_t total_rows, std::int64_t classes, const RowRange& rows,
               const std::function<void(const PredictionSink&)>& produce) {
  const std::string context = "output file '" + output.path + "'";
  std::optional<std::string> local_error;
  {
    h5::Handle file;
    h5::Handle predicted;
    h5::Handle predicted_label;
    h5::Handle probabilities;
    // Collective metadata operations, identical on every rank.
    RunAndAgree(comm, [&] {
      file = h5::CreateFile(temporary, &comm);
      h5::WriteAttribute(file, "/", "format", std::string("shardmax-predictions"));
      h5::WriteAttribute(file, "/", "format_version", kPredictionFormatVersion);
      h5::WriteAttribute(file, "/", "classes", classes);
      h5::WriteAttribute(file, "/", "model", output.model_path);
      h5::WriteAttribute(file, "/", "data", output.data_path);
      // Contiguous (no chunks): parallel HDF5 writes contiguous datasets without filters or
      // chunk-index bookkeeping, each rank straight to its own byte range.
      h5::WriteAttribute(file, "/", "multi_label", static_cast<std::int64_t>(output.multi_label));
      predicted = output.multi_label ? h5::CreateDataset(file, "predicted", H5T_STD_U8LE,
                                                         total_rows, classes, h5::Storage{})
                                     : h5::CreateDataset(file, "predicted", H5T_STD_I32LE,
                                                         total_rows, 0, h5::Storage{});
      if (!output.label_values.empty()) {
        predicted_label =
            h5::CreateDataset(file, "predicted_label", H5T_STD_I64LE, total_rows, 0, h5::Storage{});
      }
      if (output.probabilities) {
        probabilities = h5::CreateDataset(file, "probabilities", H5T_IEEE_F64LE, total_rows,
                                          classes, h5::Storage{});
      }
    });

    // Independent transfers (the default transfer property) on every rank: each rank writes
    // its blocks at its own pace, with no collective call per block to keep in step.
    try {
      RowCursor cursor(rows);
      std::vector<std::int64_t> labels;
      produce([&](const PredictionBlock& block) {
        cursor.Advance(block);
        const std::int64_t count = block.rows();
        const auto lock = h5::LockLibrary();  // a streamed shard's reader may be reading
        if (output.multi_label) {
          h5::WriteRows(predicted, block.first_row, count, H5T_NATIVE_UINT8,
                        block.decisions->data(), context + ", dataset 'predicted'");
        } else {
          h5::WriteRows(predicted, block.first_row, count, H5T_NATIVE_INT32,
                        block.predicted.data(), context + ", dataset 'predicted'");
        }
        if (!output.label_values.empty()) {
          labels.clear();
          for (const Label k : block.predicted) {
            labels.push_back(output.label_values[static_cast<std::size_t>(k)]);
          }
          h5::WriteRows(predicted_label, block.first_row, count, H5T_NATIVE_INT64, labels.data(),
                        context + ", dataset 'predicted_label'");
        }
        if (output.probabilities) {
          h5::WriteRows(probabilities, block.first_row, count, H5T_NATIVE_DOUBLE,
                        block.probabilities->data(), context + ", dataset 'probabilities'");
        }
      });
      cursor.CheckComplete();
    } catch (const std::exception& error) {
      local_error = error.what();
    }
    // Collective, so every rank takes part even after a failure of its own; the handles'
    // closes that follow are collective in the same order on every rank.
    try {
      h5::ErrorPrintingOff quiet;
      h5::Check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flushing " + context);
    } catch (const std::exception& error) {
      if (!local_error) local_error = error.what();
    }
  }
  AgreeOnError(comm, local_error);
}

void AppendNumber(std::string* text, std::int64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  text->append(digits, result.ptr);
}

std::string CsvHeader(const PredictionOutput& output, std::int64_t classes) {
  std::string header = "row";
  if (output.multi_label) {
    for (std::int64_t k = 0; k < classes; ++k) header += StrCat(",predicted_", k);
  } else {
    header += ",predicted";
  }
  if (!output.label_values.empty()) header += ",predicted_label";
  if (output.probabilities) {
    for (std::int64_t k = 0; k < classes; ++k) header += StrCat(",p_", k);
  }
  return header + "\n";
}

void FormatCsvRows(const PredictionOutput& output, const PredictionBlock& block, std::string* text) {
  text->clear();
  for (std::size_t i = 0; i < static_cast<std::size_t>(block.rows()); ++i) {
    AppendNumber(text, block.first_row + static_cast<std::int64_t>(i));
    if (output.multi_label) {
      const auto decisions = block.decisions->row(static_cast<Eigen::Index>(i));
      for (Eigen::Index k = 0; k < decisions.size(); ++k) {
        *text += decisions(k) != 0 ? ",1" : ",0";
      }
    } else {
      *text += ',';
      AppendNumber(text, block.predicted[i]);
    }
    if (!output.label_values.empty()) {
      const Label predicted = block.predicted[i];
      *text += ',';
      AppendNumber(text, output.label_values[static_cast<std::size_t>(predicted)]);
    }
    if (output.probabilities) {
      const auto row = block.probabilities->row(static_cast<Eigen::Index>(i));
      for (Eigen::Index k = 0; k < row.size(); ++k) {
        *text += ',';
        *text += FormatShortest(row(k));
      }
    }
    *text += '\n';
  }
}

// Ranks take turns in rank order: each waits for the previous rank's token, appends its rows,
// closes the file (so the next rank, perhaps on another node, sees them) and passes the token
// on, marked failed if it or an earlier rank failed, so no rank waits forever.
void WriteCsv(const Communicator& comm, const PredictionOutput& output, const std::string& temporary,
              std::int64_t classes, const RowRange& rows,
              const std::function<void(const PredictionSink&)>& produce) {
  int earlier_ranks_ok = 1;
  if (comm.rank() > 0) {
    CheckMpi(MPI_Recv(&earlier_ranks_ok, 1, MPI_INT, comm.rank() - 1, kCsvTurnTag, comm.get(),
                      MPI_STATUS_IGNORE),
             "MPI_Recv");
  }
  std::optional<std::string> local_error;
  if (earlier_ranks_ok != 0) {
    try {
      const auto mode = std::ios::binary | (comm.is_root() ? std::ios::trunc : std::ios::app);
      std::ofstream file(temporary, mode);
      if (!file) {
        throw UserError("cannot open '" + temporary + "' to write " + "output file '" +
                        output.path + "': " + std::strerror(errno));
      }
      if (comm.is_root()) file << CsvHeader(output, classes);
      RowCursor cursor(rows);
      std::string text;
      produce([&](const PredictionBlock& block) {
        cursor.Advance(block);
        FormatCsvRows(output, block, &text);
        file.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (!file) throw UserError("writing output file '" + output.path + "' failed");
      });
      cursor.CheckComplete();
      file.close();
      if (!file) throw UserError("writing output file '" + output.path + "' failed");
    } catch (const std::exception& error) {
      local_error = error.what();
    }
  }
  const int ok_so_far = earlier_ranks_ok != 0 && !local_error ? 1 : 0;
  if (comm.rank() + 1 < comm.size()) {
    CheckMpi(MPI_Send(&ok_so_far, 1, MPI_INT, comm.rank() + 1, kCsvTurnTag, comm.get()),
             "MPI_Send");
  }
  AgreeOnError(comm, local_error);
}

}  // namespace

void CheckPredictionOutput(const Communicator& comm, const PredictionOutput& output) {
  RunAndAgree(comm, [&] {
    if (!comm.is_root()) return;  // one view of the shared file system
    const std::string directory = DirectoryOf(output.path);
    if (!fs::is_directory(directory)) {
      throw UserError("cannot write output file '" + output.path + "' (--output): no directory '" +
                      directory + "'");
    }
    if (fs::is_directory(output.path)) {
      throw UserError("output '" + output.path + "' (--output) is a directory");
    }
    if (fs::exists(output.path) && !output.overwrite) {
      throw UserError("output file '" + output.path +
                      "' (--output) already exists; pass --overwrite to replace it");
    }
  });
}

void WritePredictions(const Communicator& comm, const PredictionOutput& output,
                      std::int64_t total_rows, std::int64_t classes, const RowRange& rows,
                      const std::function<void(const PredictionSink& sink)>& produce) {
  const std::string temporary = TemporaryPathFor(output.path);
  try {
    if (output.format == PredictionFormat::kHdf5) {
      WriteHdf5(comm, output, temporary, total_rows, classes, rows, produce);
    } else {
      WriteCsv(comm, output, temporary, classes, rows, produce);
    }
    RunAndAgree(comm, [&] {
      if (comm.is_root()) CommitOutput(temporary, output);
    });
  } catch (...) {
    // Every rank has closed the temporary file by now.
    if (comm.is_root()) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
    }
    throw;
  }
}

}  // namespace shardmax
