// matrix/report.cpp - summary.csv, summary.md and plots of a matrix in any state.
//
// One row per planned run, from the run's status file and the "summary" of its
// metrics.json; a run that failed, was interrupted or never started is a row
// that says so, never a reason for the report to stop. Then one row per
// configuration (a run without its seed): mean and sample sd over its done
// runs, and the per-seed differences against its baseline (docs/matrix.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>

#include "matrix/matrix.h"
#include "train/train.h"  // RunStatus, read_status
#include "util/check.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/scripts.h"

namespace knlp {

namespace {

using json = nlohmann::json;

struct Row {
  const PlannedRun* run;
  RunStatus status;
  std::string reason;  // why it is not done
  std::string metric;  // test_accuracy, val_perplexity, ...
  bool higher_is_better = true;
  std::optional<double> best, final, sparsity, time_s, peak_mib;

  bool done() const { return status.state == RunStatus::State::kDone; }
  // done | failed | interrupted | not started, as the tables say it.
  std::string state() const {
    switch (status.state) {
      case RunStatus::State::kDone:
        return "done";
      case RunStatus::State::kFailed:
        return "failed";
      case RunStatus::State::kNone:
        return "not started";
      default:
        return "interrupted";  // running with nobody running it: killed
    }
  }
};

std::optional<double> number(const json& j, const char* key) {
  if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

Row read_row(const std::filesystem::path& dir, const PlannedRun& run) {
  Row row{&run, {}, "", "", true, {}, {}, {}, {}, {}};
  const auto rd = dir / run.name;
  try {
    row.status = read_status(rd);
  } catch (const Error& e) {  // a status file that holds no status: the run failed
    row.status = RunStatus::failed(e.message());
  }
  if (row.status.state == RunStatus::State::kRunning)
    row.reason = "killed while running";
  else if (!row.done() && row.status.state != RunStatus::State::kNone)
    row.reason = row.status.describe();
  const auto path = rd / "metrics.json";
  if (!std::filesystem::exists(path)) return row;
  try {
    const json m = json::parse(read_file(path));
    row.higher_is_better = m.value("higher_is_better", true);
    const json s = m.value("summary", json::object());
    // Runs with a test split are selected on validation and reported on test:
    // best is the test metric of the checkpoint validation chose.
    const bool tested = m.contains("test_metric");
    row.metric = m.value(tested ? "test_metric" : "metric", "");
    row.best = number(s, tested ? "test_at_best" : "best");
    row.final = number(s, tested ? "final_test" : "final");
    row.sparsity = number(s, "final_sparsity");
    row.time_s = number(s, "total_time_s");
    row.peak_mib = number(s, "peak_rss_mib");
  } catch (const json::parse_error& e) {
    if (row.reason.empty())
      row.reason = fmt::format("metrics.json does not parse at byte {}", e.byte);
  } catch (const json::exception&) {
    if (row.reason.empty()) row.reason = "metrics.json: metric or summary has the wrong type";
  }
  return row;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string num(const std::optional<double>& v, const char* spec = "{:.6g}") {
  return v ? fmt::format(fmt::runtime(spec), *v) : "";
}

std::string csv(const std::vector<Row>& rows) {
  std::string out =
      "name,model,optimizer,pruning,variant,seed,target_sparsity,final_sparsity,metric,"
      "higher_is_better,best,final,time_s,peak_rss_mib,status,reason\n";
  for (const auto& r : rows) {
    const auto& p = *r.run;
    std::vector<std::string> f{p.name,
                               p.model,
                               p.optimizer,
                               p.pruning,
                               p.variant,
                               std::to_string(p.seed),
                               fmt::format("{:g}", p.target_sparsity),
                               num(r.sparsity),
                               r.metric,
                               r.metric.empty() ? "" : (r.higher_is_better ? "1" : "0"),
                               num(r.best),
                               num(r.final),
                               num(r.time_s, "{:.1f}"),
                               num(r.peak_mib, "{:.0f}"),
                               r.state(),
                               r.reason};
    for (size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + csv_field(f[i]);
    out += "\n";
  }
  return out;
}

// n, mean and sample sd (n - 1; none below 2 values) of some numbers.
struct Stats {
  int64_t n = 0;
  std::optional<double> mean, sd;
};

Stats stats_of(const std::vector<double>& v) {
  Stats st;
  st.n = static_cast<int64_t>(v.size());
  if (v.empty()) return st;
  double sum = 0;
  for (double x : v) sum += x;
  st.mean = sum / v.size();
  if (v.size() < 2) return st;
  double ss = 0;
  for (double x : v) ss += (x - *st.mean) * (x - *st.mean);
  st.sd = std::sqrt(ss / (v.size() - 1));
  return st;
}

// The runs of one configuration: the same name but for _seedN.
struct Configuration {
  std::string name;                         // lenet5_sgd_magnitude_70
  const PlannedRun* first;                  // its first run: model, optimizer, pruning, ...
  std::vector<const Row*> runs;             // in plan order
  const Configuration* baseline = nullptr;  // none: it is the first of its model
  std::string metric;
  bool higher_is_better = true;
  Stats final, best;      // over done runs with numbers
  Stats d_final, d_best;  // this minus the baseline, per seed both have done
};

// A run's name without the _seedN that run_name() appends for a repeat.
std::string config_name(const PlannedRun& r) {
  const std::string tail = fmt::format("_seed{}", r.seed);
  const auto& n = r.name;
  if (n.size() > tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0)
    return n.substr(0, n.size() - tail.size());
  return n;
}

// The name of r's dense twin: r's with its pruning part ("_magnitude_70",
// "_bitter7_state_50", as run_name() writes it) replaced by "_none"; "" when the
// name does not end that way.
std::string dense_name(const std::string& config, const PlannedRun& r) {
  std::string tail = "_none";
  if (r.pruning != "none")
    tail = fmt::format("{}_{}_{}", r.pruning == "state" ? "_" + r.variant : "", r.pruning,
                       static_cast<int>(r.target_sparsity * 100 + 0.5));
  if (config.size() <= tail.size() ||
      config.compare(config.size() - tail.size(), tail.size(), tail) != 0)
    return "";
  return config.substr(0, config.size() - tail.size()) + "_none";
}

// A done run's numbers, when it has both.
bool has_numbers(const Row* r) { return r->done() && r->final && r->best; }

// The paired differences of c against its baseline: one per seed both have done.
void pair_with_baseline(Configuration& c) {
  if (!c.baseline || c.baseline->metric != c.metric) return;
  std::map<uint64_t, const Row*> base;
  for (const Row* r : c.baseline->runs)
    if (has_numbers(r)) base[r->run->seed] = r;
  std::vector<double> d_final, d_best;
  for (const Row* r : c.runs) {
    const auto b = base.find(r->run->seed);
    if (!has_numbers(r) || b == base.end()) continue;
    d_final.push_back(*r->final - *b->second->final);
    d_best.push_back(*r->best - *b->second->best);
  }
  c.d_final = stats_of(d_final);
  c.d_best = stats_of(d_best);
}

// The runs grouped by configuration, in plan order of each one's first run.
std::vector<Configuration> group_runs(const std::vector<Row>& rows) {
  std::vector<Configuration> configs;
  std::map<std::string, size_t> index;
  for (const auto& r : rows) {
    const std::string name = config_name(*r.run);
    if (index.emplace(name, configs.size()).second)
      configs.push_back({name, r.run, {}, nullptr, "", true, {}, {}, {}, {}});
    configs[index[name]].runs.push_back(&r);
  }
  return configs;
}

// Mean and sd of c's final and best over its done runs.
void summarize(Configuration& c) {
  std::vector<double> final, best;
  for (const Row* r : c.runs) {
    if (!has_numbers(r)) continue;
    if (c.metric.empty()) c.metric = r->metric, c.higher_is_better = r->higher_is_better;
    final.push_back(*r->final);
    best.push_back(*r->best);
  }
  c.final = stats_of(final);
  c.best = stats_of(best);
}

// Each configuration's baseline (docs/matrix.md): its dense twin when the matrix
// has one, else the first configuration of its model (none for that one itself).
void choose_baselines(std::vector<Configuration>& configs) {
  std::map<std::string, const Configuration*> by_name, first_of_model;
  for (const auto& c : configs) {
    by_name.emplace(c.name, &c);
    first_of_model.emplace(c.first->model, &c);
  }
  for (auto& c : configs) {
    const auto twin = by_name.find(dense_name(c.name, *c.first));
    if (c.first->pruning != "none" && twin != by_name.end())
      c.baseline = twin->second;
    else if (first_of_model[c.first->model] != &c)
      c.baseline = first_of_model[c.first->model];
  }
}

std::vector<Configuration> configurations(const std::vector<Row>& rows) {
  std::vector<Configuration> configs = group_runs(rows);
  for (auto& c : configs) summarize(c);
  choose_baselines(configs);
  for (auto& c : configs) pair_with_baseline(c);
  return configs;
}

std::string csv_configs(const std::vector<Configuration>& configs) {
  std::string out =
      "config,model,optimizer,pruning,variant,target_sparsity,metric,higher_is_better,runs,n,"
      "final_mean,final_sd,best_mean,best_sd,baseline,pairs,final_diff_mean,final_diff_sd,"
      "best_diff_mean,best_diff_sd\n";
  for (const auto& c : configs) {
    const auto& p = *c.first;
    std::vector<std::string> f{c.name,
                               p.model,
                               p.optimizer,
                               p.pruning,
                               p.variant,
                               fmt::format("{:g}", p.target_sparsity),
                               c.metric,
                               c.metric.empty() ? "" : (c.higher_is_better ? "1" : "0"),
                               std::to_string(c.runs.size()),
                               std::to_string(c.final.n),
                               num(c.final.mean),
                               num(c.final.sd),
                               num(c.best.mean),
                               num(c.best.sd),
                               c.baseline ? c.baseline->name : "",
                               c.baseline ? std::to_string(c.d_final.n) : "",
                               num(c.d_final.mean),
                               num(c.d_final.sd),
                               num(c.d_best.mean),
                               num(c.d_best.sd)};
    for (size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + csv_field(f[i]);
    out += "\n";
  }
  return out;
}

// "84.00 ± 4.58", "84.00" for one value, "" for none.
std::string mean_sd(const Stats& st) {
  if (!st.mean) return "";
  return st.sd ? fmt::format("{:.2f} ± {:.2f}", *st.mean, *st.sd) : fmt::format("{:.2f}", *st.mean);
}

std::string markdown_configs(const std::vector<Configuration>& configs) {
  std::string out =
      "\n## Configurations over seeds\n\n"
      "One row per configuration (a run without its seed). n: its done runs, of those planned; "
      "final and best: mean ± sample sd (n - 1) over them. Δ: the configuration minus its "
      "baseline seed by seed, mean ± sd over the pairs (seeds both have done).\n\n"
      "| configuration | metric | n | final | best | baseline | pairs | Δ final | Δ best |\n"
      "|---|---|---:|---:|---:|---|---:|---:|---:|\n";
  for (const auto& c : configs)
    out += fmt::format(
        "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |\n", c.name, c.metric, c.final.n,
        c.runs.size(), mean_sd(c.final), mean_sd(c.best), c.baseline ? c.baseline->name : "-",
        c.baseline ? std::to_string(c.d_final.n) : "", mean_sd(c.d_final), mean_sd(c.d_best));
  return out;
}

std::string markdown(const std::filesystem::path& dir, const std::vector<Row>& rows,
                     const std::vector<Configuration>& configs, const ReportCounts& n) {
  std::string out =
      fmt::format("# Test matrix {}\n\n{} runs: {} done, {} failed, {} unfinished.\n\n",
                  dir.filename().string(), rows.size(), n.done, n.failed, n.unfinished);
  out +=
      "| run | target | reached | metric | best | final | time | peak MiB | status |\n"
      "|---|---:|---:|---|---:|---:|---:|---:|---|\n";
  for (const auto& r : rows)
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.run->name,
        r.run->pruning == "none" ? "-" : fmt::format("{:.0f} %", 100 * r.run->target_sparsity),
        r.sparsity ? fmt::format("{:.1f} %", 100 * *r.sparsity) : "", r.metric,
        num(r.best, "{:.2f}"), num(r.final, "{:.2f}"), r.time_s ? format_duration(*r.time_s) : "",
        num(r.peak_mib, "{:.0f}"), r.state());

  out += markdown_configs(configs);
  bool header = false;
  for (const auto& r : rows) {
    if (r.done()) continue;
    if (!header) out += "\n## Not done\n\n", header = true;
    out += fmt::format("- {}: {}{}\n", r.run->name, r.state(),
                       r.reason.empty() ? "" : ": " + r.reason);
  }
  out +=
      "\nPlots (scripts/plot_matrix.py): plots/metric_vs_sparsity.png, "
      "plots/curves_<optimizer>.png, plots/metric_vs_memory.png.\n";
  return out;
}

}  // namespace

ReportCounts write_report(const std::filesystem::path& dir, bool plots) {
  const Plan plan = load_plan(dir);
  std::vector<Row> rows;
  ReportCounts n;
  for (const auto& run : plan.runs) {
    rows.push_back(read_row(dir, run));
    const auto state = rows.back().status.state;
    if (state == RunStatus::State::kDone)
      ++n.done;
    else if (state == RunStatus::State::kFailed)
      ++n.failed;
    else
      ++n.unfinished;
  }
  const std::vector<Configuration> configs = configurations(rows);
  write_file_atomic(dir / "summary.csv", csv(rows));
  write_file_atomic(dir / "summary_by_config.csv", csv_configs(configs));
  write_file_atomic(dir / "summary.md", markdown(dir, rows, configs, n));
  spdlog::info("report: {}/summary{{.md,.csv,_by_config.csv}}: {} done, {} failed, {} unfinished",
               dir.string(), n.done, n.failed, n.unfinished);
  if (plots) {
    try {
      run_script("plot_matrix.py", {dir.string()});
      spdlog::info("plots: {}/plots/", dir.string());
    } catch (const Error& e) {
      spdlog::warn("no plots for {}: {}", dir.string(), e.message());
    }
  }
  return n;
}

}  // namespace knlp
