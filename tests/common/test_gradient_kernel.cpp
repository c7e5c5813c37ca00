// The fast gradient kernel against the straightforward double-precision reference, for every
// storage type, loss and weighting, at sizes that exercise every remainder path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "common/gradient_kernel.hpp"
#include "common/random.hpp"
#include "tests/random_problem.hpp"

namespace shardmax {
namespace {

using ByteMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Random rows stored three ways, with the labels, 0/1 targets, sample weights and model of
// testing::RandomProblem.
struct Problem : testing::RandomProblem {
  ByteMatrix bytes;        // uint8 storage; means bytes / 255
  Matrix doubles;          // float64 storage
  FeatureMatrix as_float;  // what the kernel computes with: float32 values
};

enum class Storage { kFloat32, kFloat64, kUint8 };

std::string Name(Storage storage) {
  switch (storage) {
    case Storage::kFloat32:
      return "float32";
    case Storage::kFloat64:
      return "float64";
    case Storage::kUint8:
      return "uint8";
  }
  return "?";
}

Problem RandomProblem(Eigen::Index rows, Eigen::Index dims, Eigen::Index classes, Storage storage,
                      std::uint64_t seed) {
  // Logits of a few units whatever D, as in training.
  const double scale = (storage == Storage::kUint8 ? 2.0 : 1.0) / std::sqrt(double(dims));
  Problem problem{testing::MakeRandomProblem(rows, dims, classes, seed, scale, 0.3), {}, {}, {}};
  // The float32 values each storage means (as the reader turns them into float32); the
  // float64 rows hold values exact in float32, so that the reference sees the same numbers.
  if (storage == Storage::kUint8) {
    SplitMix64 generator(seed + 1);
    problem.bytes.resize(rows, dims);
    for (Eigen::Index i = 0; i < problem.bytes.size(); ++i) {
      problem.bytes.data()[i] = static_cast<std::uint8_t>(generator.Below(256));
    }
    problem.as_float = problem.bytes.cast<float>() * (1.0f / 255.0f);
  } else {
    problem.as_float = problem.features;
  }
  problem.doubles = problem.as_float.cast<double>();
  return problem;
}

RowBlock ScoringBlock(const Problem& problem, const Loss& loss, bool weighted) {
  const bool multi_label = loss.is_multi_label();
  return RowBlock{Eigen::Map<const FeatureMatrix>(problem.as_float.data(), problem.as_float.rows(),
                                                  problem.as_float.cols()),
                  multi_label ? std::span<const Label>() : std::span<const Label>(problem.labels),
                  weighted ? std::span<const double>(problem.sample_weights) : std::span<const double>(),
                  Eigen::Map<const TargetMatrix>(problem.targets.data(),
                                                 multi_label ? problem.targets.rows() : 0,
                                                 multi_label ? problem.targets.cols() : 0)};
}

GradientSums Fast(const Problem& problem, Storage storage, const Loss& loss, const RowBlock& block,
                  Precision precision = Precision::kFloat32) {
  GradientSums sums(problem.model.classes(), problem.model.features());
  const Eigen::Index rows = problem.as_float.rows();
  const Eigen::Index cols = problem.as_float.cols();
  switch (storage) {
    case Storage::kFloat32:
      AccumulateBlock(loss, problem.model, block, &sums, precision);
      break;
    case Storage::kFloat64:
      AccumulateDenseRows(loss, problem.model,
                          DenseRows<double>{problem.doubles.data(), rows, cols}, block, &sums,
                          precision);
      break;
    case Storage::kUint8:
      AccumulateDenseRows(loss, problem.model,
                          DenseRows<std::uint8_t>{problem.bytes.data(), rows, cols}, block, &sums,
                          precision);
      break;
  }
  return sums;
}

double RelativeDifference(const Eigen::Ref<const Vector>& fast,
                          const Eigen::Ref<const Vector>& reference) {
  return (fast - reference).norm() / reference.norm();
}

struct Shape {
  Eigen::Index rows;
  Eigen::Index dims;
  Eigen::Index classes;
};

// Rows not a multiple of the 64-row sub-block, nor of the 4 (or 2) rows of a logit tile;
// columns not a multiple of the vector width, and a whole number of AVX-512 packets (16); logit
// tiles of 2, 3, 4 + 3, 5 + 5, 6 + 6 and 5 + 4 + 4 classes; dW tiles of a whole 12 classes and a
// partial one; and the many-class GEMM path over more than one 512-row sub-block.
const Shape kShapes[] = {{203, 37, 2},  {97, 20, 3},   {66, 17, 7},
                         {130, 33, 10}, {33, 16, 12},  {65, 50, 13},
                         {7, 3, 1 + kFusedMaxClasses}, {600, 70, 1000}};

// float32 products: within 1e-6 (relative) of the reference; float64: within 1e-12.
TEST(GradientKernel, MatchesTheReferenceForEveryStorageLossAndWeighting) {
  for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
    const double tolerance = precision == Precision::kFloat32 ? 1e-6 : 1e-12;
    for (const Shape& shape : kShapes) {
      for (const Storage storage : {Storage::kFloat32, Storage::kFloat64, Storage::kUint8}) {
        const Problem problem =
            RandomProblem(shape.rows, shape.dims, shape.classes, storage, 7 + shape.classes);
        for (const char* loss_name : {"softmax", "squared", "hinge", "sigmoid"}) {
          const auto loss = MakeLoss(loss_name);
          for (const bool weighted : {false, true}) {
            SCOPED_TRACE(::testing::Message()
                         << shape.rows << " x " << shape.dims << ", K = " << shape.classes << ", "
                         << Name(storage) << ", " << loss_name << (weighted ? ", weighted" : "")
                         << (precision == Precision::kFloat32 ? ", float32" : ", float64"));
            const RowBlock block = ScoringBlock(problem, *loss, weighted);
            const GradientSums fast = Fast(problem, storage, *loss, block, precision);
            GradientSums reference(shape.classes, shape.dims);
            AccumulateBlockReference(*loss, problem.model, block, &reference);

            EXPECT_NEAR(fast.loss_sum(), reference.loss_sum(),
                        tolerance * std::abs(reference.loss_sum()));
            const auto fast_weights = fast.weights().reshaped<Eigen::RowMajor>();
            const auto reference_weights = reference.weights().reshaped<Eigen::RowMajor>();
            EXPECT_LE(RelativeDifference(fast_weights, reference_weights), tolerance);
            EXPECT_LE(RelativeDifference(fast.bias(), reference.bias()), tolerance);
            EXPECT_EQ(fast.count(), reference.count());
            EXPECT_EQ(fast.rows(), reference.rows());
          }
        }
      }
    }
  }
}

// The bits depend on the block's values only: not on where in memory they sit (unaligned
// loads, no alignment-dependent paths), nor on what was computed before.
TEST(GradientKernel, SameRowsAtAnotherAddressGiveTheSameBits) {
  for (const Shape& shape : kShapes) {
    const Problem problem =
        RandomProblem(shape.rows, shape.dims, shape.classes, Storage::kFloat32, 3);
    const auto loss = MakeLoss("softmax");
    const RowBlock block = ScoringBlock(problem, *loss, true);
    GradientSums first = Fast(problem, Storage::kFloat32, *loss, block);

    std::vector<float> shifted(static_cast<std::size_t>(problem.as_float.size()) + 1);
    std::copy(problem.as_float.data(), problem.as_float.data() + problem.as_float.size(),
              shifted.begin() + 1);
    const RowBlock moved{
        Eigen::Map<const FeatureMatrix>(shifted.data() + 1, shape.rows, shape.dims), block.labels,
        block.weights, block.targets};
    GradientSums second(shape.classes, shape.dims);
    AccumulateBlock(*loss, problem.model, moved, &second);
    for (std::size_t i = 0; i < first.buffer().size(); ++i) {
      ASSERT_EQ(first.buffer()[i], second.buffer()[i])
          << "K = " << shape.classes << ", entry " << i;
    }
  }
}

// With a grid (--reproducible's steps): every dW entry is a multiple of the grid, within half a
// grid step per sub-block of the sums without one, and the bits do not depend on the address
// on either path (register tiles, and Eigen's products, also for one row, where Eigen would
// take its alignment-dependent GEMV), in float32 and float64.
TEST(GradientKernel, GridSumsStayOnTheGridAtAnyAddress) {
  const auto loss = MakeLoss("softmax");
  for (const Eigen::Index classes : {Eigen::Index{10}, 1 + kFusedMaxClasses}) {
    for (const Eigen::Index rows : {Eigen::Index{1}, Eigen::Index{11}, Eigen::Index{130}}) {
      for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
        const Problem problem = RandomProblem(rows, 37, classes, Storage::kFloat32, 9);
        const RowBlock block = ScoringBlock(problem, *loss, false);
        // |sum_i g_ik x_ij| <= rows max|x| (softmax: |g| <= 1).
        const GridScale grid = GridScale::ForBound(
            static_cast<double>(rows) * problem.as_float.cwiseAbs().maxCoeff());
        GradientSums plain(classes, 37);
        AccumulateBlock(*loss, problem.model, block, &plain, precision);
        // dW into a grid sum, read back into a GradientSums' dW.
        const auto grid_sum = [&](DenseRows<float> features, const RowBlock& scoring) {
          std::vector<std::int64_t> entries(static_cast<std::size_t>(classes * 37));
          WeightGridSum weight_grid{grid, entries};
          GradientSums sums(classes, 37);
          AccumulateDenseRows(*loss, problem.model, features, scoring, &sums, precision,
                              &weight_grid);
          EXPECT_EQ(GridStepsToValues(entries, weight_grid.added, grid,
                                      sums.buffer().subspan(0, entries.size())),
                    0);
          return sums;
        };
        const GradientSums on_grid =
            grid_sum(DenseRows<float>{problem.as_float.data(), rows, 37}, block);

        std::vector<float> shifted(static_cast<std::size_t>(problem.as_float.size()) + 1);
        std::copy(problem.as_float.data(), problem.as_float.data() + problem.as_float.size(),
                  shifted.begin() + 1);
        const RowBlock moved{Eigen::Map<const FeatureMatrix>(shifted.data() + 1, rows, 37),
                             block.labels, block.weights, block.targets};
        const GradientSums moved_sums =
            grid_sum(DenseRows<float>{shifted.data() + 1, rows, 37}, moved);

        const double sub_blocks = std::ceil(static_cast<double>(rows) / kSubBlockRows);
        for (Eigen::Index i = 0; i < on_grid.weights().size(); ++i) {
          const double value = on_grid.weights().data()[i];
          ASSERT_EQ(value, moved_sums.weights().data()[i]) << "K = " << classes << ", " << i;
          ASSERT_EQ(std::fmod(value, grid.grid), 0.0) << value;
          ASSERT_LE(std::abs(value - plain.weights().data()[i]), sub_blocks * grid.grid / 2);
        }
      }
    }
  }
}

// Rows picked where they lie (DenseRows::picked, a mini-batch with no gathered copy) give the
// bits of the same rows gathered first, for every storage, both precisions, and both paths.
TEST(GradientKernel, PickedRowsGiveTheBitsOfTheGatheredRows) {
  const auto loss = MakeLoss("softmax");
  // Every shape but K = 1000: K = 33 and float64 products already take Eigen's path.
  for (const Shape& shape : std::span(kShapes).first(std::size(kShapes) - 1)) {
    for (const Storage storage : {Storage::kFloat32, Storage::kFloat64, Storage::kUint8}) {
      for (const Precision precision : {Precision::kFloat32, Precision::kFloat64}) {
        SCOPED_TRACE(::testing::Message()
                     << "K = " << shape.classes << ", " << Name(storage)
                     << (precision == Precision::kFloat32 ? ", f32" : ", f64"));
        const Problem problem = RandomProblem(shape.rows, shape.dims, shape.classes, storage, 11);
        // Every third row from the end, some twice: a shuffled batch's rows.
        std::vector<std::int64_t> picked;
        for (Eigen::Index i = shape.rows - 1; i >= 0; i -= 3) picked.push_back(i);
        picked.push_back(0);
        const auto n = static_cast<Eigen::Index>(picked.size());
        Problem gathered = RandomProblem(n, shape.dims, shape.classes, storage, 11);
        gathered.model = problem.model;
        std::vector<Label> labels;
        for (Eigen::Index i = 0; i < n; ++i) {
          const std::int64_t row = picked[static_cast<std::size_t>(i)];
          gathered.as_float.row(i) = problem.as_float.row(row);
          gathered.doubles.row(i) = problem.doubles.row(row);
          if (storage == Storage::kUint8) gathered.bytes.row(i) = problem.bytes.row(row);
          labels.push_back(problem.labels[static_cast<std::size_t>(row)]);
        }
        gathered.labels = labels;
        const RowBlock gathered_block = ScoringBlock(gathered, *loss, false);
        const GradientSums expected = Fast(gathered, storage, *loss, gathered_block, precision);

        GradientSums sums(shape.classes, shape.dims);
        const RowBlock scoring{Eigen::Map<const FeatureMatrix>(nullptr, n, 0), labels};
        const Eigen::Index d = shape.dims;
        switch (storage) {
          case Storage::kFloat32:
            AccumulateDenseRows(*loss, problem.model,
                                DenseRows<float>{problem.as_float.data(), n, d, picked.data()},
                                scoring, &sums, precision);
            break;
          case Storage::kFloat64:
            AccumulateDenseRows(*loss, problem.model,
                                DenseRows<double>{problem.doubles.data(), n, d, picked.data()},
                                scoring, &sums, precision);
            break;
          case Storage::kUint8:
            AccumulateDenseRows(
                *loss, problem.model,
                DenseRows<std::uint8_t>{problem.bytes.data(), n, d, picked.data()}, scoring,
                &sums, precision);
            break;
        }
        for (std::size_t i = 0; i < sums.buffer().size(); ++i) {
          ASSERT_EQ(sums.buffer()[i], expected.buffer()[i]) << "entry " << i;
        }
      }
    }
  }
}

// A step cut into parts (--reproducible): each part's sums come out as if the part were
// computed alone, whatever other parts share the call, so the parts held by one rank or by
// several give the same bits: the parts together, each alone, and split after the third as on
// two ranks. Rows picked in shuffled order.
void ExpectEachPartGivesItsOwnBits(const std::vector<std::int64_t>& parts, Eigen::Index classes,
                                   Eigen::Index dims, Precision precision, Storage storage) {
  SCOPED_TRACE(::testing::Message() << "K = " << classes << ", D = " << dims << ", "
                                    << Name(storage)
                                    << (precision == Precision::kFloat32 ? ", f32" : ", f64"));
  const auto loss = MakeLoss("softmax");
  const std::int64_t total = std::accumulate(parts.begin(), parts.end(), std::int64_t{0});
  const Problem problem = RandomProblem(total + 9, dims, classes, storage, 21);
  std::vector<std::int64_t> picked(static_cast<std::size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) {
    picked[static_cast<std::size_t>(i)] = (i * 7) % (total + 9);
  }
  std::vector<Label> labels;
  for (const std::int64_t row : picked) {
    labels.push_back(problem.labels[static_cast<std::size_t>(row)]);
  }
  const RowBlock scoring{Eigen::Map<const FeatureMatrix>(nullptr, total, 0), labels};
  const GridScale grid = GridScale::ForBound(static_cast<double>(total));  // |g x| <= 1
  const auto dense_rows = [&](auto* data, std::int64_t first, std::int64_t rows) {
    return DenseRows<std::remove_const_t<std::remove_pointer_t<decltype(data)>>>{
        data, rows, dims, picked.data() + first};
  };

  // The parts [begin, end) in one call: dW (a grid sum) and each part's small sums.
  const auto run = [&](std::size_t begin, std::size_t end, std::vector<Vector>* small) {
    GradientSums sums(classes, dims);
    std::int64_t first = 0;
    for (std::size_t p = 0; p < begin; ++p) first += parts[p];
    std::int64_t rows = 0;
    for (std::size_t p = begin; p < end; ++p) rows += parts[p];
    const auto take = [&](GradientSums* part) {
      Vector values(classes + 3);
      values << part->bias(), part->loss_sum(), part->count(), part->rows();
      small->push_back(values);
      part->bias().setZero();
      part->loss_sum() = part->count() = part->rows() = 0.0;
    };
    const auto part_rows = std::span(parts).subspan(begin, end - begin);
    const RowBlock slice = SliceRows(scoring, first, rows);
    std::vector<std::int64_t> entries(static_cast<std::size_t>(classes * dims));
    WeightGridSum weight_grid{grid, entries};
    if (storage == Storage::kFloat32) {
      AccumulateDenseParts(*loss, problem.model, dense_rows(problem.as_float.data(), first, rows),
                           slice, part_rows, &weight_grid, take, &sums, precision);
    } else {
      AccumulateDenseParts(*loss, problem.model, dense_rows(problem.bytes.data(), first, rows),
                           slice, part_rows, &weight_grid, take, &sums, precision);
    }
    // Read back: the kernel leaves sums.weights() alone.
    EXPECT_TRUE(sums.weights().isZero());
    EXPECT_EQ(GridStepsToValues(entries, weight_grid.added, grid,
                                sums.buffer().subspan(0, entries.size())),
              0);
    return Matrix(sums.weights());
  };
  std::vector<Vector> together_small;
  const Matrix together = run(0, parts.size(), &together_small);
  std::vector<Vector> alone_small;
  Matrix alone_sum = Matrix::Zero(classes, dims);
  for (std::size_t p = 0; p < parts.size(); ++p) alone_sum += run(p, p + 1, &alone_small);
  std::vector<Vector> split_small;
  Matrix split_sum = run(0, 3, &split_small);  // in turn: the parts' order in split_small
  split_sum += run(3, parts.size(), &split_small);

  // One take per part with rows (empty parts add nothing).
  const auto non_empty = static_cast<std::size_t>(
      std::count_if(parts.begin(), parts.end(), [](std::int64_t rows) { return rows > 0; }));
  ASSERT_EQ(together_small.size(), non_empty);
  ASSERT_EQ(together_small.size(), alone_small.size());
  ASSERT_EQ(together_small.size(), split_small.size());
  for (std::size_t p = 0; p < together_small.size(); ++p) {
    for (Eigen::Index i = 0; i < together_small[p].size(); ++i) {
      ASSERT_EQ(together_small[p][i], alone_small[p][i]) << "part " << p << ", " << i;
      ASSERT_EQ(together_small[p][i], split_small[p][i]) << "part " << p << ", " << i;
    }
  }
  // Grid sums are exact: the parts' dW add up to the same bits in any grouping.
  for (Eigen::Index i = 0; i < together.size(); ++i) {
    ASSERT_EQ(together.data()[i], alone_sum.data()[i]) << "dW entry " << i;
    ASSERT_EQ(together.data()[i], split_sum.data()[i]) << "dW entry " << i;
    ASSERT_EQ(std::fmod(together.data()[i], grid.grid), 0.0);
  }
  // And they are the gradient: the plain kernel's sums over the same rows, to float32's
  // rounding plus half a grid step per part.
  GradientSums plain(classes, dims);
  if (storage == Storage::kFloat32) {
    AccumulateDenseRows(*loss, problem.model, dense_rows(problem.as_float.data(), 0, total),
                        scoring, &plain, precision);
  } else {
    AccumulateDenseRows(*loss, problem.model, dense_rows(problem.bytes.data(), 0, total),
                        scoring, &plain, precision);
  }
  const Matrix plain_weights = plain.weights();
  EXPECT_LE(RelativeDifference(together.reshaped<Eigen::RowMajor>(),
                               plain_weights.reshaped<Eigen::RowMajor>()),
            1e-6);
}

// Few classes in float32 (register tiles, part by part) and Eigen's path (K = 40 and 1000,
// over two column blocks and a tail; and float64: the logits of all parts in one product),
// float32 and uint8 rows, with parts of 0, 1 and more rows than a padded row group.
TEST(GradientKernel, EachPartGivesTheBitsOfThePartAlone) {
  const std::vector<std::int64_t> parts = {11, 0, 5, 1, 17, 20, 3, 16};
  for (const Storage storage : {Storage::kFloat32, Storage::kUint8}) {
    ExpectEachPartGivesItsOwnBits(parts, 10, 37, Precision::kFloat32, storage);
    ExpectEachPartGivesItsOwnBits(parts, 10, 37, Precision::kFloat64, storage);
    ExpectEachPartGivesItsOwnBits(parts, 1000, 83, Precision::kFloat32, storage);
    ExpectEachPartGivesItsOwnBits(parts, 40, 300, Precision::kFloat32, storage);
    // Few classes: runs of whole parts up to a sub-block (64 rows), a longer part alone.
    ExpectEachPartGivesItsOwnBits({70, 2, 64, 0, 9, 60, 5}, 10, 37, Precision::kFloat32,
                                  storage);
  }
}

// A step of more than kGemmGroupRows rows runs on Eigen's path in groups of whole parts; the
// grouping changes no bit.
TEST(GradientKernel, LargeStepsInGroupsOfPartsGiveTheSameBits) {
  const std::vector<std::int64_t> parts = {1500, 0, 700, 900, 3};
  for (const Storage storage : {Storage::kFloat32, Storage::kUint8}) {
    ExpectEachPartGivesItsOwnBits(parts, 40, 9, Precision::kFloat32, storage);
  }
}

TEST(GradientKernel, AllOneWeightsGiveTheUnweightedBits) {
  const Problem problem = RandomProblem(77, 40, 10, Storage::kFloat32, 5);
  const auto loss = MakeLoss("softmax");
  const std::vector<double> ones(77, 1.0);
  RowBlock weighted = ScoringBlock(problem, *loss, false);
  GradientSums unweighted = Fast(problem, Storage::kFloat32, *loss, weighted);
  weighted.weights = ones;
  GradientSums all_one = Fast(problem, Storage::kFloat32, *loss, weighted);
  for (std::size_t i = 0; i < all_one.buffer().size(); ++i) {
    ASSERT_EQ(all_one.buffer()[i], unweighted.buffer()[i]) << "entry " << i;
  }
}

TEST(GradientKernel, EmptyBlockAddsNothing) {
  const Problem problem = RandomProblem(0, 5, 3, Storage::kFloat32, 1);
  const auto loss = MakeLoss("softmax");
  GradientSums sums(3, 5);
  AccumulateBlock(*loss, problem.model, ScoringBlock(problem, *loss, false), &sums);
  for (const double value : sums.buffer()) EXPECT_EQ(value, 0.0);
}

}  // namespace
}  // namespace shardmax
