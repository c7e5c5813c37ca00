#include "io/hdf5_crash_report.hpp"

#include <link.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace shardmax::h5 {
namespace {

// Everything the handler reads is fixed-size and written before it can run, or published
// through an atomic: a signal handler may not allocate or take locks.
constexpr hid_t kFreeSlot = H5I_INVALID_HID;  // -1; keys of files being opened are below it
struct OpenFile {
  std::atomic<hid_t> key{kFreeSlot};
  std::array<char, 1024> path{};
};
std::atomic<hid_t> next_opening_key{kFreeSlot - 1};
std::array<OpenFile, 16> open_files;
std::mutex open_files_mutex;  // between threads registering (the stream's reader opens files)

struct CodeRange {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
};
std::array<CodeRange, 8> hdf5_code;  // libhdf5's executable segments
int hdf5_code_ranges = 0;
int report_rank = 0;

constexpr std::array<int, 4> kCrashSignals = {SIGSEGV, SIGFPE, SIGBUS, SIGILL};
std::array<struct sigaction, 4> previous_actions;

int FindLibhdf5Segment(dl_phdr_info* info, std::size_t, void*) {
  if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, "libhdf5") == nullptr) return 0;
  for (int i = 0; i < info->dlpi_phnum && hdf5_code_ranges < std::ssize(hdf5_code); ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
    const std::uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
    hdf5_code[static_cast<std::size_t>(hdf5_code_ranges++)] = {begin, begin + segment.p_memsz};
  }
  return 0;
}

std::uintptr_t InstructionAddress(const void* context) {
  const auto* machine = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(machine->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(machine->uc_mcontext.pc);
#else
  (void)machine;
  return 0;  // unknown: never reported as inside HDF5
#endif
}

bool InsideHdf5(std::uintptr_t address) {
  for (int i = 0; i < hdf5_code_ranges; ++i) {
    const CodeRange& range = hdf5_code[static_cast<std::size_t>(i)];
    if (address >= range.begin && address < range.end) return true;
  }
  return false;
}

// Appends text to the line, as far as it fits (async-signal-safe: no allocation, no stdio).
struct Line {
  std::array<char, 4096> text{};
  std::size_t length = 0;
  void Append(const char* part) {
    while (*part != '\0' && length + 1 < text.size()) text[length++] = *part++;
  }
  void AppendNumber(int number) {
    char digits[16];
    int count = 0;
    do {
      digits[count++] = static_cast<char>('0' + number % 10);
      number /= 10;
    } while (number > 0 && count < 15);
    while (count > 0 && length + 1 < text.size()) text[length++] = digits[--count];
  }
};

const char* SignalName(int signal_number) {
  switch (signal_number) {
    case SIGSEGV: return "SIGSEGV";
    case SIGFPE: return "SIGFPE";
    case SIGBUS: return "SIGBUS";
    default: return "SIGILL";
  }
}

extern "C" void ReportCrashInsideHdf5(int signal_number, siginfo_t*, void* context) {
  if (InsideHdf5(InstructionAddress(context))) {
    static Line line;  // static: the handler may run on a small stack
    line.length = 0;
    line.Append("shardmax: error");
    if (report_rank != 0) {
      line.Append(" (rank ");
      line.AppendNumber(report_rank);
      line.Append(")");
    }
    line.Append(": HDF5 crashed (");
    line.Append(SignalName(signal_number));
    line.Append(") reading");
    bool any = false;
    for (const OpenFile& open : open_files) {
      if (open.key.load(std::memory_order_acquire) == kFreeSlot) continue;
      line.Append(any ? ", '" : " '");
      line.Append(open.path.data());
      line.Append("'");
      any = true;
    }
    if (!any) line.Append(" a file");
    line.Append(": HDF5 1.10 crashes on some damaged files instead of reporting them; check the "
                "file, e.g. with h5dump -H\n");
    [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, line.text.data(), line.length);
  }
  // Back to the handler installed before: returning re-runs the faulting instruction, which
  // faults again, into that handler (or the default action, which ends the process).
  for (std::size_t i = 0; i < kCrashSignals.size(); ++i) {
    if (kCrashSignals[i] == signal_number) sigaction(signal_number, &previous_actions[i], nullptr);
  }
}

}  // namespace

void InstallCrashReport(int rank) {
  report_rank = rank;
  hdf5_code_ranges = 0;
  dl_iterate_phdr(FindLibhdf5Segment, nullptr);
  struct sigaction action = {};
  action.sa_sigaction = ReportCrashInsideHdf5;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO;
  for (std::size_t i = 0; i < kCrashSignals.size(); ++i) {
    sigaction(kCrashSignals[i], &action, &previous_actions[i]);
  }
}

void RegisterFileForCrashReport(hid_t key, const std::string& path) {
  const std::lock_guard<std::mutex> lock(open_files_mutex);
  for (OpenFile& open : open_files) {
    if (open.key.load(std::memory_order_relaxed) != kFreeSlot) continue;
    const std::size_t length = std::min(path.size(), open.path.size() - 1);
    std::memcpy(open.path.data(), path.data(), length);
    open.path[length] = '\0';
    open.key.store(key, std::memory_order_release);
    return;
  }
}

void RekeyFileForCrashReport(hid_t key, hid_t new_key) {
  const std::lock_guard<std::mutex> lock(open_files_mutex);
  for (OpenFile& open : open_files) {
    if (open.key.load(std::memory_order_relaxed) == key) {
      open.key.store(new_key, std::memory_order_release);
      return;
    }
  }
}

void UnregisterFileForCrashReport(hid_t key) { RekeyFileForCrashReport(key, kFreeSlot); }

hid_t NewOpeningKeyForCrashReport() { return next_opening_key.fetch_sub(1); }

}  // namespace shardmax::h5
