// cli/tokenize.cpp - `knlp tokenize FILE`: the token ids of a text, comma-separated.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "data/data.h"  // Tokenizer
#include "util/fs.h"    // read_file

namespace knlp {

Action add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tokenize", "print the token ids of a text, comma-separated (GPT-2 BPE unless the "
                  ".config or --tokenizer says byte)");
  auto tok = std::make_shared<TokenizerOptions>();
  auto file = std::make_shared<std::string>();
  cmd->add_option("FILE", *file, "the text, read as raw bytes; - reads standard input")
      ->required();
  add_tokenizer_options(*cmd, *tok);
  return [=] {
    spdlog::set_level(spdlog::level::warn);  // stdout carries the ids only
    const auto tokenizer = tokenizer_from(*tok);
    const std::string text = *file == "-" ? std::string(std::istreambuf_iterator<char>(std::cin),
                                                        std::istreambuf_iterator<char>())
                                          : read_file(*file);
    const std::vector<int32_t> ids = tokenizer->encode(text);
    std::string out = fmt::format("{}\n", fmt::join(ids, ","));
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  };
}

}  // namespace knlp
