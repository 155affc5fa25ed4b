// A short LeNet-5 run with AdamWPrune-style bitter7 state pruning on tiny data: the
// target sparsity is hit, metrics show it per epoch, and pruned weights stay zero.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "models/models.h"
#include "train/train.h"
#include "util/fs.h"

namespace {

using knlp::test::quiet;
using nlohmann::json;

// (out channels) x ... weights of every conv and linear layer of a saved LeNet-5.
std::vector<torch::Tensor> prunable_weights(const std::filesystem::path& model_pt) {
  knlp::ModelSettings s;
  s.name = "lenet5";
  auto model = knlp::make_model(s);
  torch::serialize::InputArchive ar;
  ar.load_from(model_pt.string());
  model->load(ar);
  std::vector<torch::Tensor> out;
  for (const char* name : {"conv1", "conv2", "fc1", "fc2", "fc3"})
    out.push_back(model->named_parameters()[std::string(name) + ".weight"].clone());
  return out;
}

}  // namespace

TEST(PruneRun, LeNet5Bitter7HitsTheTargetAndZerosStayZero) {
  auto root = knlp::test::temp_dir("prune-run");
  knlp::test::write_tiny_mnist(root / "data", 200, 100);
  auto cfg = knlp::test::tiny_lenet5_config(root / "data", root / "out", 3);
  // 200 images / 32 = 7 steps per epoch: warmup 2, masks every 2 steps, target at
  // the end of epoch 2 (step 14).
  for (const char* line : {"PRUNING_MODE_SINGLE=y", "PRUNING_SELECT_STATE=y",
                           "PRUNING_METHOD=\"state\"", "ADAMWPRUNE_TARGET_SPARSITY=\"0.7\"",
                           "ADAMWPRUNE_WARMUP_STEPS=2", "ADAMWPRUNE_FREQUENCY=2",
                           "ADAMWPRUNE_RAMP_END_EPOCH=2", "ADAMWPRUNE_VARIANT=\"bitter7\"",
                           "PRUNING_SCHEDULE=\"cubic\"", "PRUNING_THRESHOLD=\"exact\""})
    cfg.set(line);
  const auto dir = root / "run";
  auto o = quiet(dir);
  o.stop_after_steps = 14;  // stop where the ramp ends, keep what is zero then
  EXPECT_EQ(knlp::run_training(cfg, o).status, "failed: interrupted at step 14");
  const auto at_ramp_end = prunable_weights(dir / "last" / "model.pt");
  o.resume = true;
  o.stop_after_steps = 0;
  EXPECT_EQ(knlp::run_training(knlp::Config(), o).status, "done");

  auto m = json::parse(knlp::read_file(dir / "metrics.json"));
  EXPECT_EQ(m["name"], "lenet5_adamw_bitter7_state_70");
  ASSERT_EQ(m["eval"].size(), 3u);
  for (const auto& e : m["eval"]) {
    EXPECT_TRUE(e.contains("sparsity"));
    EXPECT_TRUE(e.contains("target_sparsity"));
  }
  // cubic ramp: epoch 1 ends at step 7, p = 5/12, target 0.7 p^3
  EXPECT_NEAR(m["eval"][0]["target_sparsity"].get<double>(), 0.7 * std::pow(5.0 / 12, 3), 1e-12);
  EXPECT_DOUBLE_EQ(m["eval"][2]["target_sparsity"].get<double>(), 0.7);
  const double final_sparsity = m["summary"]["final_sparsity"];
  EXPECT_NEAR(final_sparsity, 0.7, 0.005);  // 43,029 of the 61,470 prunable weights

  const auto final_weights = prunable_weights(dir / "last" / "model.pt");
  int64_t zeros = 0, total = 0;
  for (size_t i = 0; i < final_weights.size(); ++i) {
    auto was_zero = at_ramp_end[i] == 0;
    EXPECT_TRUE((final_weights[i] == 0).masked_select(was_zero).all().item<bool>()) << i;
    zeros += (final_weights[i] == 0).sum().item<int64_t>();
    total += final_weights[i].numel();
  }
  EXPECT_EQ(total, 61470);
  EXPECT_EQ(zeros, 43029);  // floor(0.7 * 61470), exactly
  std::filesystem::remove_all(root);
}
