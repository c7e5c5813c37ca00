// `shardmax evaluate`: a model (or checkpoint) against a labelled data file, sharded over the
// ranks: loss and objective, accuracy, top-k accuracy, per-class precision, recall and F1 with
// macro and weighted averages, and the confusion matrix; for a multi-label model, per-label
// precision, recall and F1 at --threshold with micro and macro averages, subset accuracy and
// Hamming loss. Printed by rank 0 and, with --json, written as JSON. Unweighted: every row
// counts once, whatever weights trained the model.
#pragma once

#include <string>
#include <vector>

#include "common/mpi_layer.hpp"

namespace shardmax {

// Classes up to which the terminal output shows the confusion matrix (the JSON always has it).
inline constexpr std::int64_t kMaxPrintedConfusionClasses = 20;

// A CommandFunction (trainer/commands.hpp): parses `args` and returns the exit status.
int RunEvaluate(const Communicator& comm, const std::vector<std::string>& args);

}  // namespace shardmax
