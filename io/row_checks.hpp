// The checks every row read from a data file passes, shared by the in-memory reader
// (io/dataset_reader.hpp) and the streamed one (io/shard_stream.hpp), so both refuse the same
// rows with the same message. `first_row` is the global index of the first row given;
// `context` names the file and dataset.
#pragma once

#include <cstdint>
#include <string>

#include "common/types.hpp"

namespace shardmax {

// Float features: every value finite, else UserError naming the row and column.
void CheckFiniteFeatures(const float* values, std::int64_t rows, std::int64_t cols,
                         std::int64_t first_row, const std::string& context);

// 1-D labels read as int64: each a class index 0..INT32_MAX, converted into `out`.
void ConvertLabels(const std::int64_t* raw, std::int64_t rows, std::int64_t first_row,
                   const std::string& context, Label* out);

// 2-D labels read as double (rows x columns): each exactly 0 or 1, converted into `out`.
void ConvertTargets(const double* raw, std::int64_t rows, std::int64_t columns,
                    std::int64_t first_row, const std::string& context, std::uint8_t* out);

// Sample weights: each finite and >= 0.
void CheckSampleWeights(const double* weights, std::int64_t rows, std::int64_t first_row,
                        const std::string& context);

}  // namespace shardmax
