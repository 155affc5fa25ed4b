// matrix/plan.cpp - a matrix .config to its runs, and the plan on disk (matrix.json).
//
// resolve_matrix() lists the combinations as symbols to set; kconfiglib applies
// them to the matrix .config (scripts/kconfig.py expand) and writes the .config
// of each run, so every run's .config is one `make olddefconfig` would keep.
// A combination whose required lines Kconfig drops is no run (sgd cannot state-
// prune); identical .configs are one run (a dense run has no sparsity to vary).
// Each run is named by train's run_name(), the one function plan, run and
// continue share.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <set>

#include "matrix/matrix.h"
#include "train/train.h"  // run_name, check_run
#include "util/check.h"
#include "util/fs.h"
#include "util/scripts.h"

namespace knlp {

namespace {

using json = nlohmann::json;

constexpr int kPlanVersion = 1;

// A scratch folder removed when it goes out of scope.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    path = std::filesystem::temp_directory_path() / fmt::format("knlp-plan-{}", ::getpid());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Why Kconfig rejects combination c ("" when it does not): the first required line
// it dropped, as scripts/kconfig.py explained it.
std::string rejection(const MatrixCombination& c, const json& dropped) {
  for (const auto& d : dropped)
    for (const auto& a : c.assignments)
      if (a.required && a.symbol == d[0].get<std::string>())
        return fmt::format("CONFIG_{}={}: {}", a.symbol, a.value, d[2].get<std::string>());
  return "";
}

PlannedRun planned_run(const Config& run) {
  const RunSettings s = resolve(run);
  PlannedRun r;
  r.name = run_name(s);
  r.model = s.model.name;
  r.optimizer = s.optim.name;
  r.pruning = s.prune.method;
  r.variant = s.prune.method == "state" ? s.prune.variant : "";  // only state pruning has one
  r.target_sparsity = s.prune.method == "none" ? 0.0 : s.prune.target_sparsity;
  r.seed = s.train.seed;
  r.config = run.text();
  return r;
}

std::string timestamp() {
  return fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)));
}

}  // namespace

Plan make_plan(const Config& cfg) {
  ScratchDir scratch;
  const auto matrix_path = (scratch.path / "matrix.config").string();
  write_file_atomic(matrix_path, cfg.text());
  const Config matrix =
      Config::parse(run_script("kconfig.py", {"normalize", matrix_path}), cfg.origin());
  const MatrixSettings m = resolve_matrix(matrix);

  json request = json::array();
  for (const auto& c : m.combinations) {
    json lines = json::array();
    for (const auto& a : c.assignments) lines.push_back({a.symbol, a.value});
    request.push_back(lines);
  }
  const auto request_path = (scratch.path / "request.json").string();
  write_file_atomic(request_path, request.dump());
  const json answer = json::parse(run_script("kconfig.py", {"expand", matrix_path, request_path}));
  KNLP_CHECK(answer.size() == m.combinations.size(), "scripts/kconfig.py",
             "answered {} combinations of {}", answer.size(), m.combinations.size());

  Plan plan;
  plan.parallel = m.parallel;
  plan.output_dir = m.output_dir;
  plan.config = matrix.text();
  std::map<std::string, int> skipped;  // reason -> combinations
  std::vector<std::string> skipped_order;
  std::set<std::string> texts;
  std::map<std::string, std::string> labels;  // run name -> label of its combination
  for (size_t i = 0; i < answer.size(); ++i) {
    const auto& c = m.combinations[i];
    const std::string why = rejection(c, answer[i]["dropped"]);
    if (!why.empty()) {
      const auto key = fmt::format("{}: {}", c.key, why);
      if (skipped[key]++ == 0) skipped_order.push_back(key);
      continue;
    }
    const Config run = Config::parse(answer[i]["config"].get<std::string>(),
                                     fmt::format("{} [{}]", cfg.origin(), c.label));
    if (!texts.insert(run.text()).second) continue;
    PlannedRun r = planned_run(run);
    KNLP_CHECK_INPUT(!labels.count(r.name), cfg.origin(),
                     "two runs of the matrix would both be named {} ([{}] and [{}]); "
                     "run_name() must tell them apart",
                     r.name, labels[r.name], c.label);
    labels[r.name] = c.label;
    plan.runs.push_back(std::move(r));
  }
  for (const auto& key : skipped_order)
    plan.skipped.push_back(skipped[key] > 1 ? fmt::format("{} (x{})", key, skipped[key]) : key);
  KNLP_CHECK_INPUT(!plan.runs.empty(), cfg.origin(),
                   "the matrix has no valid run; Kconfig rejects every combination ({})",
                   plan.skipped.empty() ? "" : plan.skipped.front());
  return plan;
}

json plan_to_json(const Plan& plan) {
  json runs = json::array();
  for (const auto& r : plan.runs)
    runs.push_back({{"name", r.name},
                    {"model", r.model},
                    {"optimizer", r.optimizer},
                    {"pruning", r.pruning},
                    {"variant", r.variant},
                    {"target_sparsity", r.target_sparsity},
                    {"seed", r.seed},
                    {"config", r.config}});
  return {{"plan_version", kPlanVersion},
          {"parallel", plan.parallel},
          {"output_dir", plan.output_dir.string()},
          {"config", plan.config},
          {"skipped", plan.skipped},
          {"runs", runs}};
}

Plan load_plan(const std::filesystem::path& dir) {
  const auto path = dir / "matrix.json";
  KNLP_CHECK_INPUT(std::filesystem::exists(path), path.string(),
                   "no such file; is {} a matrix directory (results/matrix-<time>)?", dir.string());
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    raise_at(path.string(), "matrix.json", fmt::format("does not parse at byte {}", e.byte));
  }
  Plan plan;
  try {
    KNLP_CHECK_INPUT(j.value("plan_version", 0) == kPlanVersion, path.string(),
                     "plan version {}; this knlp reads version {}", j.value("plan_version", 0),
                     kPlanVersion);
    plan.parallel = j.value("parallel", int64_t{1});
    plan.output_dir = j.value("output_dir", std::string("results"));
    plan.config = j.value("config", std::string());
    plan.skipped = j.value("skipped", std::vector<std::string>());
    for (const auto& r : j.at("runs"))
      plan.runs.push_back({r.at("name"), r.at("model"), r.at("optimizer"), r.at("pruning"),
                           r.value("variant", std::string()), r.value("target_sparsity", 0.0),
                           r.value("seed", uint64_t{0}), r.at("config")});
  } catch (const json::exception&) {
    raise_at(path.string(), "matrix.json",
             "a field is missing or of the wrong type (every run needs name, model, optimizer, "
             "pruning and config)");
  }
  return plan;
}

void print_plan(const Plan& plan) {
  spdlog::info("plan: {} run{}, {} at a time", plan.runs.size(), plan.runs.size() == 1 ? "" : "s",
               plan.parallel);
  for (size_t i = 0; i < plan.runs.size(); ++i)
    spdlog::info("  {:>4}  {}", i + 1, plan.runs[i].name);
  if (!plan.skipped.empty()) {
    spdlog::info("skipped, Kconfig rejects:");
    for (const auto& s : plan.skipped) spdlog::info("  {}", s);
  }
}

std::vector<std::string> check_plan(const Plan& plan, bool quiet) {
  std::vector<std::string> failed;
  const auto level = spdlog::get_level();
  for (const auto& r : plan.runs) {
    if (quiet) spdlog::set_level(spdlog::level::warn);
    std::string why;
    try {
      check_run(Config::parse(r.config, r.name));
    } catch (const Error& e) {
      why = e.line();
    } catch (const std::exception& e) {
      why = e.what();
    }
    spdlog::set_level(level);
    if (!why.empty()) {
      why = why.substr(0, why.find('\n'));
      spdlog::error("check {}: FAILED: {}", r.name, why);
      failed.push_back(fmt::format("{}: {}", r.name, why));
    }
  }
  return failed;
}

std::filesystem::path create_matrix(const Plan& plan) {
  const auto base = plan.output_dir / fmt::format("matrix-{}", timestamp());
  auto dir = base;
  for (int n = 2; std::filesystem::exists(dir); ++n) dir = fmt::format("{}-{}", base.string(), n);
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "config", plan.config);
  write_file_atomic(dir / "matrix.json", plan_to_json(plan).dump(1));
  return dir;
}

std::filesystem::path newest_matrix(const std::filesystem::path& root) {
  std::filesystem::path newest;
  if (std::filesystem::is_directory(root))
    for (const auto& e : std::filesystem::directory_iterator(root)) {
      const auto name = e.path().filename().string();
      if (e.is_directory() && name.rfind("matrix-", 0) == 0 &&
          std::filesystem::exists(e.path() / "matrix.json") &&
          (newest.empty() || name > newest.filename().string()))
        newest = e.path();
    }
  KNLP_CHECK_INPUT(!newest.empty(), root.string(),
                   "no test matrix here (no matrix-*/matrix.json); start one with 'make' on a "
                   "matrix .config, or name one with DIR=");
  return newest;
}

}  // namespace knlp
