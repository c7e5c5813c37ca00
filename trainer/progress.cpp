#include "trainer/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

#include "common/logging.hpp"

namespace shardmax {
namespace {

constexpr int kBarWidth = 20;
constexpr std::chrono::milliseconds kBarRedraw{250};

bool IsTerminalLink(const std::string& target) {
  return target.starts_with("/dev/pts/") || target.starts_with("/dev/tty") ||
         target == "/dev/console";
}

// The parent of process `pid` and the name of `pid`, from /proc/<pid>/stat ("pid (name) state
// ppid ..."); {0, ""} if unreadable.
std::pair<pid_t, std::string> ParentAndName(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return {0, ""};
  std::istringstream rest(text.substr(close + 1));
  std::string state;
  pid_t parent = 0;
  rest >> state >> parent;
  return {parent, text.substr(open + 1, close - open - 1)};
}

bool IsOpenMpiLauncher(const std::string& name) {
  return name == "mpirun" || name == "mpiexec" || name == "orterun" || name == "orted" ||
         name == "prterun" || name == "prted";
}

// Plain lines every `interval_seconds`; the bar as often, but at least four times a second.
std::chrono::steady_clock::duration ReportInterval(ProgressStyle style, double interval_seconds) {
  using Duration = std::chrono::steady_clock::duration;
  if (interval_seconds <= 0) return Duration::max();
  const auto interval =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(interval_seconds));
  return style == ProgressStyle::kBar ? std::min<Duration>(interval, kBarRedraw) : interval;
}

}  // namespace

ProgressStyle DetectProgressStyle() {
  if (isatty(STDOUT_FILENO) == 0) return ProgressStyle::kLines;
  // Look for mpirun or orted among the ancestors (a rank may run under a shell that
  // mpirun started); its standard output decides.
  pid_t pid = getppid();
  for (int depth = 0; depth < 8 && pid > 1; ++depth) {
    const auto [parent, name] = ParentAndName(pid);
    if (IsOpenMpiLauncher(name)) {
      char target[256] = {};
      const std::string link = "/proc/" + std::to_string(pid) + "/fd/1";
      const ssize_t length = readlink(link.c_str(), target, sizeof target - 1);
      return length > 0 && IsTerminalLink(std::string(target, static_cast<std::size_t>(length)))
                 ? ProgressStyle::kBar
                 : ProgressStyle::kLines;
    }
    pid = parent;
  }
  return ProgressStyle::kBar;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char text[32];
  if (total < 60) {
    std::snprintf(text, sizeof text, "%llds", total);
  } else if (total < 3600) {
    std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, total % 3600 / 60);
  }
  return text;
}

ProgressReporter::ProgressReporter(ProgressStyle style, double interval_seconds,
                                   std::int64_t rows_per_epoch, std::int64_t steps_per_epoch,
                                   std::int64_t epochs, std::int64_t first_step)
    : style_(style),
      interval_(ReportInterval(style, interval_seconds)),
      rows_per_epoch_(rows_per_epoch),
      steps_per_epoch_(steps_per_epoch),
      epochs_(epochs),
      first_step_(first_step),
      start_(Clock::now()),
      last_report_(start_),
      last_report_step_(first_step) {}

void ProgressReporter::AfterStep(const TrainingPosition& position) {
  if (interval_ == Clock::duration::max()) return;
  const Clock::time_point now = Clock::now();
  if (now - last_report_ < interval_) return;
  const auto seconds = [](Clock::duration span) {
    return std::chrono::duration<double>(span).count();
  };
  // Rows per step average N / steps per epoch; the rate covers the time since the last
  // report, the estimate of the time left this session's average pace.
  const double rows_per_step =
      static_cast<double>(rows_per_epoch_) / static_cast<double>(steps_per_epoch_);
  const double samples_per_second =
      rows_per_step * static_cast<double>(position.global_step - last_report_step_) /
      seconds(now - last_report_);
  const double seconds_per_step = seconds(now - start_) /
                                  static_cast<double>(position.global_step - first_step_);
  const double eta_seconds =
      seconds_per_step * static_cast<double>(epochs_ * steps_per_epoch_ - position.global_step);
  const std::string text = Describe(position, samples_per_second, eta_seconds);
  if (style_ == ProgressStyle::kBar) {
    ShowStatusLine(text);
  } else {
    LogInfo(text);
  }
  last_report_ = now;
  last_report_step_ = position.global_step;
}

std::string ProgressReporter::Describe(const TrainingPosition& position,
                                       double samples_per_second, double eta_seconds) const {
  const std::int64_t total_steps = epochs_ * steps_per_epoch_;
  // Right after a step, `epoch` is still the epoch of that step (counted from 0).
  const std::string epoch_text = StrCat("epoch ", position.epoch + 1, "/", epochs_);
  const std::string rate = FormatFixed(samples_per_second, 0);
  if (style_ == ProgressStyle::kLines) {
    return StrCat("progress: ", epoch_text, "  step ", position.global_step, "/", total_steps,
                  "  samples/s ", rate, "  ETA ", FormatDuration(eta_seconds));
  }
  const auto filled = static_cast<int>(kBarWidth * position.step_in_epoch / steps_per_epoch_);
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                          std::string(static_cast<std::size_t>(kBarWidth - filled), '.');
  return StrCat(epoch_text, " [", bar, "] step ", position.global_step, "/", total_steps, "  ",
                rate, " samples/s  ETA ", FormatDuration(eta_seconds));
}

}  // namespace shardmax
