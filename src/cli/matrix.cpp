// cli/matrix.cpp - `knlp matrix plan|check|run|continue|report`: the test matrix.
#include "matrix/matrix.h"

#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "config/config.h"
#include "util/check.h"

namespace knlp {

namespace {

struct MatrixArgs {
  ConfigOptions config;
  int64_t parallel = 0;
  std::string dir;
  bool no_plot = false;
};

MatrixOptions runner_options(const MatrixArgs& a) {
  MatrixOptions o;
  o.knlp = std::filesystem::read_symlink("/proc/self/exe");
  o.parallel = a.parallel;
  return o;
}

// Trains what is left of the matrix in dir, then writes its report; the exit code.
int run_and_report(const std::filesystem::path& dir, const MatrixArgs& a) {
  const MatrixOutcome out = run_matrix(dir, runner_options(a));
  write_report(dir, !a.no_plot);
  if (out.interrupted || out.left > 0)
    spdlog::warn("matrix {} stopped with {} runs left; 'make continue DIR={}' finishes it",
                 dir.string(), out.left, dir.string());
  else if (out.failed > 0)
    spdlog::warn("{} runs failed (summary.md says why); 'make continue DIR={}' retries them",
                 out.failed, dir.string());
  return out.failed + out.left == 0 ? 0 : static_cast<int>(ExitCode::kRunFailed);
}

// The matrix `continue` and `report` work on: DIR, else the newest under OUTPUT_DIR.
std::filesystem::path matrix_dir(const MatrixArgs& a) {
  if (!a.dir.empty()) return a.dir;
  std::filesystem::path root = "results";
  if (std::filesystem::exists(a.config.path))
    root = resolve_matrix(Config::load(a.config.path)).output_dir;
  return newest_matrix(root);
}

}  // namespace

Action add_matrix(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "matrix",
      "the test matrix: every combination of the models, optimizers, pruning methods, "
      "sparsities and seeds a .config enables, one run each (docs/matrix.md)");
  cmd->require_subcommand(1);
  auto a = std::make_shared<MatrixArgs>();
  auto* plan = cmd->add_subcommand("plan", "print the runs the .config expands into; run nothing");
  auto* check = cmd->add_subcommand(
      "check", "dry-run every planned run (build model and optimizer, one step on a tiny batch)");
  auto* run = cmd->add_subcommand(
      "run", "plan, check every run, then train them all into <OUTPUT_DIR>/matrix-<time>/");
  auto* cont = cmd->add_subcommand(
      "continue",
      "finish an interrupted matrix: done runs stay, interrupted ones resume from "
      "their last checkpoint, the others start");
  auto* report = cmd->add_subcommand(
      "report", "write summary.md, summary.csv and plots/ of a matrix, in whatever state it is");
  for (auto* c : {plan, check, run}) add_config_options(*c, a->config);
  for (auto* c : {cont, report}) {
    c->add_option("dir", a->dir, "the matrix directory (default: the newest under OUTPUT_DIR)")
        ->check(CLI::ExistingDirectory);
    c->add_option("--config", a->config.path, "the .config whose OUTPUT_DIR holds the matrices")
        ->capture_default_str();
  }
  for (auto* c : {run, cont})
    c->add_option("--parallel", a->parallel,
                  "runs at a time, splitting the CPU threads (default: MATRIX_PARALLEL)")
        ->check(CLI::Range(1, 64));
  for (auto* c : {run, cont, report})
    c->add_flag("--no-plot", a->no_plot, "write summary.md and summary.csv only");

  return [=]() -> int {
    if (plan->parsed()) {
      print_plan(make_plan(load_config(a->config)));
      return 0;
    }
    if (check->parsed()) {
      const Plan p = make_plan(load_config(a->config));
      const auto failed = check_plan(p, false);
      KNLP_CHECK(failed.empty(), "matrix check", "{} of {} runs fail: {}", failed.size(),
                 p.runs.size(), failed.front());
      spdlog::info("check: all {} runs ok", p.runs.size());
      return 0;
    }
    if (run->parsed()) {
      Plan p = make_plan(load_config(a->config));
      if (a->parallel > 0) p.parallel = a->parallel;
      print_plan(p);
      const auto failed = check_plan(p, true);
      KNLP_CHECK_INPUT(failed.empty(), "matrix check",
                       "{} of {} runs fail their dry run, nothing started: {}", failed.size(),
                       p.runs.size(), failed.front());
      const auto dir = create_matrix(p);
      spdlog::info("matrix {}: estimated time shown once the first run finishes", dir.string());
      return run_and_report(dir, *a);
    }
    if (cont->parsed()) return run_and_report(matrix_dir(*a), *a);
    write_report(matrix_dir(*a), !a->no_plot);
    return 0;
  };
}

}  // namespace knlp
