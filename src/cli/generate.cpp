// cli/generate.cpp - `knlp generate`: sample text from a trained GPT-2.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/cli.h"
#include "data/data.h"
#include "train/train.h"

namespace knlp {

Action add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "generate", "continue a prompt with text sampled from a trained GPT-2 (results/<run>), "
                  "decoding with the KV cache; defaults from the run's GPT2_GENERATION_*");
  struct Options {
    std::string run, prompt, checkpoint = "best", vocab_dir, device = "cpu", kv;
    bool unfused = false;
    std::optional<int64_t> max_tokens, top_k;
    std::optional<double> temperature;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("run", o->run, "the run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--prompt", o->prompt, "the text to continue")->required();
  cmd->add_option("--max-tokens", o->max_tokens, "tokens to write");
  cmd->add_option("--temperature", o->temperature, "0 = always the most likely token");
  cmd->add_option("--top-k", o->top_k, "sample among the K most likely tokens, 0 = all");
  cmd->add_option("--seed", o->seed, "sampling seed")->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "best or last")->capture_default_str();
  cmd->add_option("--vocab-dir", o->vocab_dir,
                  "folder of encoder.json and vocab.bpe (default: $KNLP_VOCAB_DIR, else the "
                  "run's GPT2_VOCAB_DIR)");
  cmd->add_option("--device", o->device, "cpu, cuda, auto")->capture_default_str();
  cmd->add_option("--kv", o->kv,
                  "KV cache format: fp32, bf16, int8, int4, k<bits>v<bits> such as k8v4, or dense "
                  "(the model's own buffers); default: the run's CONFIG_KV_K_* / CONFIG_KV_V_*");
  cmd->add_flag("--unfused", o->unfused,
                "decode a quantized cache by dequantize + SDPA instead of the fused kernel");
  return [o] {
    spdlog::set_level(spdlog::level::warn);  // stdout carries the text only
    auto trained = load_trained_model(o->run, o->checkpoint, pick_device(o->device));
    const auto& ts = trained.settings.tokenizer;
    const auto tok = make_tokenizer(
        ts.name, o->vocab_dir.empty() ? ts.vocab_dir : std::filesystem::path(o->vocab_dir));
    const auto& g = trained.settings.generate;
    SampleOptions s;
    s.temperature = o->temperature.value_or(g.temperature);
    s.top_k = o->top_k.value_or(g.top_k);
    s.max_new_tokens = o->max_tokens.value_or(g.max_new_tokens);
    s.vocab_limit = tok->vocab_size();
    s.stop_token = tok->eot();
    s.seed = o->seed;
    s.cache.device = pick_device(o->device);
    const auto& kv = trained.settings.kv;
    s.cache.kv = make_kv_cache_factory(o->kv.empty() ? kv_format_name(kv) : o->kv,
                                       kv.fused && !o->unfused);
    auto prompt = tok->encode(o->prompt);
    if (prompt.empty()) prompt.push_back(tok->eot());  // "" starts a new document
    const auto ids = generate(*trained.model, prompt, s);
    std::printf("%s%s\n", o->prompt.c_str(), tok->decode(ids).c_str());
    return 0;
  };
}

}  // namespace knlp
