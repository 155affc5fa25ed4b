// config/resolve_data.cpp - the tokenizer symbols of Kconfig.data.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "config/config.h"

namespace knlp {

TokenizerSettings resolve_tokenizer(const Config& cfg) {
  TokenizerSettings t;
  t.name = cfg.get_string("GPT2_TOKENIZER", t.name);
  t.vocab_dir = cfg.get_string("GPT2_VOCAB_DIR", t.vocab_dir.string());
  // The vocabulary's folder is a fact of the machine, not of the experiment.
  const char* env = std::getenv("KNLP_VOCAB_DIR");
  if (env && *env) {
    spdlog::debug("vocab dir {} from KNLP_VOCAB_DIR", env);
    t.vocab_dir = env;
  }
  return t;
}

}  // namespace knlp
