// A synthetic multi-class dataset: K Gaussian blobs in D dimensions.
//   mu_k = s * g_k / ||g_k|| * sqrt(2),  g_k ~ N(0, I_D)    (class means; s = separation)
//   y ~ Uniform{0..K-1},  x = mu_y + e,  e ~ N(0, I_D)
// Multi-label (SyntheticConfig::multi_label): each of the K labels is on independently with
// probability 1/2, t_k ~ Bernoulli(1/2), and x = sum_{k: t_k = 1} mu_k + e: a row carries the
// mean of every label it has. Labels are then written as an N x K uint8 matrix.
// Every row comes from its own counter-seeded stream, so the file depends only on the seed
// (not on the chunk size), and is written chunk by chunk: it may be larger than memory.
#pragma once

#include "common/config.hpp"
#include "common/types.hpp"
#include "io/hdf5_file.hpp"

namespace shardmax {

// Rows [first_row, first_row + features.rows()) of split `split` (0 train, 1 validation).
void GenerateSyntheticRows(const SyntheticConfig& config, int split, std::int64_t first_row,
                           Eigen::Ref<Matrix> features, std::span<Label> labels);

// The multi-label counterpart: features and their N x K 0/1 targets.
void GenerateMultiLabelRows(const SyntheticConfig& config, int split, std::int64_t first_row,
                            Eigen::Ref<Matrix> features, Eigen::Ref<TargetMatrix> targets);

// The labels dataset of a generated file (dense or sparse): N int32 class labels, or N x K
// uint8 targets for multi-label data, chunked by config.chunk_rows.
h5::Handle CreateSyntheticLabels(const h5::Handle& file, const SyntheticConfig& config,
                                 std::int64_t rows);

// Writes config.output_path (and config.validation_output_path when set) in the data format.
void WriteSyntheticDataset(const SyntheticConfig& config);

}  // namespace shardmax
