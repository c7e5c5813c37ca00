#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/metrics_log.hpp"
#include "tests/test_support.hpp"

namespace shardmax {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

EpochRecord Record(std::int64_t epoch) {
  EpochRecord record;
  record.epoch = epoch;
  record.global_step = 10 * epoch;
  record.train_loss = 0.5;
  record.learning_rate = 0.25;
  record.samples_per_second = 1000;
  record.elapsed_seconds = 1.5;
  if (epoch != 2) {
    record.validation_loss = 0.75;
    record.validation_accuracy = 0.875;
  }
  return record;
}

TEST(MetricsLog, WritesHeaderAndRowsWithEmptyValidationFields) {
  const std::string path = shardmax::testing::MakeScratchDirectory() + "/metrics.csv";
  StartMetricsLog(path, 0);
  AppendMetricsLog(path, Record(1));
  AppendMetricsLog(path, Record(2));
  EXPECT_EQ(ReadAll(path),
            "epoch,global_step,train_loss,val_loss,val_accuracy,learning_rate,"
            "samples_per_second,elapsed_seconds\n"
            "1,10,0.5,0.75,0.875,0.25,1000,1.5\n"
            "2,20,0.5,,,0.25,1000,1.5\n");
}

TEST(MetricsLog, ResumeDropsEpochsAfterTheCheckpointAndTornLines) {
  const std::string path = shardmax::testing::MakeScratchDirectory() + "/metrics.csv";
  StartMetricsLog(path, 0);
  for (std::int64_t epoch = 1; epoch <= 3; ++epoch) AppendMetricsLog(path, Record(epoch));
  std::ofstream(path, std::ios::app) << "4,40,0.5";  // a crash mid-line
  StartMetricsLog(path, 2);                         // the checkpoint had finished epoch 2
  AppendMetricsLog(path, Record(3));
  std::stringstream expected;
  expected << "epoch,global_step,train_loss,val_loss,val_accuracy,learning_rate,"
              "samples_per_second,elapsed_seconds\n"
           << "1,10,0.5,0.75,0.875,0.25,1000,1.5\n"
           << "2,20,0.5,,,0.25,1000,1.5\n"
           << "3,30,0.5,0.75,0.875,0.25,1000,1.5\n";
  EXPECT_EQ(ReadAll(path), expected.str());
  StartMetricsLog(path, 0);  // a fresh run starts over
  EXPECT_EQ(ReadAll(path).find('\n'), ReadAll(path).size() - 1);
}

}  // namespace
}  // namespace shardmax
