// cli/run.cpp - `knlp run` (one training run) and `knlp check` (the dry run).
#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "config/config.h"
#include "train/train.h"

namespace knlp {

Action add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "train the model the .config describes into "
                                        "<OUTPUT_DIR>/<run>/, or resume an interrupted run");
  auto opts = std::make_shared<ConfigOptions>();
  auto resume = std::make_shared<std::string>();
  auto run_dir = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  auto no_plot = std::make_shared<bool>(false);
  auto stop_after = std::make_shared<int64_t>(0);
  add_config_options(*cmd, *opts);
  cmd->add_option("--resume", *resume,
                  "continue results/<run> from its newest checkpoint, with the .config saved there")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--run-dir", *run_dir, "write the run here instead of a new timestamped folder");
  cmd->add_flag("--quiet,-q", *quiet, "no progress bar");
  cmd->add_flag("--no-plot", *no_plot, "do not draw curves.png at the end");
  cmd->add_option("--stop-after-steps", *stop_after,
                  "checkpoint and stop after N optimizer steps, as Ctrl-C would (for time "
                  "slices; continue with --resume)");
  return [=] {
    RunOptions o;
    o.progress = !*quiet;
    o.plot = !*no_plot;
    o.resume = !resume->empty();
    o.stop_after_steps = *stop_after;
    o.run_dir = o.resume ? *resume : *run_dir;
    const Config cfg = o.resume ? Config() : load_config(*opts);
    RunResult r = run_training(cfg, o);
    return r.status.state == RunStatus::State::kDone ? 0 : 1;
  };
}

Action add_check(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "check", "dry run: validate the .config, build its model and optimizer, take one step "
               "on a tiny random CPU batch, and estimate training memory");
  auto opts = std::make_shared<ConfigOptions>();
  add_config_options(*cmd, *opts);
  return [=] {
    check_run(load_config(*opts));
    return 0;
  };
}

}  // namespace knlp
