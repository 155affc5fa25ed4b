// matrix/matrix.h - the test matrix: plan, run, continue, report.
//
// A matrix directory <OUTPUT_DIR>/matrix-<time>/ holds matrix.json (the plan,
// written before any run starts), config (the matrix .config), lock, one run
// directory per planned run exactly as `knlp run` writes it, and, when the
// matrix ends, summary.md, summary.csv, summary_by_config.csv and plots/. A
// run's state is its status file and its checkpoints; nothing else records
// progress, so a matrix killed at any moment continues from what is on disk
// (docs/matrix.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"  // Config, resolve_matrix, split_threads

namespace knlp {

struct PlannedRun {
  std::string name;  // run_name() of its settings; also its folder in the matrix
  std::string model, optimizer, pruning, variant;
  double target_sparsity = 0;  // 0 for dense runs
  uint64_t seed = 0;
  std::string config;  // the .config of this one run
};

struct Plan {
  std::vector<PlannedRun> runs;      // in run order
  std::vector<std::string> skipped;  // combinations Kconfig rejects, each with its reason
  int64_t parallel = 1;              // MATRIX_PARALLEL
  std::filesystem::path output_dir;  // where new matrix directories go
  std::string config;                // the matrix .config, normalised by kconfiglib
};

// Expands cfg (a matrix or a single-run .config) into its runs, in run order, with
// kconfiglib (scripts/kconfig.py expand). Throws Error (exit 2) naming the symbol when
// a run's .config is invalid, the matrix has no run, or two runs would share a name.
Plan make_plan(const Config& cfg);

// The plan as matrix.json holds it, and back; load_plan throws Error (exit 2) when
// dir has no readable matrix.json.
nlohmann::json plan_to_json(const Plan& plan);
Plan load_plan(const std::filesystem::path& dir);

// Logs the plan: how many runs, their names in order, what Kconfig skipped.
void print_plan(const Plan& plan);

// check_run() on every planned run; returns "name: reason" for each that fails.
// quiet: only failures are logged.
std::vector<std::string> check_plan(const Plan& plan, bool quiet);

// Creates <output_dir>/matrix-<time>/ and writes matrix.json and config into it.
std::filesystem::path create_matrix(const Plan& plan);

struct MatrixOptions {
  std::filesystem::path knlp;  // the binary that trains each run (`knlp run`), as a child
  int64_t parallel = 0;        // runs at a time; 0: the plan's MATRIX_PARALLEL
  int lock_wait_s = 10;        // how long to wait for another runner to let go of the lock
};

struct MatrixOutcome {
  int64_t done = 0, failed = 0, left = 0;  // left: not started or interrupted
  bool interrupted = false;                // stopped by SIGINT/SIGTERM
};

// Trains every run of the matrix in dir that is not done, `parallel` at a time, each
// as a child process: a run with a complete checkpoint resumes from it, one without
// starts clean, done runs are not touched. Holds dir/lock throughout; throws Error
// (exit 1) when another runner holds it. Never asks a question.
MatrixOutcome run_matrix(const std::filesystem::path& dir, const MatrixOptions& options);

// What run_matrix does with a run directory: keep it, start it over, or resume it.
enum class RunState { kDone, kFresh, kResume };
RunState classify_run(const std::filesystem::path& run_dir);

// The newest matrix-* directory under root (names sort by time); Error (exit 2) if none.
std::filesystem::path newest_matrix(const std::filesystem::path& root);

struct ReportCounts {
  int64_t done = 0, failed = 0, unfinished = 0;  // unfinished: interrupted or never started
};

// Writes dir/summary.csv (one row per planned run, from each run's metrics.json and
// status), dir/summary_by_config.csv (one per configuration: mean and sd over its
// done seeds, paired differences against its baseline; docs/matrix.md), dir/summary.md
// with both and, when plots, dir/plots/ with scripts/plot_matrix.py (a failure there
// is a warning). Works on a matrix in any state.
ReportCounts write_report(const std::filesystem::path& dir, bool plots);

}  // namespace knlp
