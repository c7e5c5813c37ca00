#include "io/row_checks.hpp"

#include <climits>
#include <cmath>

#include "common/error.hpp"
#include "common/logging.hpp"

namespace shardmax {

void CheckFiniteFeatures(const float* values, std::int64_t rows, std::int64_t cols,
                         std::int64_t first_row, const std::string& context) {
  const Eigen::Map<const FeatureMatrix> block(values, rows, cols);
  // x * 0 is 0 for a finite x and NaN otherwise: one vectorized sum over the whole block says
  // whether any value is not finite (the order of a sum of zeros does not matter), and only
  // then is the block searched row by row. A streamed pass checks every chunk it reads.
  if (!std::isnan((block.array() * 0.0f).sum())) return;
  for (Eigen::Index i = 0; i < block.rows(); ++i) {
    if (block.row(i).allFinite()) continue;
    Eigen::Index column = 0;
    while (std::isfinite(block(i, column))) ++column;
    throw UserError(StrCat(context, ": row ", first_row + i, ", column ", column, " is ",
                           std::isnan(block(i, column)) ? "NaN" : "infinite"));
  }
}

void ConvertLabels(const std::int64_t* raw, std::int64_t rows, std::int64_t first_row,
                   const std::string& context, Label* out) {
  for (std::int64_t i = 0; i < rows; ++i) {
    if (raw[i] < 0 || raw[i] > INT32_MAX) {
      throw UserError(StrCat(context, ": row ", first_row + i, " has label ", raw[i],
                             "; labels must be class indices 0..K-1"));
    }
    out[i] = static_cast<Label>(raw[i]);
  }
}

void ConvertTargets(const double* raw, std::int64_t rows, std::int64_t columns,
                    std::int64_t first_row, const std::string& context, std::uint8_t* out) {
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t k = 0; k < columns; ++k) {
      const double value = raw[i * columns + k];
      if (value != 0.0 && value != 1.0) {
        throw UserError(StrCat(context, ": row ", first_row + i, ", column ", k, " is ", value,
                               "; multi-label targets must be 0 or 1"));
      }
      out[i * columns + k] = value == 1.0 ? 1 : 0;
    }
  }
}

void CheckSampleWeights(const double* weights, std::int64_t rows, std::int64_t first_row,
                        const std::string& context) {
  for (std::int64_t i = 0; i < rows; ++i) {
    if (std::isfinite(weights[i]) && weights[i] >= 0.0) continue;
    throw UserError(StrCat(context, ": row ", first_row + i, " has weight ", weights[i],
                           "; sample weights must be finite and >= 0"));
  }
}

}  // namespace shardmax
