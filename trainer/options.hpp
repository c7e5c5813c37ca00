// The command line: `shardmax <command> [options]`, with an optional INI config file
// (--config) whose values the command line overrides.
#pragma once

#include <string>
#include <vector>

#include "common/config.hpp"

namespace shardmax {

enum class Command { kTrain, kGenerate, kHelp, kVersion };

struct CommandLine {
  Command command = Command::kHelp;
  TrainConfig train;
  SyntheticConfig synthetic;
  std::string help_text;  // for kHelp
};

// `args` excludes the program name. Throws UsageError naming the offending option.
CommandLine ParseCommandLine(const std::vector<std::string>& args);

}  // namespace shardmax
