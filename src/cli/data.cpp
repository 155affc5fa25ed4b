// cli/data.cpp - `knlp data prepare`: text files, folders, JSONL -> train.bin / val.bin.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/cli.h"
#include "config/config.h"  // Config, TokenizerSettings, resolve_tokenizer
#include "data/data.h"      // Tokenizer, make_tokenizer, PrepareOptions, prepare_text_data

namespace knlp {

void add_tokenizer_options(CLI::App& cmd, TokenizerOptions& opts) {
  cmd.add_option("--tokenizer", opts.name, "gpt2 | byte (default: GPT2_TOKENIZER of the .config, "
                                           "else gpt2)");
  cmd.add_option("--vocab-dir", opts.vocab_dir,
                 "folder of encoder.json and vocab.bpe (default: $KNLP_VOCAB_DIR, else "
                 "GPT2_VOCAB_DIR of the .config, else data/gpt2)");
  cmd.add_option("--config", opts.config, "the .config whose tokenizer to use, read if it exists")
      ->capture_default_str()
      ->each([&opts](const std::string&) { opts.config_given = true; });
}

std::unique_ptr<Tokenizer> tokenizer_from(const TokenizerOptions& opts) {
  const bool read = opts.config_given || std::filesystem::exists(opts.config);
  TokenizerSettings t = resolve_tokenizer(read ? Config::load(opts.config) : Config());
  if (!opts.name.empty()) t.name = opts.name;
  if (!opts.vocab_dir.empty()) t.vocab_dir = opts.vocab_dir;
  return make_tokenizer(t.name, t.vocab_dir);
}

Action add_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "prepare text data for the GPT-2 model");
  cmd->require_subcommand(1);
  auto* prepare = cmd->add_subcommand(
      "prepare", "tokenize text files, folders of (gzipped) text or JSONL into "
                 "DIR/train.bin and DIR/val.bin (uint16, nanoGPT's format) and "
                 "DIR/manifest.json; each document goes whole to one split");
  auto opts = std::make_shared<PrepareOptions>();
  auto tok = std::make_shared<TokenizerOptions>();
  auto sources = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  prepare->add_option("SRC", *sources, "text files (.gz read as such), folders walked in "
                                       "sorted order, .jsonl[.gz] files (one document a line)")
      ->required();
  prepare->add_option("--out", *out, "folder to write train.bin, val.bin, manifest.json into")
      ->required();
  add_tokenizer_options(*prepare, *tok);
  prepare->add_option("--val-fraction", opts->val_fraction,
                      "share of documents that go to val, by a hash of each document")
      ->capture_default_str();
  prepare->add_option("--jsonl-field", opts->jsonl_field, "the field of a JSONL line holding "
                                                          "the text")
      ->capture_default_str();
  prepare->add_option("--ext", opts->extensions,
                      "in folders, read only files with these extensions (rst,txt; a .gz "
                      "suffix is looked through); default: every file")
      ->delimiter(',');
  prepare->add_flag("--quiet,-q", *quiet, "no progress bar");
  return [=] {
    for (const auto& s : *sources) opts->sources.emplace_back(s);
    opts->out_dir = *out;
    opts->progress = !*quiet;
    const auto tokenizer = tokenizer_from(*tok);
    const PrepareResult r = prepare_text_data(*opts, *tokenizer);
    const double tokens = static_cast<double>(r.train.tokens + r.val.tokens);
    spdlog::info("{} files, {} documents ({} empty, {} binary skipped), {} tokenizer",
                 r.files, r.train.documents + r.val.documents, r.skipped_empty,
                 r.skipped_binary, tokenizer->name());
    spdlog::info("train: {} documents, {} tokens; val: {} documents, {} tokens",
                 r.train.documents, r.train.tokens, r.val.documents, r.val.tokens);
    spdlog::info("{:.1f} s, {:.2f} M tokens/s, {:.1f} MB/s of text -> {}", r.seconds,
                 tokens / 1e6 / r.seconds,
                 static_cast<double>(r.train.bytes + r.val.bytes) / 1e6 / r.seconds, *out);
    return 0;
  };
}

}  // namespace knlp
