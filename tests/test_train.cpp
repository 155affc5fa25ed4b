// Whole runs on a tiny generated MNIST: files, checkpoints, and resume == uninterrupted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "optim/optim.h"
#include "train/context.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

using knlp::test::metrics_of;
using knlp::test::quiet;
using nlohmann::json;

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
  ASSERT_EQ(m["eval"].size(), 4u);  // before the first step and after each epoch
  EXPECT_EQ(m["metric"], "val_accuracy");  // selected on the held-out split
  EXPECT_EQ(m["test_metric"], "test_accuracy");
  EXPECT_EQ(m["data"]["validation_images"], 40);
  EXPECT_EQ(m["data"]["train_images"], 160);
  EXPECT_EQ(m["steps_per_epoch"], 5);  // 160 / 32
  EXPECT_GT(m["summary"]["best"].get<double>(), 50.0);  // 10 classes: chance is 10 %
  EXPECT_LT(m["eval"][3]["train_loss"].get<double>(), m["eval"][1]["train_loss"].get<double>());
  // The test split is evaluated for the best checkpoint and at the end, never selected on.
  const int64_t best_step = m["summary"]["best_step"];
  for (const auto& e : m["eval"])
    if (e["step"] == best_step) {
      EXPECT_EQ(e["test_accuracy"], m["summary"]["test_at_best"]);
    }
  EXPECT_EQ(m["eval"].back()["test_accuracy"], m["summary"]["final_test"]);
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
  o.stop_after_steps = 4;  // mid-epoch: 160 training images / 32 = 5 steps per epoch
  auto first = knlp::run_training(cfg, o);
  EXPECT_EQ(first.status, "failed: interrupted at step 4");
  EXPECT_EQ(knlp::read_status(root_ / "cut"), "failed: interrupted at step 4");
  auto resume = quiet(root_ / "cut");
  resume.resume = true;
  resume.stop_after_steps = 7;  // and once more, in the second epoch
  knlp::run_training(knlp::Config(), resume);
  resume.stop_after_steps = 0;
  EXPECT_EQ(knlp::run_training(knlp::Config(), resume).status, "done");

  auto a = metrics_of(root_ / "straight"), b = metrics_of(root_ / "cut");
  ASSERT_EQ(a["eval"].size(), b["eval"].size());
  EXPECT_EQ(knlp::test::untimed(a["eval"]), knlp::test::untimed(b["eval"]));
  EXPECT_EQ(knlp::test::untimed(a["train"]), knlp::test::untimed(b["train"]));
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

TEST(RunDir, RunsStartedInTheSameSecondGetTheirOwnFolders) {
  const auto parent = knlp::test::temp_dir("run_dirs") / "results";  // created by the first call
  const auto first = knlp::new_run_dir(parent, "gpt2_adamw_none", "20261124-025110");
  const auto second = knlp::new_run_dir(parent, "gpt2_adamw_none", "20261124-025110");
  const auto third = knlp::new_run_dir(parent, "gpt2_adamw_none", "20261124-025110");
  EXPECT_EQ(first, parent / "gpt2_adamw_none-20261124-025110");
  EXPECT_EQ(second, parent / "gpt2_adamw_none-20261124-025110-2");
  EXPECT_EQ(third, parent / "gpt2_adamw_none-20261124-025110-3");
  EXPECT_TRUE(std::filesystem::is_directory(third));
}

TEST(Checkpoint, RoundTripsModelOptimizerAndPosition) {
  auto dir = knlp::test::temp_dir("ckpt");
  knlp::RunContext ctx;
  ctx.config = knlp::Config::parse("CONFIG_NUM_EPOCHS=3\n", "c.config");
  ctx.dir = dir;
  ctx.metrics = {{"eval", {1, 2, 3}}};
  knlp::ModelSettings ms;
  torch::manual_seed(1);
  auto model = knlp::make_model(ms);
  knlp::OptimSettings os;
  auto opt = knlp::make_optimizer(knlp::param_groups(*model), os);
  knlp::Batch b{torch::randn({4, 1, 32, 32}), torch::tensor({0, 1, 2, 3})};
  for (int i = 0; i < 2; ++i) {  // some Adam state to save
    opt->zero_grad();
    model->forward(b).loss.backward();
    opt->step();
  }
  auto pruner = knlp::make_pruner({}, {});
  knlp::TrainPosition pos;
  pos.step = 2, pos.extra = {{"best", 12.5}};
  knlp::save_checkpoint(ctx, *model, *opt, *pruner, pos, /*is_best=*/true);
  ASSERT_TRUE(std::filesystem::exists(dir / "last" / "DONE"));
  ASSERT_TRUE(std::filesystem::exists(dir / "best" / "DONE"));

  torch::manual_seed(2);  // different initial weights
  auto model2 = knlp::make_model(ms);
  auto opt2 = knlp::make_optimizer(knlp::param_groups(*model2), os);
  knlp::RunContext ctx2 = ctx;
  ctx2.metrics = nullptr;
  auto got = knlp::load_checkpoint(ctx2, *model2, *opt2, *pruner);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->step, 2);
  EXPECT_EQ(got->extra["best"], 12.5);
  EXPECT_EQ(ctx2.metrics, ctx.metrics);
  auto p1 = model->named_parameters(), p2 = model2->named_parameters();
  for (const auto& p : p1) EXPECT_TRUE(torch::equal(p.value(), p2[p.key()])) << p.key();
  for (const auto& p : p1) {
    auto a = knlp::adam_moments(*opt, p.value()), c = knlp::adam_moments(*opt2, p2[p.key()]);
    EXPECT_TRUE(torch::equal(a.exp_avg, c.exp_avg)) << p.key();
    EXPECT_TRUE(torch::equal(a.exp_avg_sq, c.exp_avg_sq)) << p.key();
  }
  // A checkpoint without its DONE marker does not count.
  std::filesystem::remove(dir / "last" / "DONE");
  EXPECT_FALSE(knlp::load_checkpoint(ctx2, *model2, *opt2, *pruner).has_value());
  std::filesystem::remove_all(dir);
}
