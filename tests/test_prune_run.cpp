// Pruned training through the one loop on tiny data, for LeNet-5 and GPT-2 with
// AdamWPrune's bitter7 and with magnitude pruning: the target sparsity is
// reached at the ramp end (within 0.5 %), metrics show it, and pruned weights
// stay zero to the end.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "fixtures.h"
#include "models/models.h"
#include "train/context.h"
#include "util/fs.h"

namespace {

using knlp::test::quiet;
using nlohmann::json;

// The prunable weights (as the model declares them) of a run's last checkpoint.
std::vector<torch::Tensor> prunable_weights(const knlp::Config& cfg,
                                            const std::filesystem::path& run) {
  auto model = knlp::test::last_checkpoint_model(cfg, run);
  std::vector<torch::Tensor> out;
  for (const auto& p : knlp::prunable_params(*model)) out.push_back(p.weight.detach().clone());
  return out;
}

double sparsity_of(const std::vector<torch::Tensor>& ws) {
  int64_t zeros = 0, total = 0;
  for (const auto& w : ws) zeros += (w == 0).sum().item<int64_t>(), total += w.numel();
  return static_cast<double>(zeros) / static_cast<double>(total);
}

struct Case {
  const char* model;
  const char* method;
  int64_t ramp_end;  // the step the target is reached at
  const char* name;  // of the run
};

class PruneRun : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    root_ = knlp::test::temp_dir("prune-run");
    knlp::test::write_tiny_mnist(root_ / "data", 200, 100);
    knlp::test::write_cyclic_tokens(root_ / "data", 4000, 1000, 16, 64);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }
  static inline std::filesystem::path root_;
};

// LeNet-5: 5 steps per epoch, 4 epochs, the ramp ending with epoch 2 (step 10).
// GPT-2: 20 steps, the ramp ending at step 12. Both: warmup 2, masks every 2.
TEST_P(PruneRun, ReachesTheTargetAtTheRampEndAndKeepsTheZeros) {
  const Case c = GetParam();
  const bool gpt2 = std::string(c.model) == "gpt2";
  auto cfg = gpt2 ? knlp::test::tiny_gpt2_config(root_ / "data", root_ / "out", 20)
                  : knlp::test::tiny_lenet5_config(root_ / "data", root_ / "out", 4);
  const bool state = std::string(c.method) == "state";
  std::vector<std::string> lines = {"PRUNING_SCHEDULE=cubic", "PRUNING_THRESHOLD=exact",
                                    std::string("PRUNING_METHOD=") + c.method};
  if (state) {
    lines.insert(lines.end(),
                 {"OPTIMIZER=adamwprune", "ADAMWPRUNE_BASE_OPTIMIZER_NAME=adamw",
                  "ADAMWPRUNE_BETA1=0.9", "ADAMWPRUNE_BETA2=0.999", "ADAMWPRUNE_WEIGHT_DECAY=0.0",
                  "ADAMWPRUNE_AMSGRAD=n", "ADAMWPRUNE_TARGET_SPARSITY=0.5",
                  "ADAMWPRUNE_WARMUP_STEPS=2", "ADAMWPRUNE_FREQUENCY=2",
                  "ADAMWPRUNE_VARIANT=bitter7",
                  gpt2 ? "ADAMWPRUNE_RAMP_END_STEP=12" : "ADAMWPRUNE_RAMP_END_EPOCH=2"});
  } else {
    lines.insert(lines.end(), {"TARGET_SPARSITY=0.5", "PRUNING_WARMUP=2", "PRUNING_FREQUENCY=2",
                               gpt2 ? "PRUNING_RAMP_END_STEP=12" : "PRUNING_RAMP_END_EPOCH=2"});
  }
  for (const auto& l : lines) cfg.set(l);
  const auto dir = root_ / (std::string(c.model) + "-" + c.method);
  auto o = quiet(dir);
  o.stop_after_steps = c.ramp_end;  // stop where the ramp ends, keep what is zero then
  EXPECT_EQ(knlp::run_training(cfg, o).status,
            fmt::format("failed: interrupted at step {}", c.ramp_end));
  const auto at_ramp_end = prunable_weights(cfg, dir);
  EXPECT_NEAR(sparsity_of(at_ramp_end), 0.5, 0.005);
  o.resume = true;
  o.stop_after_steps = 0;
  EXPECT_EQ(knlp::run_training(knlp::Config(), o).status, "done");

  auto m = json::parse(knlp::read_file(dir / "metrics.json"));
  EXPECT_EQ(m["name"], c.name);
  for (const auto& e : m["eval"]) {
    EXPECT_TRUE(e.contains("sparsity"));
    const double p = std::clamp((e["step"].get<double>() - 2) / (c.ramp_end - 2), 0.0, 1.0);
    EXPECT_NEAR(e["target_sparsity"].get<double>(), 0.5 * p * p * p, 1e-12) << e["step"];
  }
  const auto final_weights = prunable_weights(cfg, dir);
  EXPECT_NEAR(m["summary"]["final_sparsity"].get<double>(), sparsity_of(final_weights), 1e-12);
  EXPECT_NEAR(sparsity_of(final_weights), 0.5, 0.005);
  for (size_t i = 0; i < final_weights.size(); ++i) {
    auto was_zero = at_ramp_end[i] == 0;
    EXPECT_TRUE((final_weights[i] == 0).masked_select(was_zero).all().item<bool>()) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    LoopModels, PruneRun,
    ::testing::Values(Case{"lenet5", "state", 10, "lenet5_adamwprune_bitter7_state_50"},
                      Case{"lenet5", "magnitude", 10, "lenet5_adamw_magnitude_50"},
                      Case{"gpt2", "state", 12, "gpt2_adamwprune_bitter7_state_50"},
                      Case{"gpt2", "magnitude", 12, "gpt2_adamw_magnitude_50"}),
    [](const auto& info) { return std::string(info.param.model) + "_" + info.param.method; });

}  // namespace
