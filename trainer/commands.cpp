#include "trainer/commands.hpp"

#include "common/collective.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/stop_signal.hpp"
#include "io/synthetic.hpp"
#include "io/synthetic_sparse.hpp"
#include "trainer/convert_command.hpp"
#include "trainer/evaluate_command.hpp"
#include "trainer/inspect_command.hpp"
#include "trainer/options.hpp"
#include "trainer/predict_command.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

std::string DescribeMetrics(const Metrics& metrics) {
  return StrCat("loss ", FormatFixed(metrics.loss, 6), "  objective ",
                FormatFixed(metrics.objective, 6), "  accuracy ",
                FormatFixed(100.0 * metrics.accuracy, 2), "%  (", metrics.rows, " rows)");
}

// After a stop signal: where training stopped and how to go on, then the dedicated status,
// which launch/slurm/ answers by requeueing the job.
int ReportStoppedBySignal(const TrainResult& result) {
  LogInfo(StrCat("stopped by ", StopSignalName(result.stop_signal), " at epoch ",
                 result.position.epoch + 1, ", step ", result.position.global_step,
                 "; continue with --resume auto (exit status ", kExitStoppedToResume, ")"));
  LogInfo("checkpoint: " + (result.last_checkpoint.empty() ? std::string("none written")
                                                           : result.last_checkpoint));
  LogInfo("metrics log: " + result.metrics_log);
  return kExitStoppedToResume;
}

int RunTrain(const Communicator& comm, const TrainConfig& config) {
  InstallStopSignalHandlers();
  const TrainResult result = Train(comm, config);
  if (result.stop_signal != 0) return ReportStoppedBySignal(result);
  if (result.stopped_at_max_steps) {
    LogInfo(StrCat("stopped at step ", result.position.global_step,
                   " (--max-steps); continue with --resume auto"));
  }
  LogInfo("final train:      " + DescribeMetrics(result.train));
  if (result.validation) LogInfo("final validation: " + DescribeMetrics(*result.validation));
  LogInfo("checkpoint: " + (result.last_checkpoint.empty() ? std::string("none written")
                                                           : result.last_checkpoint));
  if (!result.model_path.empty()) LogInfo("model: " + result.model_path);
  LogInfo("metrics log: " + result.metrics_log);
  return kExitOk;
}

int RunGenerate(const Communicator& comm, const SyntheticConfig& config) {
  // One writer is enough: the generator streams chunk by chunk.
  RunAndAgree(comm, [&] {
    if (!comm.is_root()) return;
    if (config.sparse_row_nonzeros > 0) {
      WriteSparseSyntheticDataset(config);
    } else {
      WriteSyntheticDataset(config);
    }
  });
  LogInfo(StrCat("wrote ", config.rows, " rows x ", config.features, " features, ",
                 config.classes, config.multi_label ? " labels (multi-label)" : " classes",
                 " to '", config.output_path, "'"));
  if (!config.validation_output_path.empty()) {
    LogInfo(StrCat("wrote ", config.validation_rows, " validation rows to '",
                   config.validation_output_path, "'"));
  }
  return kExitOk;
}

struct CommandEntry {
  const char* name;
  CommandFunction run;
};

// Commands that parse their own options; list each in kUsage (options.cpp) as well.
constexpr CommandEntry kCommands[] = {
    {"convert", RunConvert},
    {"inspect", RunInspect},
    {"evaluate", RunEvaluate},
    {"predict", RunPredict},
};

}  // namespace

int RunCommandLine(const Communicator& comm, const std::vector<std::string>& args) {
  for (const CommandEntry& entry : kCommands) {
    if (entry.run != nullptr && !args.empty() && args[0] == entry.name) {
      return entry.run(comm, std::vector<std::string>(args.begin() + 1, args.end()));
    }
  }
  const CommandLine parsed = ParseCommandLine(args);
  switch (parsed.command) {
    case Command::kTrain:
      return RunTrain(comm, parsed.train);
    case Command::kGenerate:
      return RunGenerate(comm, parsed.synthetic);
    case Command::kVersion:
      LogInfo("shardmax " SHARDMAX_VERSION);
      return kExitOk;
    case Command::kHelp:
      break;
  }
  LogInfo(parsed.help_text);
  return kExitOk;
}

}  // namespace shardmax
