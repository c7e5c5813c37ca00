#include <gtest/gtest.h>

#include <fstream>

#include "common/error.hpp"
#include "tests/test_support.hpp"
#include "trainer/newton_problem.hpp"
#include "trainer/options.hpp"

namespace shardmax {
namespace {

void ExpectUsageError(const std::vector<std::string>& args, const std::string& part) {
  try {
    ParseCommandLine(args);
    ADD_FAILURE() << "accepted: " << ::testing::PrintToString(args);
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
        << "message: " << error.what() << "\nmissing: " << part;
  }
}

TEST(Options, DefaultsAndValues) {
  const CommandLine parsed =
      ParseCommandLine({"train", "--train", "t.h5", "--lr", "0.5", "--checkpoint-unit", "step"});
  EXPECT_EQ(parsed.command, Command::kTrain);
  EXPECT_EQ(parsed.train.train_path, "t.h5");
  EXPECT_EQ(parsed.train.optimizer.learning_rate, 0.5);
  EXPECT_EQ(parsed.train.optimizer.weight_decay, 1e-4);
  EXPECT_EQ(parsed.train.batch_size, 256);
  EXPECT_EQ(parsed.train.checkpoint.unit, CheckpointUnit::kStep);
  EXPECT_EQ(parsed.train.layout.features, "features");
}

TEST(Options, PrecisionOfTheGradientPass) {
  const auto precision = [](std::vector<std::string> extra) {
    std::vector<std::string> args{"train", "--train", "t.h5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseCommandLine(args).train.optimizer.PassPrecision();
  };
  EXPECT_EQ(precision({}), Precision::kFloat32);
  EXPECT_EQ(precision({"--solver", "adamw"}), Precision::kFloat32);
  EXPECT_EQ(precision({"--solver", "lbfgs"}), Precision::kFloat64);
  EXPECT_EQ(precision({"--solver", "lbfgs", "--precision", "float32"}), Precision::kFloat32);
  EXPECT_EQ(precision({"--precision", "float64"}), Precision::kFloat64);
  ExpectUsageError({"train", "--train", "t.h5", "--precision", "half"},
                   "--precision must be 'auto', 'float32' or 'float64' (got 'half')");
}

TEST(Options, NewtonPreconditioner) {
  const auto choice = [](std::vector<std::string> extra) {
    std::vector<std::string> args{"train", "--train", "t.h5", "--solver", "newton"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseCommandLine(args).train.optimizer.newton_preconditioner;
  };
  EXPECT_EQ(choice({}), NewtonPreconditioner::kAuto);
  EXPECT_EQ(choice({"--newton-preconditioner", "kronecker"}), NewtonPreconditioner::kKronecker);
  EXPECT_EQ(choice({"--newton-preconditioner", "none"}), NewtonPreconditioner::kNone);
  ExpectUsageError({"train", "--train", "t.h5", "--newton-preconditioner", "jacobi"},
                   "--newton-preconditioner must be 'auto', 'kronecker' or 'none' (got 'jacobi')");
}

// auto: dense data where the set-up and applications are cheap next to a product.
TEST(Options, NewtonPreconditionerAutoRule) {
  const auto shard = [](std::int64_t rows, std::int64_t features, bool sparse) {
    Shard s;
    s.path = "t.h5";
    s.total_rows = rows;
    s.feature_count = features;
    s.is_sparse = sparse;
    return s;
  };
  const auto uses = [](const Shard& s, Eigen::Index classes,
                       NewtonPreconditioner choice = NewtonPreconditioner::kAuto) {
    return UsesKroneckerPreconditioner(choice, s, classes);
  };
  EXPECT_TRUE(uses(shard(60000, 784, false), 10));        // Fashion-MNIST
  EXPECT_FALSE(uses(shard(60000, 784, true), 10));        // sparse
  EXPECT_FALSE(uses(shard(10000000, 4096, false), 1000));  // D + 1 > 4096
  EXPECT_FALSE(uses(shard(7000, 784, false), 1000));       // 10 (D+1) > N
  EXPECT_FALSE(uses(shard(15000, 784, false), 10));        // (D+1)^2 > 3 N K
  EXPECT_TRUE(uses(shard(21000, 784, false), 10));
  EXPECT_TRUE(uses(shard(7000, 784, false), 10, NewtonPreconditioner::kKronecker));
  EXPECT_FALSE(uses(shard(60000, 784, false), 10, NewtonPreconditioner::kNone));
  try {
    uses(shard(60000, 784, true), 10, NewtonPreconditioner::kKronecker);
    ADD_FAILURE() << "kronecker accepted sparse features";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("--newton-preconditioner kronecker needs dense "
                                             "features; 't.h5' holds sparse ones"),
              std::string::npos)
        << error.what();
  }
}

TEST(Options, Streaming) {
  const CommandLine parsed =
      ParseCommandLine({"train", "--train", "t.h5", "--solver", "lbfgs", "--stream",
                        "--memory-budget", "512", "--stream-chunk-rows", "4096"});
  EXPECT_TRUE(parsed.train.streaming.force);
  EXPECT_EQ(parsed.train.streaming.memory_budget_mb, 512);
  EXPECT_EQ(parsed.train.streaming.chunk_rows, 4096);
  EXPECT_FALSE(ParseCommandLine({"train", "--train", "t.h5"}).train.streaming.force);
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5"}).train.streaming.memory_budget_mb, 0);
  EXPECT_TRUE(ParseCommandLine({"train", "--train", "t.h5", "--stream"}).train.streaming.force);
  // What needs the rows in memory is refused, naming both options.
  ExpectUsageError({"train", "--train", "t.h5", "--solver", "lbfgs", "--stream", "--standardize"},
                   "--stream: --standardize");
  ExpectUsageError({"train", "--train", "t.h5", "--solver", "lbfgs", "--stream", "--reproducible"},
                   "--stream: --reproducible");
  ExpectUsageError({"train", "--train", "t.h5", "--memory-budget", "-1"}, "--memory-budget");
  ExpectUsageError({"train", "--train", "t.h5", "--stream-chunk-rows", "1000"},
                   "--stream-chunk-rows");
  // A budget alone is not refused: the data may fit it (else training says so).
  EXPECT_NO_THROW(ParseCommandLine({"train", "--train", "t.h5", "--memory-budget", "100"}));
}

TEST(Options, ThreadsPerRank) {
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5"}).train.threads, 1);
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5", "--threads", "4"}).train.threads, 4);
  const std::string path = shardmax::testing::MakeScratchDirectory() + "/threads.ini";
  std::ofstream(path) << "train = t.h5\nthreads = 3\n";
  EXPECT_EQ(ParseCommandLine({"train", "--config", path}).train.threads, 3);
  EXPECT_EQ(ParseCommandLine({"train", "--config", path, "--threads", "2"}).train.threads, 2);
  ExpectUsageError({"train", "--train", "t.h5", "--threads", "0"},
                   "--threads must be from 1 to 1024 (got 0)");
  ExpectUsageError({"train", "--train", "t.h5", "--threads", "-2"}, "--threads");
  ExpectUsageError({"train", "--train", "t.h5", "--threads", "1025"}, "--threads");
  ExpectUsageError({"train", "--train", "t.h5", "--threads", "two"}, "--threads");
}

TEST(Options, ProgressInterval) {
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5"}).train.progress_seconds, 30.0);
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5", "--progress-every", "0.5"})
                .train.progress_seconds,
            0.5);
  EXPECT_EQ(ParseCommandLine({"train", "--train", "t.h5", "--progress-every", "0"})
                .train.progress_seconds,
            0.0);
  ExpectUsageError({"train", "--train", "t.h5", "--progress-every", "-1"},
                   "--progress-every must be >= 0 seconds (got -1)");
}

TEST(Options, CommandLineOverridesTheConfigFile) {
  const std::string path = shardmax::testing::MakeScratchDirectory() + "/run.ini";
  std::ofstream(path) << "train = from_file.h5\nlr = 0.25\nepochs = 7\n";
  const CommandLine parsed = ParseCommandLine({"train", "--config", path, "--epochs", "3"});
  EXPECT_EQ(parsed.train.train_path, "from_file.h5");
  EXPECT_EQ(parsed.train.optimizer.learning_rate, 0.25);
  EXPECT_EQ(parsed.train.epochs, 3);

  std::ofstream(path) << "train = t.h5\nlearning-rate = 1\n";
  ExpectUsageError({"train", "--config", path}, "learning-rate");
  ExpectUsageError({"train", "--config", path + ".absent"}, "cannot read config file");
}

TEST(Options, BadValuesNameTheOption) {
  ExpectUsageError({"train"}, "--train is required");
  ExpectUsageError({"train", "--train", "t.h5", "--lr", "0"}, "--lr");
  ExpectUsageError({"train", "--train", "t.h5", "--lr", "-1"}, "--lr");
  ExpectUsageError({"train", "--train", "t.h5", "--batch-size", "0"}, "--batch-size");
  ExpectUsageError({"train", "--train", "t.h5", "--momentum", "1"}, "--momentum");
  ExpectUsageError({"train", "--train", "t.h5", "--classes", "1"}, "--classes");
  ExpectUsageError({"train", "--train", "t.h5", "--keep", "0"}, "--keep");
  ExpectUsageError({"train", "--train", "t.h5", "--checkpoint-unit", "hour"}, "--checkpoint-unit");
  ExpectUsageError({"train", "--train", "t.h5", "--epochs", "ten"}, "epochs");
  ExpectUsageError({"train", "--train", "t.h5", "--frobnicate"}, "frobnicate");
  ExpectUsageError({"gen", "--output", "o.h5", "--dtype", "int4"}, "--dtype");
  ExpectUsageError({"gen"}, "--output is required");
  ExpectUsageError({"fit"}, "unknown command 'fit'");
}

// Regression test for a finding of tests/fuzz/fuzz_config: Boost.Program_options replaces
// %value% in its messages with the value until none is left, so a value holding "%value%"
// made building the message loop for ever (the config line `epochs = %value%` hung shardmax).
TEST(Options, PlaceholdersInBadValuesDoNotHangTheMessage) {
  ExpectUsageError({"train", "--train", "t.h5", "--epochs", "%value%"},
                   "invalid option text '%value%' (it holds '%value%', which the option parser "
                   "cannot quote)");
  const std::string path = shardmax::testing::MakeScratchDirectory() + "/placeholder.ini";
  std::ofstream(path) << "train = t.h5\nepochs = 1%value%\n";
  ExpectUsageError({"train", "--config", path},
                   "config file '" + path + "': invalid option text 'epochs = 1%value%'");
  // A placeholder in a valid value is just text.
  EXPECT_EQ(ParseCommandLine({"train", "--train", "%value%.h5"}).train.train_path, "%value%.h5");
}

TEST(Options, HelpListsTheOptions) {
  const CommandLine parsed = ParseCommandLine({"train", "--help"});
  EXPECT_EQ(parsed.command, Command::kHelp);
  for (const char* option : {"--train", "--val", "--batch-size", "--weight-decay", "--resume",
                             "--checkpoint-every", "--config"}) {
    EXPECT_NE(parsed.help_text.find(option), std::string::npos) << option;
  }
}

TEST(Options, LossesWeightingStandardizationAndBias) {
  const CommandLine defaults = ParseCommandLine({"train", "--train", "t.h5"});
  EXPECT_EQ(defaults.train.loss, "softmax");
  EXPECT_EQ(defaults.train.preparation.class_weighting, ClassWeighting::kNone);
  EXPECT_FALSE(defaults.train.preparation.standardize);
  EXPECT_EQ(defaults.train.preparation.init_bias, BiasInit::kZero);
  EXPECT_TRUE(defaults.train.layout.sample_weights.empty());

  const CommandLine parsed = ParseCommandLine(
      {"train", "--train", "t.h5", "--loss", "hinge", "--class-weight", "1,0.5,2.25",
       "--sample-weights-dataset", "w", "--standardize"});
  EXPECT_EQ(parsed.train.loss, "hinge");
  EXPECT_EQ(parsed.train.preparation.class_weighting, ClassWeighting::kGiven);
  EXPECT_EQ(parsed.train.preparation.class_weights, (std::vector<double>{1.0, 0.5, 2.25}));
  EXPECT_EQ(parsed.train.layout.sample_weights, "w");
  EXPECT_TRUE(parsed.train.preparation.standardize);

  const CommandLine balanced = ParseCommandLine(
      {"train", "--train", "t.h5", "--class-weight", "balanced", "--init-bias", "priors"});
  EXPECT_EQ(balanced.train.preparation.class_weighting, ClassWeighting::kBalanced);
  EXPECT_EQ(balanced.train.preparation.init_bias, BiasInit::kPriors);
  const CommandLine multi_label =
      ParseCommandLine({"train", "--train", "t.h5", "--loss", "sigmoid"});
  EXPECT_EQ(multi_label.train.loss, "sigmoid");
}

TEST(Options, BadLossAndWeightingValuesNameTheOption) {
  ExpectUsageError({"train", "--train", "t.h5", "--loss", "logistic"},
                   "--loss: unknown loss 'logistic'");
  for (const char* bad : {"", "heavy", "1,-1", "1,,2", "1,2,", "0,0", "1,nan", "1,inf", "2x"}) {
    ExpectUsageError({"train", "--train", "t.h5", "--class-weight", bad}, "--class-weight must be");
  }
  ExpectUsageError({"train", "--train", "t.h5", "--loss", "sigmoid", "--class-weight", "balanced"},
                   "--class-weight needs a single-label loss");
  ExpectUsageError({"train", "--train", "t.h5", "--init-bias", "mean"}, "--init-bias must be");
  ExpectUsageError({"train", "--train", "t.h5", "--loss", "hinge", "--init-bias", "priors"},
                   "--init-bias priors needs --loss softmax");
}

}  // namespace
}  // namespace shardmax
