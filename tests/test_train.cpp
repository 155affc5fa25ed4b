// Whole runs on a tiny generated MNIST: files, checkpoints, and resume == uninterrupted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

using nlohmann::json;

json metrics_of(const std::filesystem::path& dir) {
  return json::parse(knlp::read_file(dir / "metrics.json"));
}

knlp::RunOptions quiet(const std::filesystem::path& dir) {
  knlp::RunOptions o;
  o.run_dir = dir;
  o.progress = false;
  o.plot = false;
  return o;
}

class TinyRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = knlp::test::temp_dir("train");
    knlp::test::write_tiny_mnist(root_ / "data", 200, 100);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }
  static inline std::filesystem::path root_;
};

}  // namespace

TEST_F(TinyRun, WritesAFullRunDirectoryAndLearns) {
  auto cfg = knlp::test::tiny_lenet5_config(root_ / "data", root_ / "out", 3);
  auto r = knlp::run_training(cfg, quiet(root_ / "full"));
  EXPECT_EQ(r.status, "done");
  for (const char* f : {"config", "config.hash", "git-revision", "metrics.json", "log.txt",
                        "status", "last/DONE", "best/DONE", "last/model.pt", "last/optimizer.pt"})
    EXPECT_TRUE(std::filesystem::exists(root_ / "full" / f)) << f;
  EXPECT_EQ(knlp::read_status(root_ / "full"), "done");
  EXPECT_EQ(knlp::read_file(root_ / "full" / "config"), cfg.text());
  auto m = metrics_of(root_ / "full");
  ASSERT_EQ(m["eval"].size(), 3u);
  EXPECT_GT(m["summary"]["best"].get<double>(), 50.0);  // 10 classes: chance is 10 %
  EXPECT_LT(m["eval"][2]["train_loss"].get<double>(), m["eval"][0]["train_loss"].get<double>());
  EXPECT_EQ(m["summary"]["status"], "done");
  // A finished run refuses to be resumed or overwritten.
  auto again = quiet(root_ / "full");
  EXPECT_THROW(knlp::run_training(cfg, again), knlp::Error);
  again.resume = true;
  EXPECT_THROW(knlp::run_training(cfg, again), knlp::Error);
}

TEST_F(TinyRun, ResumedRunEqualsUninterruptedOne) {
  auto cfg = knlp::test::tiny_lenet5_config(root_ / "data", root_ / "out", 2);
  knlp::run_training(cfg, quiet(root_ / "straight"));

  auto o = quiet(root_ / "cut");
  o.stop_after_steps = 4;  // mid-epoch: 200 images / 32 = 7 steps per epoch
  auto first = knlp::run_training(cfg, o);
  EXPECT_EQ(first.status, "failed: interrupted at step 4");
  EXPECT_EQ(knlp::read_status(root_ / "cut"), "failed: interrupted at step 4");
  auto resume = quiet(root_ / "cut");
  resume.resume = true;
  resume.stop_after_steps = 10;  // and once more, in the second epoch
  knlp::run_training(knlp::Config(), resume);
  resume.stop_after_steps = 0;
  EXPECT_EQ(knlp::run_training(knlp::Config(), resume).status, "done");

  auto a = metrics_of(root_ / "straight"), b = metrics_of(root_ / "cut");
  ASSERT_EQ(a["eval"].size(), b["eval"].size());
  for (size_t i = 0; i < a["eval"].size(); ++i)
    for (const char* k : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "step"})
      EXPECT_EQ(a["eval"][i][k], b["eval"][i][k]) << "epoch " << i + 1 << " " << k;
  EXPECT_EQ(a["train"], b["train"]);
}

TEST_F(TinyRun, ACheckpointFromAnotherConfigIsRefused) {
  auto cfg = knlp::test::tiny_lenet5_config(root_ / "data", root_ / "out", 1);
  auto o = quiet(root_ / "other");
  o.stop_after_steps = 2;
  knlp::run_training(cfg, o);
  // Someone edits the saved .config: the checkpoint no longer matches it.
  auto edited = cfg;
  edited.set("SEED=8");
  knlp::write_file_atomic(root_ / "other" / "config", edited.text());
  o.resume = true;
  try {
    knlp::run_training(knlp::Config(), o);
    FAIL() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.line().find("checkpoint from another config"), std::string::npos) << e.line();
  }
}
