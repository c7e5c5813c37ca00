// shardmax_bench: the measurements behind launch/bench.sh, one line of `key value` pairs per
// command (the script makes the table). Times are the best of the repeats.
//   shardmax_bench probe                    float32 GEMM peak (Eigen, 1024^3) and read bandwidth
//   shardmax_bench hugepages FILE           the share of FILE in the page cache as 2 MiB folios
//   shardmax_bench pass FILE [REPEATS]      full gradient passes over FILE (under mpirun): the
//                                           fast kernel and the double reference, all-reduce
//                                           timed apart; the kernel on the shard held as
//                                           uint8, float32 and float64
//   shardmax_bench threads FILE REPEATS T   full passes as L-BFGS takes them
//                                           (ComputeShardedObjective, float32 products) on T
//                                           threads per rank and on 1, the 1-thread pass
//                                           summing in place (before per-block partials), and
//                                           the peak RSS summed over the ranks
//   shardmax_bench synthetic N D K [REPEATS]  the fast kernel on N x D random float32 rows, K
//                                           classes (one process)
//   shardmax_bench steps FILE V B REPEATS [M...]
//                                           mini-batch SGD steps of global batch B (under mpirun),
//                                           the default mode against --reproducible with V
//                                           virtual shards up to each M ranks (default 8),
//                                           interleaved: the medians
//   shardmax_bench stream FILE R REPEATS    full passes as L-BFGS takes them (float64 products)
//                                           over FILE held in memory, and streamed in chunks of
//                                           R rows, read in turn, copied through HDF5 and
//                                           read in place (--stream-mmap), interleaved: the
//                                           medians
// A pass costs 4 N D K flops: 2 N D K for the logits X W^T and as many for G^T X.
#include <mpi.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/gradient_kernel.hpp"
#include "common/mpi_layer.hpp"
#include "common/random.hpp"
#include "io/dataset_reader.hpp"
#include "trainer/reproducible_objective.hpp"
#include "trainer/sharded_objective.hpp"
#include "trainer/training.hpp"

namespace shardmax {
namespace {

using Clock = std::chrono::steady_clock;
using FloatMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ByteMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Best wall time of `repeats` calls, the slowest rank's on each call.
double BestSeconds(const Communicator& comm, int repeats, const std::function<void()>& work) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    MPI_Barrier(comm.get());
    const auto start = Clock::now();
    work();
    double seconds = Seconds(start);
    MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, comm.get());
    best = std::min(best, seconds);
  }
  return best;
}

SoftmaxModel RandomModel(Eigen::Index classes, Eigen::Index features, std::uint64_t seed) {
  SplitMix64 generator(seed);
  SoftmaxModel model = SoftmaxModel::Zeros(classes, features);
  for (Eigen::Index i = 0; i < model.weights.size(); ++i) {
    model.weights.data()[i] = 0.01 * generator.Normal();
  }
  return model;
}

int Probe(const Communicator& comm) {
  const Eigen::Index n = 1024;
  FloatMatrix a = FloatMatrix::Random(n, n);
  FloatMatrix b = FloatMatrix::Random(n, n);
  FloatMatrix c(n, n);
  const double gemm = BestSeconds(comm, 20, [&] { c.noalias() = a * b; });
  // Read bandwidth: sum 256 MB of floats, far beyond the caches.
  std::vector<float> big(64 * 1024 * 1024, 1.0f);
  volatile float sink = 0.0f;
  const double read = BestSeconds(comm, 20, [&] {
    sink =
        Eigen::Map<const Eigen::VectorXf>(big.data(), static_cast<Eigen::Index>(big.size())).sum();
  });
  static_cast<void>(sink);
  if (comm.is_root()) {
    std::printf("gemm_gflops %.1f read_gbs %.1f\n", 2.0 * n * n * n / gemm / 1e9,
                static_cast<double>(big.size() * sizeof(float)) / read / 1e9);
  }
  return 0;
}

// The kernel alone over a shard's rows held as T, in blocks of kBlockRows.
template <typename T>
double KernelSeconds(const Communicator& comm, const Loss& loss, const SoftmaxModel& model,
                     const T* data, const Shard& shard, int repeats) {
  GradientSums sums(model.classes(), model.features());
  const Eigen::Index d = shard.feature_count;
  return BestSeconds(comm, repeats, [&] {
    sums.Clear();
    for (std::int64_t begin = 0; begin < shard.rows.size(); begin += kBlockRows) {
      const std::int64_t count = std::min(kBlockRows, shard.rows.size() - begin);
      AccumulateDenseRows(loss, model, DenseRows<T>{data + begin * d, count, d},
                          shard.Block(begin, count), &sums);
    }
  });
}

int Pass(const Communicator& comm, const std::string& path, int repeats) {
  const Shard shard = ReadShard(comm, path, DatasetLayout{});
  const std::int64_t classes = CountClasses(comm, shard);
  const SoftmaxModel model = RandomModel(classes, shard.feature_count, 1);
  const auto loss = MakeLoss("softmax");

  double compute = 1e300;
  double reduce = 1e300;
  const double fast = BestSeconds(comm, repeats, [&] {
    const auto start = Clock::now();
    GradientSums sums(model.classes(), model.features());
    shard.ForEachBlock([&](const RowBlock& block) { AccumulateBlock(*loss, model, block, &sums); });
    const double computed = Seconds(start);
    const auto reduce_start = Clock::now();
    ReduceObjective(comm, &sums, model, 1e-4);
    compute = std::min(compute, computed);
    reduce = std::min(reduce, Seconds(reduce_start));
  });
  // With float64 products, as L-BFGS computes by default.
  const double float64_pass = BestSeconds(comm, repeats, [&] {
    ComputeShardedObjective(comm, *loss, model, shard, 1e-4, Precision::kFloat64);
  });
  // The same rows as uint8 (exact for a uint8 file: x = v/255), float32 and float64 (a uint8
  // file's shard holds the bytes, which the passes above read).
  const FeatureMatrix floats = DenseFeaturesAsFloat(shard.Block(0, shard.rows.size()));
  // The previous code, on float32 rows as its shards held them.
  const double reference = BestSeconds(comm, std::min(repeats, 3), [&] {
    GradientSums sums(model.classes(), model.features());
    const Eigen::Index d = shard.feature_count;
    for (std::int64_t begin = 0; begin < shard.rows.size(); begin += kBlockRows) {
      const std::int64_t count = std::min(kBlockRows, shard.rows.size() - begin);
      const RowBlock block = shard.Block(begin, count);
      AccumulateBlockReference(*loss, model,
                               RowBlock{Eigen::Map<const FeatureMatrix>(floats.data() + begin * d,
                                                                        count, d),
                                        block.labels, block.weights, block.targets},
                               &sums);
    }
    ReduceObjective(comm, &sums, model, 1e-4);
  });
  const ByteMatrix bytes = (floats * 255.0f).array().round().cast<std::uint8_t>();
  const Matrix doubles = floats.cast<double>();
  const double as_uint8 = KernelSeconds(comm, *loss, model, bytes.data(), shard, repeats);
  const double as_float32 = KernelSeconds(comm, *loss, model, floats.data(), shard, repeats);
  const double as_float64 = KernelSeconds(comm, *loss, model, doubles.data(), shard, repeats);
  // Mini-batch steps as the trainer takes them (global batch 256, split over the ranks): the
  // kernel on the batch's rows where they lie, one all-reduce; the all-reduce timed apart.
  const std::int64_t local_batch = std::max<std::int64_t>(1, 256 / comm.size());
  std::vector<std::int64_t> order(static_cast<std::size_t>(shard.rows.size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  SplitMix64 shuffle(4);  // batches of random rows, as the trainer's shuffled epochs read them
  for (std::size_t i = order.size() - 1; i > 0; --i) {
    std::swap(order[i], order[shuffle.Below(static_cast<std::uint64_t>(i + 1))]);
  }
  GatheredRows batch_rows;
  double step_reduce = 0.0;  // of the fastest repeat on this rank
  double fastest = 1e300;
  const std::int64_t steps = shard.rows.size() / local_batch;
  const double epoch = BestSeconds(comm, std::min(repeats, 5), [&] {
    const auto start = Clock::now();
    double reduce_seconds = 0.0;
    GradientSums sums(model.classes(), model.features());
    for (std::int64_t step = 0; step < steps; ++step) {
      sums.Clear();
      AccumulatePickedRows(*loss, model, shard,
                           std::span(order).subspan(static_cast<std::size_t>(step * local_batch),
                                                    static_cast<std::size_t>(local_batch)),
                           &batch_rows, &sums, Precision::kFloat32);
      const auto reduce_start = Clock::now();
      ReduceObjective(comm, &sums, model, 1e-4);
      reduce_seconds += Seconds(reduce_start);
    }
    if (Seconds(start) < fastest) {
      fastest = Seconds(start);
      step_reduce = reduce_seconds / static_cast<double>(steps);
    }
  });
  if (comm.is_root()) {
    std::printf(
        "ranks %d batch 256 steps %lld step_epoch_ms %.1f step_allreduce_us %.1f "
        "step_allreduce_share %.1f\n",
        comm.size(), static_cast<long long>(steps), epoch * 1e3, step_reduce * 1e6,
        100.0 * step_reduce * static_cast<double>(steps) / fastest);
  }
  if (comm.is_root()) {
    std::printf(
        "ranks %d rows %lld features %lld classes %lld stored %s pass_ms %.2f compute_ms %.2f "
        "allreduce_ms %.3f pass64_ms %.2f reference_ms %.1f kernel_uint8_ms %.2f kernel_float32_ms %.2f "
        "kernel_float64_ms %.2f\n",
        comm.size(), static_cast<long long>(shard.total_rows),
        static_cast<long long>(shard.feature_count), static_cast<long long>(classes),
        shard.feature_type.c_str(), fast * 1e3, compute * 1e3, reduce * 1e3, float64_pass * 1e3, reference * 1e3,
        as_uint8 * 1e3, as_float32 * 1e3, as_float64 * 1e3);
  }
  return 0;
}

// Passes with --threads: per rank, T threads against 1, and 1 thread with the per-block
// partials (ComputeShardedObjective) against the blocks summed in place (the pass before them).
int Threads(const Communicator& comm, const std::string& path, int repeats, int threads) {
  const Shard shard = ReadShard(comm, path, DatasetLayout{});
  const std::int64_t classes = CountClasses(comm, shard);
  const SoftmaxModel model = RandomModel(classes, shard.feature_count, 1);
  const auto loss = MakeLoss("softmax");
  const auto pass = [&](int pass_threads) {
    ComputeShardedObjective(comm, *loss, model, shard, 1e-4, Precision::kFloat32, pass_threads);
  };
  const auto in_place = [&] {
    GradientSums sums(model.classes(), model.features());
    shard.ForEachBlock([&](const RowBlock& block) { AccumulateBlock(*loss, model, block, &sums); });
    ReduceObjective(comm, &sums, model, 1e-4);
  };
  // Interleaved, so a busy moment on the shared cores slows both alike.
  double threaded = 1e300;
  double one_thread = 1e300;
  double summed_in_place = 1e300;
  for (int r = 0; r < repeats; ++r) {
    threaded = std::min(threaded, BestSeconds(comm, 1, [&] { pass(threads); }));
    one_thread = std::min(one_thread, BestSeconds(comm, 1, [&] { pass(1); }));
    summed_in_place = std::min(summed_in_place, BestSeconds(comm, 1, in_place));
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
  MPI_Allreduce(MPI_IN_PLACE, &rss_mb, 1, MPI_DOUBLE, MPI_SUM, comm.get());
  if (comm.is_root()) {
    std::printf(
        "ranks %d threads %d pass_ms %.2f one_thread_ms %.2f in_place_ms %.2f partials_cost %.1f "
        "rss_mb_sum %.0f\n",
        comm.size(), threads, threaded * 1e3, one_thread * 1e3, summed_in_place * 1e3,
        100.0 * (one_thread / summed_in_place - 1.0), rss_mb);
  }
  return 0;
}

// The steps that SGD takes, without the update: the default mode's (each rank's share of a
// shuffled order of its rows, AccumulatePickedRows, one all-reduce) against --reproducible's
// (ReproducibleObjective::BatchObjective), up to each of `max_ranks`. Chunks of 50 steps, the
// modes in turn, so a busy moment on the shared cores weighs on all; the medians of the
// per-step times, and of each reproducible chunk's time over the default chunk's before it
// (paired: this machine's speed drifts between states that last minutes).
int Steps(const Communicator& comm, const std::string& path, std::int64_t virtual_shards,
          std::int64_t batch, int repeats, const std::vector<std::int64_t>& max_ranks) {
  const Shard shard = ReadShard(comm, path, DatasetLayout{});
  const Shard cut = ReadShard(comm, path, DatasetLayout{}, ShardLabels::kRead, virtual_shards);
  const std::int64_t classes = CountClasses(comm, shard);
  const SoftmaxModel model = RandomModel(classes, shard.feature_count, 1);
  const auto loss = MakeLoss("softmax");
  const std::int64_t steps = StepsPerEpoch(shard.total_rows, batch);
  std::vector<std::int64_t> order(static_cast<std::size_t>(shard.rows.size()));
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 generator(4);
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[generator.Below(i)]);
  }
  GatheredRows storage;
  GradientSums sums(classes, shard.feature_count);
  std::vector<std::unique_ptr<ReproducibleObjective>> reproducible;
  for (const std::int64_t m : max_ranks) {
    reproducible.push_back(
        std::make_unique<ReproducibleObjective>(comm, *loss, cut, m, Precision::kFloat32));
    reproducible.back()->StartEpoch(1, 0);
  }
  constexpr std::int64_t kChunk = 50;
  std::int64_t next = 0;  // the first step of the next chunk, cycling through the epoch
  const auto default_steps = [&] {
    const auto n = static_cast<std::int64_t>(order.size());
    for (std::int64_t s = next; s < next + kChunk; ++s) {
      const std::int64_t step = s % steps;
      const auto begin = static_cast<std::size_t>(step * n / steps);
      const auto end = static_cast<std::size_t>((step + 1) * n / steps);
      sums.Clear();
      AccumulatePickedRows(*loss, model, shard, std::span(order).subspan(begin, end - begin),
                           &storage, &sums, Precision::kFloat32);
      ReduceObjective(comm, &sums, model, 1e-4);
    }
  };
  std::vector<double> default_times;
  std::vector<std::vector<double>> reproducible_times(max_ranks.size());
  std::vector<std::vector<double>> ratios(max_ranks.size());
  for (int r = 0; r < repeats; ++r, next += kChunk) {
    default_times.push_back(BestSeconds(comm, 1, default_steps) / kChunk);
    for (std::size_t m = 0; m < max_ranks.size(); ++m) {
      const double seconds = BestSeconds(comm, 1, [&] {
                               for (std::int64_t s = next; s < next + kChunk; ++s) {
                                 reproducible[m]->BatchObjective(model, s % steps, steps, 1e-4,
                                                                 &sums);
                               }
                             }) /
                             kChunk;
      reproducible_times[m].push_back(seconds);
      ratios[m].push_back(seconds / default_times.back());
    }
  }
  if (comm.is_root()) {
    for (std::size_t m = 0; m < max_ranks.size(); ++m) {
      std::printf("ranks %d virtual_shards %lld max_ranks %lld batch %lld default_step_ms %.4f "
                  "reproducible_step_ms %.4f ratio %.3f\n",
                  comm.size(), static_cast<long long>(virtual_shards),
                  static_cast<long long>(LargestRankCount(virtual_shards, max_ranks[m])),
                  static_cast<long long>(batch), Median(default_times) * 1e3,
                  Median(reproducible_times[m]) * 1e3, Median(ratios[m]));
    }
  }
  return 0;
}

// The share of `path`'s bytes that the page cache holds in folios a mapping can map with one
// 2 MiB entry (smaps' FilePmdMapped over Rss, the file mapped and paged in here). A file read
// from disk comes in such folios, one just written mostly does not; streamed passes that read
// it in place cost a page-table entry per 4 KiB page in the second case (README, Streaming).
double ShareInHugePages(const std::string& path) {
  const int descriptor = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) throw std::runtime_error("cannot open " + path);
  const off_t bytes = lseek(descriptor, 0, SEEK_END);
  void* map = mmap(nullptr, static_cast<std::size_t>(bytes), PROT_READ, MAP_SHARED, descriptor, 0);
  close(descriptor);
  if (map == MAP_FAILED) throw std::runtime_error("cannot map " + path);
  madvise(map, static_cast<std::size_t>(bytes), MADV_POPULATE_READ);
  std::ifstream smaps("/proc/self/smaps");
  const auto begin = reinterpret_cast<std::uintptr_t>(map);
  bool in_map = false;
  double rss = 0.0;
  double pmd = 0.0;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t from = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-", &from) == 1 && line.find(' ') > line.find('-')) {
      in_map = from == begin;
    } else if (in_map && line.rfind("Rss:", 0) == 0) {
      rss = std::stod(line.substr(4));
    } else if (in_map && line.rfind("FilePmdMapped:", 0) == 0) {
      pmd = std::stod(line.substr(14));
    }
  }
  munmap(map, static_cast<std::size_t>(bytes));
  return rss > 0.0 ? pmd / rss : 0.0;
}

// Full passes over a file in memory and streamed (read in turn, as on a rank's one CPU), the
// features copied through HDF5 and read in place; one pass of each in turn, so a busy moment on
// the shared cores weighs on all three; the medians.
int Stream(const Communicator& comm, const std::string& path, std::int64_t chunk_rows,
           int repeats) {
  const Shard in_memory = ReadShard(comm, path, DatasetLayout{});
  const auto streamed = [&](bool map_rows) {
    return ReadShard(comm, path, DatasetLayout{}, ShardLabels::kRead, 0,
                     StreamConfig{.force = true,
                                  .chunk_rows = chunk_rows,
                                  .read_ahead = ReadAhead::kOff,
                                  .map_rows = map_rows});
  };
  const Shard copied = streamed(false);
  const Shard mapped = streamed(true);
  const std::int64_t classes = CountClasses(comm, in_memory);
  const SoftmaxModel model = RandomModel(classes, in_memory.feature_count, 1);
  const auto loss = MakeLoss("softmax");
  const std::vector<const Shard*> shards = {&in_memory, &copied, &mapped};
  for (const Shard* shard : shards) {  // the features' check, which only a first pass makes
    ComputeShardedObjective(comm, *loss, model, *shard, 1e-4);
  }
  std::vector<std::vector<double>> times(shards.size());
  for (int r = 0; r < repeats; ++r) {
    for (std::size_t s = 0; s < shards.size(); ++s) {
      times[s].push_back(BestSeconds(
          comm, 1, [&] { ComputeShardedObjective(comm, *loss, model, *shards[s], 1e-4); }));
    }
  }
  if (comm.is_root()) {
    const double memory_ms = Median(times[0]) * 1e3;
    const double copied_ms = Median(times[1]) * 1e3;
    const double mapped_ms = Median(times[2]) * 1e3;
    std::printf("ranks %d chunk_rows %lld in_memory_ms %.1f copied_ms %.1f mapped_ms %.1f "
                "copied_ratio %.3f mapped_ratio %.3f\n",
                comm.size(), static_cast<long long>(chunk_rows), memory_ms, copied_ms,
                mapped_ms, memory_ms / copied_ms, memory_ms / mapped_ms);
  }
  return 0;
}

int Synthetic(const Communicator& comm, Eigen::Index rows, Eigen::Index features,
              Eigen::Index classes, int repeats) {
  SplitMix64 generator(2);
  FloatMatrix x(rows, features);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(generator.Normal());
  std::vector<Label> labels(static_cast<std::size_t>(rows));
  for (Label& label : labels)
    label = static_cast<Label>(generator.Below(static_cast<std::uint64_t>(classes)));
  const SoftmaxModel model = RandomModel(classes, features, 3);
  const auto loss = MakeLoss("softmax");
  GradientSums sums(classes, features);
  const double seconds = BestSeconds(comm, repeats, [&] {
    sums.Clear();
    for (Eigen::Index begin = 0; begin < rows; begin += kBlockRows) {
      const Eigen::Index count = std::min<Eigen::Index>(kBlockRows, rows - begin);
      AccumulateBlock(
          *loss, model,
          MakeRowBlock(x.data() + begin * features, labels.data() + begin, count, features), &sums);
    }
  });
  if (comm.is_root()) {
    std::printf("rows %lld features %lld classes %lld pass_ms %.2f gflops %.1f\n",
                static_cast<long long>(rows), static_cast<long long>(features),
                static_cast<long long>(classes), seconds * 1e3,
                4.0 * double(rows) * double(features) * double(classes) / seconds / 1e9);
  }
  return 0;
}

}  // namespace
}  // namespace shardmax

int main(int argc, char** argv) {
  using namespace shardmax;
  MpiEnvironment environment(&argc, &argv);
  const Communicator world(MPI_COMM_WORLD);
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 1 && args[0] == "probe") return Probe(world);
    if (args.size() == 2 && args[0] == "hugepages") {
      std::printf("file_in_2mib_pages %.2f\n", ShareInHugePages(args[1]));
      return 0;
    }
    if (args.size() >= 2 && args[0] == "pass") {
      return Pass(world, args[1], args.size() > 2 ? std::stoi(args[2]) : 10);
    }
    if (args.size() == 4 && args[0] == "threads") {
      return Threads(world, args[1], std::stoi(args[2]), std::stoi(args[3]));
    }
    if (args.size() >= 5 && args[0] == "steps") {
      std::vector<std::int64_t> max_ranks;
      for (std::size_t i = 5; i < args.size(); ++i) max_ranks.push_back(std::stol(args[i]));
      if (max_ranks.empty()) max_ranks.push_back(kDefaultMaxRanks);
      return Steps(world, args[1], std::stol(args[2]), std::stol(args[3]), std::stoi(args[4]),
                   max_ranks);
    }
    if (args.size() == 4 && args[0] == "stream") {
      return Stream(world, args[1], std::stol(args[2]), std::stoi(args[3]));
    }
    if (args.size() >= 4 && args[0] == "synthetic") {
      return Synthetic(world, std::stol(args[1]), std::stol(args[2]), std::stol(args[3]),
                       args.size() > 4 ? std::stoi(args[4]) : 5);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "shardmax_bench: %s\n", error.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::fprintf(stderr,
               "usage: shardmax_bench probe | hugepages FILE | pass FILE [REPEATS] | "
               "threads FILE REPEATS T | synthetic N D K [REPEATS] | steps FILE V B REPEATS [M...] "
               "| stream FILE R REPEATS\n");
  return 2;
}
