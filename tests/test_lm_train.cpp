// Whole GPT-2 runs on a tiny cyclic token set: metrics, schedule, resume, limits.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

using knlp::test::metrics_of;
using knlp::test::quiet;
using nlohmann::json;

class TinyLm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = knlp::test::temp_dir("lm");
    knlp::test::write_cyclic_tokens(root_ / "data", 4000, 1000, 16, 64);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }
  static knlp::Config config(int iters) {
    return knlp::test::tiny_gpt2_config(root_ / "data", root_ / "out", iters);
  }
  static inline std::filesystem::path root_;
};

}  // namespace

TEST_F(TinyLm, LearnsBelowTheUnigramBaselineAndWritesTheSchema) {
  auto r = knlp::run_training(config(30), quiet(root_ / "full"));
  EXPECT_EQ(r.status, "done");
  for (const char* f : {"last/DONE", "best/DONE", "last/model.pt", "metrics.json", "log.txt"})
    EXPECT_TRUE(std::filesystem::exists(root_ / "full" / f)) << f;
  auto m = metrics_of(root_ / "full");
  EXPECT_EQ(m["metric"], "val_perplexity");
  EXPECT_EQ(m["higher_is_better"], false);
  EXPECT_EQ(m["lm"]["tokens_per_step"], 4 * 2 * 16);
  EXPECT_EQ(m["lm"]["tokenizer"], "byte");
  // 16 equally frequent ids: the unigram loss is about ln 16 = 2.77.
  const double unigram = m["lm"]["unigram_val_loss"];
  EXPECT_NEAR(unigram, std::log(16.0), 0.05);
  ASSERT_EQ(m["eval"].size(), 7u);  // steps 0, 5, ..., 30
  EXPECT_EQ(m["eval"][0]["step"], 0);
  EXPECT_NEAR(m["eval"][0]["val_loss"].get<double>(), std::log(64.0), 0.3);
  EXPECT_LT(m["summary"]["best_val_loss"].get<double>(), unigram / 3);  // the cycle is learned
  EXPECT_EQ(m["summary"]["status"], "done");
  EXPECT_EQ(m["summary"]["stop_reason"], "max_steps");
  EXPECT_DOUBLE_EQ(m["summary"]["best"].get<double>(),
                   std::exp(m["summary"]["best_val_loss"].get<double>()));
  ASSERT_EQ(m["train"].size(), 30u);
  const auto& p = m["train"][9];
  for (const char* k : {"loss", "perplexity", "lr", "grad_norm", "tokens_per_s", "mfu"})
    EXPECT_TRUE(p.contains(k)) << k;
  EXPECT_GT(p["tokens_per_s"].get<double>(), 0);
  // The learning rate of iteration it (logged at step it + 1): warmup 4, lr 0.01,
  // cosine to 0.001 at 30. it 2: 0.01 * 2 / 4; it 4: the peak; it 17: half way.
  EXPECT_DOUBLE_EQ(m["train"][2]["lr"].get<double>(), 0.005);
  EXPECT_DOUBLE_EQ(m["train"][4]["lr"].get<double>(), 0.01);
  EXPECT_NEAR(m["train"][17]["lr"].get<double>(), 0.0055, 1e-12);
  EXPECT_NEAR(m["train"][29]["lr"].get<double>(),
              0.001 + 0.5 * (1 + std::cos(M_PI * 25.0 / 26.0)) * 0.009, 1e-12);
}

TEST_F(TinyLm, ResumedRunEqualsUninterruptedOne) {
  // Dropout 0.1 is on: the resumed run must restore the RNG as well as the data position.
  auto cfg = config(12);
  ASSERT_EQ(knlp::run_training(cfg, quiet(root_ / "straight")).status, "done");
  auto o = quiet(root_ / "split");
  o.stop_after_steps = 7;
  EXPECT_EQ(knlp::run_training(cfg, o).status, "failed: interrupted at step 7");
  EXPECT_EQ(knlp::read_status(root_ / "split"), "failed: interrupted at step 7");
  o.stop_after_steps = 0;
  o.resume = true;
  EXPECT_EQ(knlp::run_training(cfg, o).status, "done");
  auto a = metrics_of(root_ / "straight"), b = metrics_of(root_ / "split");
  ASSERT_EQ(a["train"].size(), b["train"].size());
  for (size_t i = 0; i < a["train"].size(); ++i)
    EXPECT_EQ(a["train"][i]["loss"].get<double>(), b["train"][i]["loss"].get<double>()) << i;
  ASSERT_EQ(a["eval"].size(), b["eval"].size());
  for (size_t i = 0; i < a["eval"].size(); ++i)
    EXPECT_EQ(a["eval"][i]["val_loss"].get<double>(), b["eval"][i]["val_loss"].get<double>());
}

TEST_F(TinyLm, TimeBudgetEndsTheRunAsDone) {
  auto cfg = config(1000000);
  cfg.set("GPT2_MAX_TIME=1");
  cfg.set("GPT2_EVAL_INTERVAL=1000000");
  cfg.set("GPT2_LOG_INTERVAL=100000");
  auto r = knlp::run_training(cfg, quiet(root_ / "timed"));
  EXPECT_EQ(r.status, "done");
  auto m = metrics_of(root_ / "timed");
  EXPECT_EQ(m["summary"]["stop_reason"], "max_time");
  const int64_t steps = m["summary"]["steps"];
  EXPECT_LT(steps, 100000);
  EXPECT_LT(m["summary"]["total_time_s"].get<double>(), 10.0);
  // The steps since the last log point still get one, and the last evaluation.
  ASSERT_EQ(m["train"].size(), 1u);
  EXPECT_EQ(m["train"][0]["step"], steps);
  EXPECT_EQ(m["eval"].back()["step"], steps);
}

TEST_F(TinyLm, StartsFromExportedWeights) {
  auto cfg = config(5);
  ASSERT_EQ(knlp::run_training(cfg, quiet(root_ / "src")).status, "done");
  auto trained = knlp::load_trained_model(root_ / "src", "best", torch::kCPU);
  knlp::save_weights(*trained.model, root_ / "src.safetensors");
  cfg.set(fmt::format("GPT2_INIT_FROM=\"{}\"", (root_ / "src.safetensors").string()));
  ASSERT_EQ(knlp::run_training(cfg, quiet(root_ / "warm")).status, "done");
  // Step 0 of the warm start evaluates the weights it was given.
  auto src = metrics_of(root_ / "src"), warm = metrics_of(root_ / "warm");
  EXPECT_DOUBLE_EQ(warm["eval"][0]["val_loss"].get<double>(),
                   src["summary"]["best_val_loss"].get<double>());
}

TEST_F(TinyLm, MissingDataIsOneLineWithTheFix) {
  auto cfg = config(5);
  cfg.set(fmt::format("GPT2_CUSTOM_DATASET_PATH=\"{}\"", (root_ / "nowhere").string()));
  try {
    knlp::run_training(cfg, quiet(root_ / "nodata"));
    FAIL() << "trained without data";
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
    EXPECT_NE(e.line().find("nowhere/train.bin: no such file"), std::string::npos) << e.line();
    EXPECT_NE(e.line().find("knlp data prepare"), std::string::npos) << e.line();
  }
}

TEST_F(TinyLm, DataOfAnotherTokenizerIsRefused) {
  auto cfg = config(5);
  cfg.set("GPT2_TOKENIZER=\"gpt2\"");  // the fixture's manifest says "byte"
  try {
    knlp::run_training(cfg, quiet(root_ / "mismatch"));
    FAIL() << "trained on data of another tokenizer";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.message().find("tokenized with byte"), std::string::npos) << e.message();
  }
}
