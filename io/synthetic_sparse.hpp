// A synthetic text-like dataset with sparse rows (`shardmax gen --sparse`): D columns are a
// vocabulary whose word frequencies follow Zipf's law, and each class has topic words of its own.
//   Zipf rank     r = floor((D + 1)^u), u ~ U(0, 1): P(r) = log((r+1)/r) / log(D+1) ~ 1/r
//   y ~ Uniform{0..K-1}   (multi-label: t_k ~ Bernoulli(1/2) for each of the K labels)
//   each draw:    with probability kTopicShare a topic word of the row's class (multi-label:
//                 of one of its labels, chosen uniformly; none on: no topic words), column
//                 hash(seed, k, r) mod D; otherwise the common word, column r - 1
//   draws repeat until the row has `m` distinct columns (or 20 m draws); a column's value is
//   its count, and the row is scaled to unit Euclidean norm, like a normalized TF vector.
// Every row comes from its own counter-seeded stream, so the file depends only on the seed (not
// on the chunk size), and it is written a chunk at a time: it may be larger than memory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/config.hpp"
#include "common/types.hpp"

namespace shardmax {

inline constexpr double kTopicShare = 0.3;

// One row of the sparse synthetic data: sorted columns, their values, and the label (single-
// label) or K targets (multi-label).
struct SparseSyntheticRow {
  std::vector<std::int64_t> columns;
  std::vector<float> values;
  Label label = 0;
  std::vector<std::uint8_t> targets;
};

// Row `row` of split `split` (0 train, 1 validation).
void GenerateSparseRow(const SyntheticConfig& config, int split, std::int64_t row,
                       SparseSyntheticRow* out);

// Writes config.output_path (and the validation file when set) in the sparse layout, and the
// training rows as LIBSVM text to config.libsvm_output_path when set: indices from 1, the class
// label, or for multi-label rows the comma-separated labels that are on (the multi-label LIBSVM
// convention; a row with none starts with an empty label list).
void WriteSparseSyntheticDataset(const SyntheticConfig& config);

}  // namespace shardmax
