// The test matrix: plan expansion (counts, names, order), run names, continue
// after SIGKILL at several moments with the real knlp binary, and the report.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fixtures.h"
#include "matrix/matrix.h"
#include "train/train.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/scripts.h"  // run_script, to load a defconfig as make does

namespace {

using knlp::Config;
using State = knlp::RunStatus::State;
using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> names_of(const knlp::Plan& plan) {
  std::vector<std::string> out;
  for (const auto& r : plan.runs) out.push_back(r.name);
  return out;
}

knlp::Plan plan_of(const std::string& text) {
  return knlp::make_plan(Config::parse(text, "matrix.config"));
}

// The one-line message planning `text` raises, or "" if none.
std::string plan_error(const std::string& text) {
  try {
    plan_of(text);
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "";
}

}  // namespace

// ---------------------------------------------------------------------------
// Plan

TEST(MatrixPlan, ASingleRunConfigIsAOneRunMatrix) {
  auto plan = plan_of("CONFIG_OPTIMIZER_SELECT_SGD=y\nCONFIG_NUM_EPOCHS=3\n");
  ASSERT_EQ(names_of(plan), std::vector<std::string>{"lenet5_sgd_none"});
  const auto run = Config::parse(plan.runs[0].config, "run");
  EXPECT_EQ(run.get_int("NUM_EPOCHS"), 3);
  EXPECT_EQ(run.get_string("OPTIMIZER"), "sgd");
  EXPECT_EQ(plan.parallel, 1);
}

TEST(MatrixPlan, OptimizersTimesSeedsWithSeedsOutermost) {
  auto plan = plan_of(
      "CONFIG_OPTIMIZER_MODE_MULTIPLE=y\n# CONFIG_OPTIMIZER_ENABLE_ADAM is not set\n"
      "CONFIG_MATRIX_SEEDS=\"3, 1\"\nCONFIG_MATRIX_PARALLEL=2\n");
  EXPECT_EQ(names_of(plan),
            (std::vector<std::string>{"lenet5_sgd_none_seed3", "lenet5_adamw_none_seed3",
                                      "lenet5_sgd_none_seed1", "lenet5_adamw_none_seed1"}));
  EXPECT_EQ(plan.parallel, 2);
  for (const auto& r : plan.runs) {
    // Each run's .config is one run: it resolves, and names itself as the plan does.
    const auto run = Config::parse(r.config, r.name);
    EXPECT_FALSE(knlp::is_matrix(run)) << r.name;
    EXPECT_EQ(knlp::run_name(knlp::resolve(run)), r.name);
    EXPECT_FALSE(run.has("OPTIMIZER_ENABLE_SGD")) << r.name;
  }
  EXPECT_EQ(plan.runs[2].seed, 1u);
  EXPECT_EQ(Config::parse(plan.runs[0].config, "r").get_int("SEED"), 3);
  EXPECT_EQ(Config::parse(plan.runs[1].config, "r").get_string("OPTIMIZER"), "adamw");
}

TEST(MatrixPlan, PruningMethodsTimesSparsitiesWithOneDenseRun) {
  auto plan = plan_of(
      "CONFIG_OPTIMIZER_SELECT_ADAMW=y\nCONFIG_PRUNING_MODE_MULTIPLE=y\n"
      "# CONFIG_SPARSITY_ENABLE_70 is not set\n");
  // The dense run has no sparsity to vary: one run, not one per sparsity.
  EXPECT_EQ(names_of(plan),
            (std::vector<std::string>{"lenet5_adamw_none", "lenet5_adamw_magnitude_50",
                                      "lenet5_adamw_magnitude_90", "lenet5_adamw_movement_50",
                                      "lenet5_adamw_movement_90"}));
  EXPECT_DOUBLE_EQ(plan.runs[2].target_sparsity, 0.9);
  EXPECT_EQ(plan.runs[3].pruning, "movement");
  EXPECT_EQ(Config::parse(plan.runs[3].config, "r").get_string("TARGET_SPARSITY"), "0.5");
}

TEST(MatrixPlan, Lenet5CompareDefconfig) {
  // The reference expands lenet5-compare to 41 runs, ours to 39 (docs/matrix.md):
  // sgd, adam, adamw, adamwadv, adamwspam each dense plus magnitude and movement at
  // 50/70/90 % (5 x 7 = 35), and adamwprune dense plus bitter0 state at 50/70/90 % (4).
  const auto dir = knlp::test::temp_dir("compare");
  const auto cfg = dir / "config";
  ::setenv("KCONFIG_CONFIG", cfg.c_str(), 1);  // where kconfig.py defconfig writes
  knlp::run_script("kconfig.py", {"defconfig", "defconfigs/lenet5-compare"});
  ::unsetenv("KCONFIG_CONFIG");
  auto plan = knlp::make_plan(Config::load(cfg));
  ASSERT_EQ(plan.runs.size(), 39u);
  const auto names = names_of(plan);
  const std::vector<std::string> first(names.begin(), names.begin() + 8);
  EXPECT_EQ(first, (std::vector<std::string>{"lenet5_sgd_none", "lenet5_sgd_magnitude_50",
                                             "lenet5_sgd_magnitude_70", "lenet5_sgd_magnitude_90",
                                             "lenet5_sgd_movement_50", "lenet5_sgd_movement_70",
                                             "lenet5_sgd_movement_90", "lenet5_adam_none"}));
  EXPECT_EQ(plan.runs.back().name, "lenet5_adamwprune_bitter0_state_90");
  EXPECT_EQ(Config::parse(plan.runs[0].config, "r").get_int("NUM_EPOCHS"), 10);
  fs::remove_all(dir);
}

TEST(MatrixPlan, BadMatricesNameTheSymbol) {
  EXPECT_NE(plan_error("CONFIG_MATRIX_SEEDS=\"1,2,1\"\n").find("seed 1 is listed twice"),
            std::string::npos);
  EXPECT_NE(plan_error("CONFIG_MATRIX_SEEDS=\"1,x\"\n")
                .find("CONFIG_MATRIX_SEEDS: 'x' in \"1,x\" is not a seed"),
            std::string::npos);
  EXPECT_NE(plan_error("CONFIG_OPTIMIZER_MODE_MULTIPLE=y\n# CONFIG_OPTIMIZER_ENABLE_SGD is not "
                       "set\n# CONFIG_OPTIMIZER_ENABLE_ADAM is not set\n# "
                       "CONFIG_OPTIMIZER_ENABLE_ADAMW is not set\n")
                .find("CONFIG_OPTIMIZER_MODE_MULTIPLE: the matrix lists no optimizer; enable at "
                      "least one of CONFIG_OPTIMIZER_ENABLE_SGD"),
            std::string::npos);
  // `knlp run` refuses a matrix instead of training some arbitrary cell of it.
  try {
    knlp::resolve(Config::parse("CONFIG_MATRIX=y\n", "m.config"));
    FAIL() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.line().find("m.config is a test matrix"), std::string::npos) << e.line();
  }
}

TEST(MatrixPlan, RunNamesCarryVariantAndSeed) {
  knlp::RunSettings s;
  s.model.name = "lenet5";
  s.optim.name = "adamwprune";
  s.prune.method = "state";
  s.prune.target_sparsity = 0.5;
  s.prune.variant = "bitter7";
  EXPECT_EQ(knlp::run_name(s), "lenet5_adamwprune_bitter7_state_50");
  s.train.seed = 3;
  s.train.seed_in_name = true;
  s.prune = {};
  EXPECT_EQ(knlp::run_name(s), "lenet5_adamwprune_none_seed3");
}

TEST(MatrixPlan, SplitThreadsDividesTheCores) {
  auto run = Config::parse("CONFIG_TRAIN_THREADS=0\n", "r");
  EXPECT_EQ(knlp::split_threads(run, 1, 16).get_int("TRAIN_THREADS"), 0);
  EXPECT_EQ(knlp::split_threads(run, 2, 16).get_int("TRAIN_THREADS"), 8);
  EXPECT_EQ(knlp::split_threads(Config::parse("CONFIG_TRAIN_THREADS=6\n", "r"), 4, 16)
                .get_int("TRAIN_THREADS"),
            1);
  EXPECT_EQ(knlp::split_threads(run, 3, 2).get_int("TRAIN_THREADS"), 1);
}

// ---------------------------------------------------------------------------
// Run states and the report, on directories written by hand

TEST(MatrixState, StatusAndCompleteCheckpointsDecide) {
  const auto dir = knlp::test::temp_dir("state");
  EXPECT_EQ(knlp::classify_run(dir / "never"), knlp::RunState::kFresh);
  fs::create_directories(dir / "r" / "checkpoints" / "step-000000004");
  knlp::write_file_atomic(dir / "r" / "status", "running\n");
  // A checkpoint without its DONE marker was being written when the run died.
  EXPECT_EQ(knlp::classify_run(dir / "r"), knlp::RunState::kFresh);
  knlp::write_file_atomic(dir / "r" / "checkpoints" / "step-000000004" / "DONE", "");
  EXPECT_EQ(knlp::classify_run(dir / "r"), knlp::RunState::kResume);
  knlp::write_file_atomic(dir / "r" / "status", "failed: interrupted at step 4\n");
  EXPECT_EQ(knlp::classify_run(dir / "r"), knlp::RunState::kResume);
  knlp::write_file_atomic(dir / "r" / "status", "done\n");
  EXPECT_EQ(knlp::classify_run(dir / "r"), knlp::RunState::kDone);
  fs::remove_all(dir);
}

TEST(MatrixReport, DoneFailedInterruptedAndMissingRunsAreRows) {
  const auto dir = knlp::test::temp_dir("report");
  knlp::Plan plan;
  auto add = [&](const std::string& name, const std::string& pruning, double s) {
    plan.runs.push_back({name, "lenet5", "sgd", pruning, "", s, 1, "CONFIG_SEED=1\n"});
  };
  add("lenet5_sgd_none", "none", 0);
  add("lenet5_sgd_magnitude_70", "magnitude", 0.7);
  add("lenet5_sgd_magnitude_90", "magnitude", 0.9);
  add("lenet5_sgd_movement_90", "movement", 0.9);
  knlp::write_file_atomic(dir / "matrix.json", knlp::plan_to_json(plan).dump());
  auto run_dir = [&](const std::string& name, const std::string& status, const json& metrics) {
    fs::create_directories(dir / name);
    knlp::write_file_atomic(dir / name / "status", status + "\n");
    if (!metrics.is_null()) knlp::write_file_atomic(dir / name / "metrics.json", metrics.dump());
  };
  const json summary = {{"best", 97.5},         {"final", 97.25},        {"final_sparsity", 0.0},
                        {"total_time_s", 12.5}, {"peak_rss_mib", 321.0}, {"status", "done"}};
  run_dir("lenet5_sgd_none", "done",
          {{"metric", "test_accuracy"},
           {"higher_is_better", true},
           {"summary", summary},
           {"eval", json::array({{{"step", 10}, {"test_accuracy", 97.5}}})}});
  run_dir("lenet5_sgd_magnitude_70", "failed: pruning: unknown method 'x', accepted: none",
          nullptr);
  run_dir("lenet5_sgd_magnitude_90", "running",
          {{"metric", "test_accuracy"}, {"eval", json::array()}});

  auto n = knlp::write_report(dir, true);
  EXPECT_EQ(n.done, 1);
  EXPECT_EQ(n.failed, 1);
  EXPECT_EQ(n.unfinished, 2);
  const std::string csv = knlp::read_file(dir / "summary.csv");
  EXPECT_NE(csv.find("lenet5_sgd_none,lenet5,sgd,none,,1,0,0,test_accuracy,1,97.5,97.25,12.5,321,"
                     "done,\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("lenet5_sgd_magnitude_70,lenet5,sgd,magnitude,,1,0.7,,,,,,,,failed,"
                     "\"pruning: unknown method 'x', accepted: none\"\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",interrupted,killed while running\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("lenet5_sgd_movement_90,lenet5,sgd,movement,,1,0.9,,,,,,,,not started,\n"),
            std::string::npos)
      << csv;
  const std::string md = knlp::read_file(dir / "summary.md");
  EXPECT_NE(md.find("4 runs: 1 done, 1 failed, 2 unfinished."), std::string::npos) << md;
  // One value has no sd; a baseline with no pair of done seeds gives no difference.
  EXPECT_NE(md.find("| lenet5_sgd_none | test_accuracy | 1/1 | 97.25 | 97.50 | - |  |  |  |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| lenet5_sgd_magnitude_70 |  | 0/1 |  |  | lenet5_sgd_none | 0 |  |  |\n"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("Best run"), std::string::npos) << md;  // no maximum over seeds
  for (const char* p : {"metric_vs_sparsity.png", "curves_sgd.png", "metric_vs_memory.png"})
    EXPECT_TRUE(fs::exists(dir / "plots" / p)) << p;
  fs::remove_all(dir);
}

namespace {

// summary_by_config.csv as configuration -> column -> field (no field here is quoted).
std::map<std::string, std::map<std::string, std::string>> config_rows(const fs::path& dir) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(knlp::read_file(dir / "summary_by_config.csv"));
  const auto split = [](const std::string& line) {
    std::vector<std::string> f(1);
    for (char c : line) {
      if (c == ',')
        f.emplace_back();
      else
        f.back().push_back(c);
    }
    return f;
  };
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  while (std::getline(in, line)) {
    const auto f = split(line);
    EXPECT_EQ(f.size(), header.size()) << line;
    for (size_t i = 0; i < f.size() && i < header.size(); ++i) out[f[0]][header[i]] = f[i];
  }
  return out;
}

// A matrix written by hand: lenet5_sgd_none (the baseline) and lenet5_sgd_magnitude_70,
// seeds 1-3, in plan order seed by seed. Every run has a metrics.json with these
// numbers; its status is "done" unless `status` names it otherwise.
//   seed:                1   2   3
//   none       final    90  92  94    best 91 93 98
//   magnitude  final    80  83  89    best 85 86 90
fs::path seeds_matrix(const std::string& tag, const std::map<std::string, std::string>& status) {
  const auto dir = knlp::test::temp_dir(tag);
  const double final[2][3] = {{90, 92, 94}, {80, 83, 89}},
               best[2][3] = {{91, 93, 98}, {85, 86, 90}};
  knlp::Plan plan;
  for (uint64_t seed = 1; seed <= 3; ++seed)
    for (int c = 0; c < 2; ++c) {
      const std::string name =
          fmt::format("lenet5_sgd_{}_seed{}", c ? "magnitude_70" : "none", seed);
      plan.runs.push_back({name, "lenet5", "sgd", c ? "magnitude" : "none", "", c ? 0.7 : 0.0, seed,
                           "CONFIG_SEED=1\n"});
      fs::create_directories(dir / name);
      const auto it = status.find(name);
      knlp::write_file_atomic(dir / name / "status",
                              (it == status.end() ? "done" : it->second) + "\n");
      const json summary = {{"final", final[c][seed - 1]}, {"best", best[c][seed - 1]}};
      knlp::write_file_atomic(
          dir / name / "metrics.json",
          json({{"metric", "test_accuracy"}, {"higher_is_better", true}, {"summary", summary}})
              .dump());
    }
  knlp::write_file_atomic(dir / "matrix.json", knlp::plan_to_json(plan).dump());
  knlp::write_report(dir, false);
  return dir;
}

// Each field of row `config` in `cols` equals its value to the 6 digits the csv keeps.
void expect_numbers(const std::map<std::string, std::map<std::string, std::string>>& rows,
                    const std::string& config, const std::map<std::string, double>& cols) {
  ASSERT_TRUE(rows.count(config)) << config;
  for (const auto& [col, want] : cols) {
    const std::string& got = rows.at(config).at(col);
    ASSERT_FALSE(got.empty()) << config << " " << col;
    EXPECT_NEAR(std::stod(got), want, 1e-5 * std::max(1.0, std::abs(want))) << config << " " << col;
  }
}

}  // namespace

TEST(MatrixReport, MeanAndSdOverSeedsPairedAgainstTheBaseline) {
  const auto dir = seeds_matrix("seeds", {});
  const auto rows = config_rows(dir);
  ASSERT_EQ(rows.size(), 2u);
  // final 90 92 94: mean 92, sd sqrt((4 + 0 + 4) / 2) = 2; best 91 93 98: mean 94, sd sqrt(13).
  expect_numbers(rows, "lenet5_sgd_none",
                 {{"n", 3},
                  {"final_mean", 92},
                  {"final_sd", 2},
                  {"best_mean", 94},
                  {"best_sd", std::sqrt(13.0)}});
  EXPECT_EQ(rows.at("lenet5_sgd_none").at("baseline"), "");  // the first of its model
  EXPECT_EQ(rows.at("lenet5_sgd_none").at("final_diff_mean"), "");
  // final 80 83 89: mean 84, sd sqrt(21); best 85 86 90: mean 87, sd sqrt(7).
  // Differences per seed: final -10 -9 -5 (mean -8, sd sqrt(7)), best -6 -7 -8 (-7, sd 1).
  expect_numbers(rows, "lenet5_sgd_magnitude_70",
                 {{"runs", 3},
                  {"n", 3},
                  {"final_mean", 84},
                  {"final_sd", std::sqrt(21.0)},
                  {"best_mean", 87},
                  {"best_sd", std::sqrt(7.0)},
                  {"pairs", 3},
                  {"final_diff_mean", -8},
                  {"final_diff_sd", std::sqrt(7.0)},
                  {"best_diff_mean", -7},
                  {"best_diff_sd", 1}});
  EXPECT_EQ(rows.at("lenet5_sgd_magnitude_70").at("baseline"), "lenet5_sgd_none");
  const std::string md = knlp::read_file(dir / "summary.md");
  EXPECT_NE(md.find("| lenet5_sgd_magnitude_70 | test_accuracy | 3/3 | 84.00 ± 4.58 | 87.00 ± "
                    "2.65 | lenet5_sgd_none | 3 | -8.00 ± 2.65 | -7.00 ± 1.00 |\n"),
            std::string::npos)
      << md;
  // The per-run table stays: one row per seed.
  EXPECT_NE(md.find("| lenet5_sgd_magnitude_70_seed2 |"), std::string::npos) << md;
  fs::remove_all(dir);
}

TEST(MatrixReport, OnlyDoneRunsCountAndAMissingBaselineSeedDropsThePair) {
  {
    // The baseline's seed 3 was interrupted (its metrics.json has numbers all the same).
    const auto dir =
        seeds_matrix("seeds-base", {{"lenet5_sgd_none_seed3", "failed: interrupted at step 4"}});
    const auto rows = config_rows(dir);
    // final 90 92: mean 91, sd sqrt(2); best 91 93: mean 92, sd sqrt(2).
    expect_numbers(rows, "lenet5_sgd_none",
                   {{"runs", 3},
                    {"n", 2},
                    {"final_mean", 91},
                    {"final_sd", std::sqrt(2.0)},
                    {"best_mean", 92},
                    {"best_sd", std::sqrt(2.0)}});
    // Seeds 1 and 2 pair: final -10 -9 (mean -9.5, sd sqrt(0.5)), best -6 -7 (-6.5, sqrt(0.5)).
    expect_numbers(rows, "lenet5_sgd_magnitude_70",
                   {{"n", 3},
                    {"final_mean", 84},
                    {"pairs", 2},
                    {"final_diff_mean", -9.5},
                    {"final_diff_sd", std::sqrt(0.5)},
                    {"best_diff_mean", -6.5},
                    {"best_diff_sd", std::sqrt(0.5)}});
    EXPECT_NE(knlp::read_file(dir / "summary.md").find("| lenet5_sgd_none | test_accuracy | 2/3 |"),
              std::string::npos);
    fs::remove_all(dir);
  }
  {
    // The pruned seed 2 failed, with numbers in its metrics.json: it does not count.
    const auto dir =
        seeds_matrix("seeds-failed", {{"lenet5_sgd_magnitude_70_seed2", "failed: out of memory"}});
    const auto rows = config_rows(dir);
    // final 80 89: mean 84.5, sd sqrt(40.5); best 85 90: mean 87.5, sd sqrt(12.5).
    // Seeds 1 and 3 pair: final -10 -5 (mean -7.5, sd sqrt(12.5)), best -6 -8 (-7, sd sqrt(2)).
    expect_numbers(rows, "lenet5_sgd_magnitude_70",
                   {{"n", 2},
                    {"final_mean", 84.5},
                    {"final_sd", std::sqrt(40.5)},
                    {"best_mean", 87.5},
                    {"best_sd", std::sqrt(12.5)},
                    {"pairs", 2},
                    {"final_diff_mean", -7.5},
                    {"final_diff_sd", std::sqrt(12.5)},
                    {"best_diff_mean", -7},
                    {"best_diff_sd", std::sqrt(2.0)}});
    expect_numbers(rows, "lenet5_sgd_none", {{"n", 3}, {"final_mean", 92}});
    fs::remove_all(dir);
  }
  {
    const auto dir = seeds_matrix("seeds-running", {{"lenet5_sgd_none_seed1", "running"},
                                                    {"lenet5_sgd_magnitude_70_seed3", "running"}});
    const auto rows = config_rows(dir);
    // Only seed 2 is done in both: one pair, so a difference and no sd.
    expect_numbers(rows, "lenet5_sgd_magnitude_70",
                   {{"n", 2}, {"pairs", 1}, {"final_diff_mean", -9}, {"best_diff_mean", -7}});
    EXPECT_EQ(rows.at("lenet5_sgd_magnitude_70").at("final_diff_sd"), "");
    fs::remove_all(dir);
  }
}

TEST(MatrixReport, BaselineIsTheDenseTwinElseTheFirstOfTheModel) {
  const auto dir = knlp::test::temp_dir("baselines");
  knlp::Plan plan;
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"lenet5_sgd_none", ""},
      {"lenet5_adamw_none", "lenet5_sgd_none"},
      {"lenet5_adamw_magnitude_70", "lenet5_adamw_none"},
      {"lenet5_adam_movement_50", "lenet5_sgd_none"},  // no dense adam in the matrix
      {"lenet5_adamwprune_bitter7_state_50", "lenet5_adamwprune_none"},  // listed later
      {"lenet5_adamwprune_none", "lenet5_sgd_none"},
      {"gpt2_adamw_none", ""},
      {"gpt2_adamw_mla_none", "gpt2_adamw_none"},
      {"gpt2_adamw_mla_magnitude_50", "gpt2_adamw_mla_none"},  // the same attention
  };
  for (const auto& [name, baseline] : runs) {
    std::string model = name.substr(0, name.find('_')), rest = name.substr(model.size() + 1);
    const std::string optimizer = rest.substr(0, rest.find('_'));
    std::string pruning = "none", variant;
    double sparsity = 0;
    for (const char* m : {"magnitude", "movement", "state"})
      if (name.find(std::string("_") + m + "_") != std::string::npos) pruning = m;
    if (pruning != "none") sparsity = std::stoi(name.substr(name.rfind('_') + 1)) / 100.0;
    if (pruning == "state") variant = "bitter7";
    plan.runs.push_back({name, model, optimizer, pruning, variant, sparsity, 1, ""});
  }
  knlp::write_file_atomic(dir / "matrix.json", knlp::plan_to_json(plan).dump());
  knlp::write_report(dir, false);
  const auto rows = config_rows(dir);
  ASSERT_EQ(rows.size(), runs.size());
  for (const auto& [name, baseline] : runs) {
    EXPECT_EQ(rows.at(name).at("baseline"), baseline) << name;
    EXPECT_EQ(rows.at(name).at("n"), "0") << name;  // nothing started
  }
  fs::remove_all(dir);
}

TEST(MatrixReport, BrokenFilesAreOneLineWithoutLibraryText) {
  const auto dir = knlp::test::temp_dir("broken");
  knlp::write_file_atomic(dir / "matrix.json", "{\"plan_version\": 1, \"runs\": [{\"name\"");
  try {
    knlp::load_plan(dir);
    ADD_FAILURE() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.message(), "does not parse at byte 37") << e.line();
  }
  knlp::write_file_atomic(dir / "matrix.json", "{\"plan_version\": 1, \"runs\": [{\"name\": 3}]}");
  try {
    knlp::load_plan(dir);
    ADD_FAILURE() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.line().find("json.exception"), std::string::npos) << e.line();
    EXPECT_NE(e.message().find("a field is missing or of the wrong type"), std::string::npos);
  }
  // A metrics.json cut short and a status file that holds no status: rows that say so.
  knlp::Plan plan;
  plan.runs.push_back({"lenet5_sgd_none", "lenet5", "sgd", "none", "", 0, 1, ""});
  plan.runs.push_back({"lenet5_adamw_none", "lenet5", "adamw", "none", "", 0, 1, ""});
  knlp::write_file_atomic(dir / "matrix.json", knlp::plan_to_json(plan).dump());
  fs::create_directories(dir / "lenet5_sgd_none");
  knlp::write_file_atomic(dir / "lenet5_sgd_none" / "status", "failed: x\n");
  knlp::write_file_atomic(dir / "lenet5_sgd_none" / "metrics.json", "{\"metric\": ");
  fs::create_directories(dir / "lenet5_adamw_none");
  knlp::write_file_atomic(dir / "lenet5_adamw_none" / "status", "finished\n");
  const auto n = knlp::write_report(dir, false);
  EXPECT_EQ(n.failed, 2);
  const std::string csv = knlp::read_file(dir / "summary.csv");
  EXPECT_NE(csv.find(",failed,x\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",failed,\"'finished' is not a run status;"), std::string::npos) << csv;
  knlp::write_file_atomic(dir / "lenet5_sgd_none" / "status", "done\n");
  knlp::write_report(dir, false);
  const std::string again = knlp::read_file(dir / "summary.csv");
  EXPECT_NE(again.find(",done,metrics.json does not parse at byte 12\n"), std::string::npos)
      << again;
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------
// Continue after kills, with the real binary on a tiny MNIST

namespace {

using Clock = std::chrono::steady_clock;

// build/knlp, next to build/tests/knlp_tests.
fs::path knlp_binary() {
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "knlp";
}

// Starts `knlp args...` in its own process group, output to log; returns its pid.
pid_t start_knlp(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{knlp_binary().string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_knlp(const std::vector<std::string>& args, const fs::path& log) {
  return wait_exit(start_knlp(args, log));
}

// Polls every millisecond until pred holds; false after 60 s.
bool wait_until(const std::function<bool()>& pred) {
  const auto end = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Every file under dir (links as their targets) with its bytes and mtime.
std::map<std::string, std::pair<std::string, fs::file_time_type>> snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<std::string, fs::file_time_type>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const auto rel = fs::relative(e.path(), dir).string();
    if (e.is_symlink())
      out[rel] = {fs::read_symlink(e.path()).string(), {}};
    else if (e.is_regular_file())
      out[rel] = {knlp::read_file(e.path()), fs::last_write_time(e.path())};
  }
  return out;
}

// The deterministic part of a run's metrics: every evaluation and logged train step.
json learning_of(const fs::path& run_dir) {
  const json m = json::parse(knlp::read_file(run_dir / "metrics.json"));
  return {{"train", knlp::test::untimed(m["train"])}, {"eval", knlp::test::untimed(m["eval"])}};
}

class MatrixKill : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    knlp::init_logging("warn");
    root_ = knlp::test::temp_dir("matrix");
    knlp::test::write_tiny_mnist(root_ / "data", 640, 100);
    reference_ = finished_matrix("reference", {});
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A 2-run matrix (adamw x seeds 1, 2), 2 epochs of 20 steps, a checkpoint every
  // 2 steps, results under root_/<tag>. Each run is a knlp process of about 1 s.
  static fs::path matrix_config(const std::string& tag) {
    auto cfg = knlp::test::tiny_lenet5_config(root_ / "data", root_ / tag, 2);
    for (const char* s : {"MATRIX_SEEDS=1,2", "CHECKPOINT_INTERVAL=2", "LOG_LEVEL=info"})
      cfg.set(s);
    const auto path = root_ / (tag + ".config");
    knlp::write_file_atomic(path, cfg.text());
    return path;
  }

  // The matrix under root_/<tag> once its matrix.json is written, else empty.
  static fs::path matrix_dir(const std::string& tag) {
    try {
      return knlp::newest_matrix(root_ / tag);
    } catch (const knlp::Error&) {
      return {};
    }
  }

  static fs::path finished_matrix(const std::string& tag, const std::vector<std::string>& extra) {
    std::vector<std::string> args{"matrix", "run", "--config", matrix_config(tag).string(),
                                  "--no-plot"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(run_knlp(args, root_ / (tag + ".log")), 0) << knlp::read_file(root_ / (tag + ".log"));
    return matrix_dir(tag);
  }

  // Starts the matrix, waits until `moment` holds for its directory, freezes the
  // runner and its children (SIGSTOP to their group) and, if `moment` still holds
  // on the frozen files, kills them: all at once, or with runner_only the runner
  // alone. A busy machine can let the moment pass (a run finishes between the
  // check and the freeze, or before a parallel one got going); then the attempt
  // starts over in a new folder (3 tries). Returns the matrix dir.
  static fs::path killed_matrix(const std::string& tag,
                                const std::function<bool(const fs::path&)>& moment,
                                const std::vector<std::string>& extra = {},
                                bool runner_only = false) {
    for (int attempt = 1; attempt <= 3; ++attempt) {
      const auto t = attempt == 1 ? tag : tag + "-try" + std::to_string(attempt);
      std::vector<std::string> args{"matrix", "run", "--config", matrix_config(t).string(),
                                    "--no-plot"};
      args.insert(args.end(), extra.begin(), extra.end());
      const pid_t pid = start_knlp(args, root_ / (t + ".log"));
      fs::path dir;
      int status = 0;
      bool exited = false;
      EXPECT_TRUE(wait_until([&] {
        dir = matrix_dir(t);
        if (!dir.empty() && moment(dir)) return true;
        exited = ::waitpid(pid, &status, WNOHANG) == pid;  // finished before the moment
        return exited;
      })) << t;
      if (exited) continue;
      ::kill(-pid, SIGSTOP);
      const bool hit = moment(dir);
      ::kill(hit && runner_only ? pid : -pid, SIGKILL);
      ::kill(-pid, SIGCONT);
      wait_exit(pid);
      if (hit) return dir;
    }
    ADD_FAILURE() << tag << ": the moment passed before the freeze, 3 times";
    return {};
  }

  // `knlp matrix continue dir` finishes the matrix: every run done once, with the
  // learning curve of the uninterrupted reference, and nothing half-written left.
  static void expect_continue_finishes(const fs::path& dir) {
    const auto log = dir.parent_path() / "continue.log";
    ASSERT_EQ(run_knlp({"matrix", "continue", dir.string(), "--no-plot"}, log), 0)
        << knlp::read_file(log);
    const auto plan = knlp::load_plan(dir);
    ASSERT_EQ(plan.runs.size(), 2u);
    for (const auto& r : plan.runs) {
      const auto rd = dir / r.name;
      EXPECT_EQ(knlp::read_status(rd).state, State::kDone) << r.name;
      EXPECT_EQ(learning_of(rd), learning_of(reference_ / r.name)) << r.name;
      // The same .config as the reference's run, results folder aside.
      auto cfg = Config::load(rd / "config");
      cfg.set("OUTPUT_DIR=" + (root_ / "reference").string());
      EXPECT_EQ(cfg.text(), knlp::read_file(reference_ / r.name / "config")) << r.name;
      for (const auto& e : fs::recursive_directory_iterator(rd)) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
        if (e.path().parent_path().filename() == "checkpoints") {
          EXPECT_TRUE(fs::exists(e.path() / "DONE")) << e.path();
        }
      }
    }
    const std::string csv = knlp::read_file(dir / "summary.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;
    EXPECT_EQ(csv.find("not started"), std::string::npos) << csv;
  }

  static inline fs::path root_, reference_;
};

}  // namespace

// ctest runs each test in its own process, and each would train the reference
// matrix again: the scenarios are parts of one test instead.
TEST_F(MatrixKill, ContinueAfterAKillAtEachMoment) {
  const auto reference_finishes = [&] {
    ASSERT_FALSE(reference_.empty());
    const auto plan = knlp::load_plan(reference_);
    ASSERT_EQ(names_of(plan),
              (std::vector<std::string>{"lenet5_adamw_none_seed1", "lenet5_adamw_none_seed2"}));
    for (const auto& r : plan.runs) {
      EXPECT_EQ(knlp::read_status(reference_ / r.name).state, State::kDone);
      EXPECT_EQ(learning_of(reference_ / r.name)["eval"].size(), 3u);  // step 0, 2 epochs
    }
    // Different seeds learn differently: the seed reached each run.
    EXPECT_NE(learning_of(reference_ / plan.runs[0].name),
              learning_of(reference_ / plan.runs[1].name));
    EXPECT_TRUE(fs::exists(reference_ / "summary.md"));
  };
  const auto killed_before_any_run = [&] {
    const auto dir =
        killed_matrix("before", [](const fs::path& d) { return fs::exists(d / "matrix.json"); });
    for (const auto& r : knlp::load_plan(dir).runs)
      EXPECT_NE(knlp::read_status(dir / r.name).state, State::kDone);
    expect_continue_finishes(dir);
  };
  const auto killed_mid_run = [&] {
    const auto first = "lenet5_adamw_none_seed1";
    const auto dir = killed_matrix("midrun", [&](const fs::path& d) {
      return fs::exists(d / first / "last") &&
             knlp::read_status(d / first).state == State::kRunning;
    });
    ASSERT_TRUE(knlp::has_checkpoint(dir / first));
    // As if killed while writing a newer checkpoint: its folder has no DONE marker,
    // and atomic writes left their temp files. Continue must resume from the last
    // complete checkpoint and clear these away.
    const auto partial = dir / first / "checkpoints" / "step-000000039";
    fs::create_directories(partial);
    knlp::write_file_atomic(partial / "model.pt", "half a model");
    knlp::write_file_atomic(dir / first / "metrics.json.tmp.99999", "{\"trunc");
    knlp::write_file_atomic(partial / "state.json.tmp.99999", "{");
    expect_continue_finishes(dir);
    EXPECT_NE(knlp::read_file(dir / first / "log.txt").find("resumed from step-"),
              std::string::npos);
  };
  const auto killed_between_runs = [&] {
    const auto first = "lenet5_adamw_none_seed1";
    const auto dir = killed_matrix("between", [&](const fs::path& d) {
      return knlp::read_status(d / first).state == State::kDone;
    });
    const auto before = snapshot(dir / first);
    expect_continue_finishes(dir);
    EXPECT_EQ(snapshot(dir / first), before);
  };
  const auto runner_killed_alone = [&] {
    // Two runs at a time, one thread each; kill only the runner (SIGKILL).
    const auto a = "lenet5_adamw_none_seed1", b = "lenet5_adamw_none_seed2";
    const auto dir = killed_matrix(
        "parallel",
        [&](const fs::path& d) {
          return knlp::has_checkpoint(d / a) && knlp::has_checkpoint(d / b) &&
                 knlp::read_status(d / a).state == State::kRunning &&
                 knlp::read_status(d / b).state == State::kRunning;
        },
        {"--parallel", "2", "--set", "TRAIN_THREADS=2"}, true);
    ASSERT_FALSE(dir.empty());
    // Its children die with it and let go of the lock; none goes on to finish.
    const int fd = ::open((dir / "lock").c_str(), O_RDWR);
    EXPECT_TRUE(wait_until([&] { return ::flock(fd, LOCK_EX | LOCK_NB) == 0; }));
    ::close(fd);
    EXPECT_NE(knlp::read_status(dir / a).state, State::kDone);
    EXPECT_NE(knlp::read_status(dir / b).state, State::kDone);
    EXPECT_EQ(Config::load(dir / a / "config").get_int("TRAIN_THREADS"), 1);
    expect_continue_finishes(dir);
  };
  const auto second_runner_refused = [&] {
    const auto dir = reference_;
    const int fd = ::open((dir / "lock").c_str(), O_RDWR);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    knlp::MatrixOptions o;
    o.knlp = knlp_binary();
    o.lock_wait_s = 0;
    try {
      knlp::run_matrix(dir, o);
      ADD_FAILURE() << "no error";
    } catch (const knlp::Error& e) {
      EXPECT_NE(e.line().find("is running this matrix"), std::string::npos) << e.line();
    }
    ::close(fd);
    // With the lock free, continuing a finished matrix changes nothing.
    const auto before = snapshot(dir / "lenet5_adamw_none_seed1");
    const auto out = knlp::run_matrix(dir, o);
    EXPECT_EQ(out.done, 2);
    EXPECT_EQ(out.left + out.failed, 0);
    EXPECT_EQ(snapshot(dir / "lenet5_adamw_none_seed1"), before);
  };
  const std::pair<const char*, std::function<void()>> scenarios[] = {
      {"the reference matrix finishes", reference_finishes},
      {"killed before any run", killed_before_any_run},
      {"killed mid-run while a checkpoint is written", killed_mid_run},
      {"killed between runs", killed_between_runs},
      {"runner killed alone, two runs in flight", runner_killed_alone},
      {"a second runner is refused", second_runner_refused},
  };
  for (const auto& [what, scenario] : scenarios) {
    SCOPED_TRACE(what);
    scenario();
  }
}
