#include "io/metrics_log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.hpp"
#include "io/atomic_file.hpp"

namespace shardmax {
namespace {

constexpr const char* kHeader =
    "epoch,global_step,train_loss,val_loss,val_accuracy,learning_rate,samples_per_second,"
    "elapsed_seconds";

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

std::string OptionalNumber(const std::optional<double>& value) {
  return value ? Number(*value) : std::string();
}

}  // namespace

void StartMetricsLog(const std::string& path, std::int64_t completed_epochs) {
  std::vector<std::string> kept;
  if (completed_epochs > 0) {
    std::ifstream existing(path);
    std::string line;
    std::getline(existing, line);  // the header
    while (std::getline(existing, line)) {
      // Rows of later epochs, and any torn last line of a crash, are dropped.
      char* end = nullptr;
      const long long epoch = std::strtoll(line.c_str(), &end, 10);
      if (end != line.c_str() && *end == ',' && epoch <= completed_epochs) kept.push_back(line);
    }
  }
  WriteFileAtomically(path, [&](const std::string& temporary) {
    std::ofstream out(temporary, std::ios::trunc);
    out << kHeader << '\n';
    for (const std::string& line : kept) out << line << '\n';
    out.close();
    if (!out) throw UserError("cannot write metrics log '" + temporary + "'");
  });
}

void AppendMetricsLog(const std::string& path, const EpochRecord& record) {
  std::ofstream out(path, std::ios::app);
  out << record.epoch << ',' << record.global_step << ',' << Number(record.train_loss) << ','
      << OptionalNumber(record.validation_loss) << ','
      << OptionalNumber(record.validation_accuracy) << ',' << Number(record.learning_rate) << ','
      << Number(record.samples_per_second) << ',' << Number(record.elapsed_seconds) << '\n';
  out.close();
  if (!out) {
    throw UserError("cannot append to metrics log '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace shardmax
