// matrix/report.cpp - summary.csv, summary.md and plots of a matrix in any state.
//
// One row per planned run, from the run's status file and the "summary" of its
// metrics.json; a run that failed, was interrupted or never started is a row
// that says so, never a reason for the report to stop.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
    row.metric = m.value("metric", "");
    row.higher_is_better = m.value("higher_is_better", true);
    const json s = m.value("summary", json::object());
    row.best = number(s, "best");
    row.final = number(s, "final");
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

std::string markdown(const std::filesystem::path& dir, const std::vector<Row>& rows,
                     const ReportCounts& n) {
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

  // The best done run of each model and optimizer, by its own metric's direction.
  std::map<std::string, const Row*> best;
  for (const auto& r : rows) {
    if (!r.done() || !r.best) continue;
    const auto key = r.run->model + " " + r.run->optimizer;
    const Row* b = best[key];
    if (!b || (r.higher_is_better ? *r.best > *b->best : *r.best < *b->best)) best[key] = &r;
  }
  if (!best.empty()) {
    out +=
        "\n## Best run per model and optimizer\n\n| model, optimizer | run | best "
        "|\n|---|---|---:|\n";
    for (const auto& [key, r] : best)
      out += fmt::format("| {} | {} | {:.2f} {} |\n", key, r->run->name, *r->best, r->metric);
  }
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
  write_file_atomic(dir / "summary.csv", csv(rows));
  write_file_atomic(dir / "summary.md", markdown(dir, rows, n));
  spdlog::info("report: {}/summary.md, summary.csv: {} done, {} failed, {} unfinished",
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
