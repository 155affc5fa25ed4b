// cli/main.cpp - `knlp <subcommand>`: the only place that catches errors and exits.
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/cli.h"
#include "config/config.h"
#include "util/check.h"
#include "util/log.h"

namespace knlp {

void add_config_options(CLI::App& cmd, ConfigOptions& opts) {
  cmd.add_option("--config", opts.path, "the .config to read")->capture_default_str();
  cmd.add_option("--set", opts.overrides,
                 "override one symbol, SYMBOL=value (repeatable; e.g. --set NUM_EPOCHS=2)");
}

Config load_config(const ConfigOptions& opts) {
  Config cfg = Config::load(opts.path);
  for (const auto& o : opts.overrides) spdlog::info("set {}", cfg.set(o));
  return cfg;
}

}  // namespace knlp

int main(int argc, char** argv) {
  using namespace knlp;
  CLI::App app{"knlp: kernel-style ML experiments. A .config (make menuconfig, make "
               "defconfig-<name>) describes the run; each subcommand does one job."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "knlp 0.1");
  const std::pair<const char*, Action (*)(CLI::App&)> subcommands[] = {
      {"run", add_run},
      {"check", add_check},
      {"data", add_data},
      {"tokenize", add_tokenize},
      {"bench", add_bench},
      {"matrix", add_matrix},
      {"generate", add_generate},
      {"export", add_export},
      {"logits", add_logits},
      {"perplexity", add_perplexity},
  };
  std::vector<std::pair<CLI::App*, Action>> actions;
  for (const auto& [name, add] : subcommands) {
    (void)name;
    actions.emplace_back(nullptr, add(app));
    actions.back().first = app.get_subcommands({}).back();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ExitCode::kBadInput);
  }
  init_logging("info");
  try {
    for (auto& [cmd, action] : actions)
      if (cmd->parsed()) return action();
  } catch (const Error& e) {
    std::fprintf(stderr, "knlp: error: %s\n", e.line().c_str());
    return static_cast<int>(e.code());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "knlp: error: torch: %s\n", e.what_without_backtrace());
    return static_cast<int>(ExitCode::kRunFailed);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "knlp: error: %s\n", e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
  return 0;
}
