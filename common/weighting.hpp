// What training derives from the rows per class: row weights of the weighted objective
// (common/objective.hpp) and the log class priors.
//   w_i = c[y_i] * s_i         c: class weights, s: sample weights (each all 1 when absent)
//   balanced class weights:    c_k = N / (K n_k)    (scikit-learn's "balanced": every class's
//                                                    rows weigh N / K in all)
//   log prior bias:            b_k = log(n_k / N)   (softmax: p = the class frequencies at W = 0)
// n_k counts the rows of class k and N all rows, both summed over every rank.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/types.hpp"

namespace shardmax {

// c_k = N / (K n_k); a class without rows gets 0 (no row uses it).
Vector BalancedClassWeights(std::span<const std::int64_t> rows_per_class);

// w_i = class_weights[labels[i]] * sample_weights[i], where an empty class_weights or
// sample_weights stands for all 1; both empty give an empty result (no weighting).
std::vector<double> RowWeights(std::span<const Label> labels, const Vector& class_weights,
                               std::span<const double> sample_weights);

// b_k = log(n_k / N); every class must have rows (the caller reports one that has none).
Vector LogClassPriors(std::span<const std::int64_t> rows_per_class);

}  // namespace shardmax
