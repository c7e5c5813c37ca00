// The arithmetic of a gradient pass's two matrix products (common/gradient_kernel.hpp).
#pragma once

namespace shardmax {

// float32: twice the lanes per vector, the sums within about 1e-7 (relative) of double's;
// enough for mini-batch solvers, whose own noise is far larger. float64: for solvers that
// compare objective values closely (L-BFGS's line search).
enum class Precision { kFloat32, kFloat64 };

}  // namespace shardmax
