// The command line: `shardmax <command> [options]`, with an optional INI config file
// (--config) whose values the command line overrides.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {

namespace po = boost::program_options;

enum class Command { kTrain, kGenerate, kHelp, kVersion };

struct CommandLine {
  Command command = Command::kHelp;
  TrainConfig train;
  SyntheticConfig synthetic;
  std::string help_text;  // for kHelp
};

// Parses train, gen, help and version; `args` excludes the program name. Other commands
// are dispatched by RunCommandLine (commands.hpp). Throws UsageError naming the option.
CommandLine ParseCommandLine(const std::vector<std::string>& args);

// The shared parser of every command: `args` (after the command name) against
// `command_options` plus --help and --config. The command line is stored first, then the
// config file, so the command line wins. Returns the help text if --help was given, else "".
std::string ParseOptions(const std::vector<std::string>& args, const std::string& command,
                         const po::options_description& command_options);

// --features-dataset and --labels-dataset.
po::options_description DatasetOptions(DatasetLayout* layout);

// --stream, --memory-budget and --stream-chunk-rows (README, "Streaming"), checked as parsed.
po::options_description StreamOptions(StreamConfig* streaming);

// --threads: threads per rank of full passes (1 to kMaxThreads), checked as parsed.
inline constexpr int kMaxThreads = 1024;
po::options_description ThreadsOption(int* threads);

// Throws UsageError("--<option> <rule> (got <value>)") unless `holds`.
template <typename Value>
void RequireOption(bool holds, const char* option, const Value& value, const char* rule) {
  if (!holds) throw UsageError(StrCat("--", option, " ", rule, " (got ", value, ")"));
}

}  // namespace shardmax
