// The one training loop: its schedule, the validation split, the ramp check,
// and a table that sets every optimizer and pruning symbol to a non-default
// value and checks that the trained weights change on each model it applies to.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "data/data.h"
#include "fixtures.h"
#include "train/context.h"
#include "train/task.h"
#include "util/check.h"

namespace {

using knlp::test::quiet;

TEST(Loop, LearningRateWarmsUpThenFollowsTheCosineByHand) {
  knlp::TrainSettings t;
  t.warmup_steps = 10;
  t.max_steps = 110;
  t.lr_schedule = "cosine";
  t.lr_min = 0.1;
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 0), 0.0);
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 5), 0.5);
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 10), 1.0);
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 60), 0.1 + 0.5 * 0.9);  // half way: cos = 0
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 110), 0.1);
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 500), 0.1);
  t.lr_schedule = "constant";
  EXPECT_DOUBLE_EQ(knlp::learning_rate_at(t, 1.0, 60), 1.0);
}

TEST(Loop, ValidationSplitIsDisjointSeededAndComplete) {
  const auto a = knlp::hold_out(1000, 100, 7), b = knlp::hold_out(1000, 100, 7);
  const auto c = knlp::hold_out(1000, 100, 8);
  ASSERT_EQ(a.validation.numel(), 100);
  ASSERT_EQ(a.train.numel(), 900);
  EXPECT_TRUE(torch::equal(a.validation, b.validation));  // the same run, resumed or not
  EXPECT_TRUE(torch::equal(a.train, b.train));
  EXPECT_FALSE(torch::equal(a.validation, c.validation));  // another seed, another split
  auto all = std::get<0>(torch::cat({a.train, a.validation}).sort());
  EXPECT_TRUE(torch::equal(all, torch::arange(1000, torch::kLong)));  // disjoint, complete
  try {
    knlp::hold_out(100, 100, 7);
    FAIL() << "holding out every image must be refused";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.line().find("CONFIG_VALIDATION_IMAGES: 100 images held out leave none of the "
                            "100 training images"),
              std::string::npos)
        << e.line();
  }
}

// An epoch of training batches visits exactly the training split: every image
// once, none of the validation images.
TEST(Loop, AnEpochOfBatchesIsTheTrainingSplit) {
  const auto root = knlp::test::temp_dir("loop-split");
  knlp::test::write_tiny_mnist(root / "data", 200, 100);
  auto s = knlp::resolve(knlp::test::tiny_lenet5_config(root / "data", root / "out", 1));
  auto task = knlp::make_task(s, torch::kCPU);
  ASSERT_EQ(task->steps_per_epoch(), 5);  // 160 / 32
  std::vector<torch::Tensor> seen;
  for (int64_t step = 0; step < 5; ++step) seen.push_back(task->train_batch(step, 0).input);
  auto got = torch::cat(seen).flatten(1);  // (160, pixels)
  auto images = knlp::load_images(s.data).train.images.flatten(1);
  const auto split = knlp::hold_out(200, 40, s.train.seed);
  auto expect = images.index_select(0, split.train);
  // Rows in an order of their own: by a random projection (pixel sums tie).
  const auto direction = torch::randn({got.size(1)}, torch::kDouble);
  auto key = [&](const torch::Tensor& x) {
    return std::get<1>(x.to(torch::kDouble).matmul(direction).sort());
  };
  EXPECT_TRUE(torch::equal(got.index_select(0, key(got)), expect.index_select(0, key(expect))));
  std::filesystem::remove_all(root);
}

// A ramp that ends after the last mask update is refused before anything trains.
TEST(Loop, ARampThatCannotReachItsTargetIsOneLine) {
  const auto root = knlp::test::temp_dir("loop-ramp");
  knlp::test::write_cyclic_tokens(root / "data", 4000, 1000, 16, 64);
  auto cfg = knlp::test::tiny_gpt2_config(root / "data", root / "out", 20);
  for (const char* l : {"OPTIMIZER=adamwprune", "ADAMWPRUNE_BASE_OPTIMIZER_NAME=adamw",
                        "ADAMWPRUNE_BETA1=0.9", "ADAMWPRUNE_BETA2=0.999",
                        "ADAMWPRUNE_WEIGHT_DECAY=0.0", "ADAMWPRUNE_AMSGRAD=n",
                        "PRUNING_METHOD=state", "ADAMWPRUNE_TARGET_SPARSITY=0.5",
                        "ADAMWPRUNE_WARMUP_STEPS=2", "ADAMWPRUNE_FREQUENCY=8",
                        "ADAMWPRUNE_RAMP_END_STEP=18", "ADAMWPRUNE_VARIANT=bitter7"})
    cfg.set(l);
  const std::string expected =
      "CONFIG_ADAMWPRUNE_RAMP_END_STEP: the ramp ends at step 18, but the run's last mask "
      "update is at step 16 (20 steps, masks every 8)";
  for (int i = 0; i < 2; ++i) {
    try {
      if (i == 0) knlp::check_run(cfg);
      else knlp::run_training(cfg, quiet(root / "run"));
      FAIL() << (i == 0 ? "check" : "run") << " accepted a ramp past the run";
    } catch (const knlp::Error& e) {
      EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
      EXPECT_NE(e.line().find(expected), std::string::npos) << e.line();
    }
  }
  cfg.set("ADAMWPRUNE_RAMP_END_STEP=16");  // ends at the last update: accepted
  EXPECT_NO_THROW(knlp::check_run(cfg));
  std::filesystem::remove_all(root);
}

// ---------------------------------------------------------------------------
// Every optimizer and pruning symbol reaches the code on every model.

// The symbols each optimizer and pruning method reads, at the values the
// variations below start from, and the steps a run takes (LeNet-5: 5 per epoch).
struct Block {
  std::vector<std::string> lines;
  int steps = 15;
};

const std::map<std::string, Block> kBlocks = {
    {"sgd", {{"OPTIMIZER=sgd", "SGD_MOMENTUM=0.9", "SGD_WEIGHT_DECAY=0.01", "LEARNING_RATE=0.01"}}},
    {"adam",
     {{"OPTIMIZER=adam", "ADAM_BETA1=0.9", "ADAM_BETA2=0.999", "ADAM_EPSILON=1e-8",
      "ADAM_WEIGHT_DECAY=0.01"}}},
    {"adamw",
     {{"OPTIMIZER=adamw", "ADAMW_BETA1=0.9", "ADAMW_BETA2=0.999", "ADAMW_EPSILON=1e-8",
      "ADAMW_WEIGHT_DECAY=0.01"}}},
    {"adamwadv",
     {{"OPTIMIZER=adamwadv", "ADV_USE_AMSGRAD=y", "ADV_WEIGHT_DECAY=0.01",
      "ADV_USE_COSINE_ANNEALING=y", "ADV_COSINE_ETA_MIN=1e-6", "ADV_GRAD_CLIP_NORM=0.5"}}},
    // theta 1, so that clipping acts; a reset at step 100 (the shortest interval
    // Kconfig takes), so runs of this block take 110 steps; a learning rate so
    // low that the tiny data stays unlearned and its gradient norms noisy (the
    // spike test needs norms above their mean; learned, they only shrink).
    {"adamwspam",
     {{"OPTIMIZER=adamwspam", "LEARNING_RATE=1e-5", "ADV_USE_AMSGRAD=y", "ADV_WEIGHT_DECAY=0.01",
       "ADV_USE_COSINE_ANNEALING=y", "ADV_COSINE_ETA_MIN=1e-6", "ADV_GRAD_CLIP_NORM=0.5",
       "SPAM_THETA=1.0", "SPAM_ENABLE_CLIP=y", "SPAM_SPIKE_THRESHOLD=2.0",
       "SPAM_PERIODIC_RESET=y", "SPAM_INTERVAL=100", "SPAM_WARMUP=y", "SPAM_WARMUP_STEPS=10"},
      110}},
    {"adamwprune",
     {{"OPTIMIZER=adamwprune", "ADAMWPRUNE_BASE_OPTIMIZER_NAME=adamw", "ADAMWPRUNE_BETA1=0.9",
      "ADAMWPRUNE_BETA2=0.999", "ADAMWPRUNE_WEIGHT_DECAY=0.01", "ADAMWPRUNE_AMSGRAD=n",
      "PRUNING_METHOD=none"}}},
    // Ramps end at step 10 on both models: epoch 2 of LeNet-5's 5 steps per epoch.
    {"state",
     {{"OPTIMIZER=adamwprune", "ADAMWPRUNE_BASE_OPTIMIZER_NAME=adamw", "ADAMWPRUNE_BETA1=0.9",
      "ADAMWPRUNE_BETA2=0.999", "ADAMWPRUNE_WEIGHT_DECAY=0.01", "ADAMWPRUNE_AMSGRAD=n",
      "PRUNING_METHOD=state", "ADAMWPRUNE_TARGET_SPARSITY=0.5", "ADAMWPRUNE_WARMUP_STEPS=2",
      "ADAMWPRUNE_FREQUENCY=2", "ADAMWPRUNE_RAMP_END_EPOCH=2", "ADAMWPRUNE_RAMP_END_STEP=10",
      "ADAMWPRUNE_VARIANT=bitter0", "PRUNING_SCHEDULE=cubic", "PRUNING_THRESHOLD=exact"}}},
    {"magnitude",
     {{"PRUNING_METHOD=magnitude", "TARGET_SPARSITY=0.5", "PRUNING_WARMUP=2",
      "PRUNING_FREQUENCY=2", "PRUNING_RAMP_END_EPOCH=2", "PRUNING_RAMP_END_STEP=10",
      "PRUNING_SCHEDULE=cubic", "PRUNING_THRESHOLD=exact"}}},
};

struct Variation {
  const char* block;
  const char* assignment;            // the symbol at a non-default value
  std::vector<std::string> extra{};  // lines the block needs for the symbol to matter
  bool lenet5 = true, gpt2 = true;   // the models it applies to
};

const Variation kVariations[] = {
    {"adamw", "LEARNING_RATE=0.002"},
    {"sgd", "SGD_MOMENTUM=0.5"},
    {"sgd", "SGD_WEIGHT_DECAY=0.5"},
    {"adam", "ADAM_BETA1=0.5"},
    {"adam", "ADAM_BETA2=0.9"},
    {"adam", "ADAM_EPSILON=0.1"},
    {"adam", "ADAM_WEIGHT_DECAY=0.5"},
    {"adamw", "ADAMW_BETA1=0.5"},
    {"adamw", "ADAMW_BETA2=0.9"},
    {"adamw", "ADAMW_EPSILON=0.1"},
    {"adamw", "ADAMW_WEIGHT_DECAY=0.5"},
    {"adamwadv", "ADV_USE_AMSGRAD=n"},
    {"adamwadv", "ADV_WEIGHT_DECAY=0.5"},
    {"adamwadv", "ADV_USE_COSINE_ANNEALING=n"},
    {"adamwadv", "ADV_COSINE_ETA_MIN=0.005"},
    {"adamwadv", "ADV_GRAD_CLIP_NORM=0.05"},
    {"adamwspam", "ADV_GRAD_CLIP_NORM=0.05"},  // inside SPAM's step
    {"adamwspam", "SPAM_THETA=4.0"},
    {"adamwspam", "SPAM_ENABLE_CLIP=n"},
    // Without the per-element clip: with it, the first step's unclipped norm
    // (no v yet) stands far above every clipped one in the history.
    {"adamwspam", "SPAM_SPIKE_THRESHOLD=0.01", {"SPAM_ENABLE_CLIP=n"}},
    {"adamwspam", "SPAM_PERIODIC_RESET=n"},
    {"adamwspam", "SPAM_INTERVAL=101"},
    {"adamwspam", "SPAM_WARMUP=n"},
    {"adamwspam", "SPAM_WARMUP_STEPS=20"},
    {"adamwprune", "ADAMWPRUNE_BASE_OPTIMIZER_NAME=adam"},
    {"adamwprune", "ADAMWPRUNE_BETA1=0.5"},
    {"adamwprune", "ADAMWPRUNE_BETA2=0.9"},
    {"adamwprune", "ADAMWPRUNE_WEIGHT_DECAY=0.5"},
    {"adamwprune", "ADAMWPRUNE_AMSGRAD=y"},
    {"state", "ADAMWPRUNE_TARGET_SPARSITY=0.3"},
    {"state", "ADAMWPRUNE_WARMUP_STEPS=4"},
    {"state", "ADAMWPRUNE_FREQUENCY=3"},
    {"state", "ADAMWPRUNE_RAMP_END_EPOCH=1", {}, true, false},
    {"state", "ADAMWPRUNE_RAMP_END_STEP=6", {}, false, true},
    {"state", "ADAMWPRUNE_VARIANT=bitter7"},
    {"state", "PRUNING_SCHEDULE=linear"},
    {"state", "PRUNING_THRESHOLD=sampled"},
    {"state", "PRUNING_THRESHOLD_SAMPLE_FRACTION=0.5", {"PRUNING_THRESHOLD=sampled"}},
    // The structural weights rank one class against another: GPT-2 has attention,
    // MLP and, with R-MLP, coupling weights; every LeNet-5 weight is of class
    // other, so ADAMWPRUNE_BITTER_WEIGHT_OTHER scales all its scores alike and no
    // model here can show it.
    {"state", "ADAMWPRUNE_BITTER_WEIGHT_ATTENTION=0.5", {"ADAMWPRUNE_VARIANT=bitter8"}, false},
    {"state", "ADAMWPRUNE_BITTER_WEIGHT_MLP=4.0", {"ADAMWPRUNE_VARIANT=bitter9"}, false},
    {"state", "ADAMWPRUNE_BITTER_WEIGHT_COUPLING=0.2",
     {"ADAMWPRUNE_VARIANT=bitter8", "GPT2_MLP=rmlp", "GPT2_RMLP_DIM=16"}, false},
    {"magnitude", "PRUNING_METHOD=movement"},
    {"magnitude", "TARGET_SPARSITY=0.3"},
    {"magnitude", "PRUNING_WARMUP=4"},
    {"magnitude", "PRUNING_FREQUENCY=3"},
    {"magnitude", "PRUNING_RAMP_END_EPOCH=1", {}, true, false},
    {"magnitude", "PRUNING_RAMP_END_STEP=6", {}, false, true},
};

// The weights of the run's last checkpoint, by name.
std::map<std::string, torch::Tensor> final_weights(const knlp::Config& cfg,
                                                   const std::filesystem::path& run) {
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : knlp::test::last_checkpoint_model(cfg, run)->named_parameters())
    w[p.key()] = p.value().detach();
  return w;
}

class EverySymbol : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = knlp::test::temp_dir("every-symbol");
    knlp::test::write_tiny_mnist(root_ / "data", 200, 100);
    knlp::test::write_cyclic_tokens(root_ / "data", 4000, 1000, 16, 64);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }

  // The final weights of `model` trained `steps` steps with these lines.
  static std::map<std::string, torch::Tensor> train(const std::string& model,
                                                    const std::vector<std::string>& lines,
                                                    int steps) {
    auto cfg = model == "gpt2"
                   ? knlp::test::tiny_gpt2_config(root_ / "data", root_ / "out", steps)
                   : knlp::test::tiny_lenet5_config(root_ / "data", root_ / "out", steps / 5);
    for (const auto& l : lines) cfg.set(l);
    const auto dir = root_ / "runs" / cfg.hash();
    if (!std::filesystem::exists(dir / "status")) {
      EXPECT_EQ(knlp::run_training(cfg, quiet(dir)).status, "done") << model;
    }
    return final_weights(cfg, dir);
  }
  static inline std::filesystem::path root_;
};

TEST_F(EverySymbol, ChangesTheTrainedWeightsOnEveryModelItAppliesTo) {
  for (const auto& v : kVariations) {
    for (const std::string model : {"lenet5", "gpt2"}) {
      if (!(model == "gpt2" ? v.gpt2 : v.lenet5)) continue;
      const Block& block = kBlocks.at(v.block);
      auto base = block.lines;
      base.insert(base.end(), v.extra.begin(), v.extra.end());
      auto changed = base;
      changed.push_back(v.assignment);
      const auto a = train(model, base, block.steps), b = train(model, changed, block.steps);
      ASSERT_EQ(a.size(), b.size());
      bool differs = false;
      for (const auto& [name, w] : a) differs |= !torch::equal(w, b.at(name));
      EXPECT_TRUE(differs) << v.assignment << " changed nothing on " << model;
    }
  }
}

}  // namespace
