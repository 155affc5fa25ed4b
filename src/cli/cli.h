// cli/cli.h - private to cli/: each subcommand registers itself on the app.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace knlp {

// What a subcommand runs once CLI11 has parsed its options; returns the exit code.
using Action = std::function<int()>;

// Options every config-reading subcommand shares: --config and --set.
struct ConfigOptions {
  std::string path = ".config";
  std::vector<std::string> overrides;  // SYMBOL=value
};
void add_config_options(CLI::App& cmd, ConfigOptions& opts);

// Loads the .config and applies each --set, echoing it (`set CONFIG_X=v`).
class Config;
Config load_config(const ConfigOptions& opts);

// Options of the subcommands that tokenize: --config (read when it exists or is
// given), --tokenizer and --vocab-dir, which override it.
struct TokenizerOptions {
  std::string config = ".config";
  bool config_given = false;
  std::string name, vocab_dir;  // empty: from the .config, KNLP_VOCAB_DIR or the default
};
void add_tokenizer_options(CLI::App& cmd, TokenizerOptions& opts);

// The tokenizer the options, the .config and the environment name, built.
class Tokenizer;
std::unique_ptr<Tokenizer> tokenizer_from(const TokenizerOptions& opts);

Action add_run(CLI::App& app);
Action add_check(CLI::App& app);
Action add_data(CLI::App& app);
Action add_tokenize(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_matrix(CLI::App& app);
Action add_generate(CLI::App& app);  // generate.cpp
Action add_export(CLI::App& app);    // weights.cpp
Action add_logits(CLI::App& app);    // weights.cpp
Action add_perplexity(CLI::App& app);  // perplexity.cpp

}  // namespace knlp
