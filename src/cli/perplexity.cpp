// cli/perplexity.cpp - `knlp perplexity`: validation perplexity of a trained
// language model through its decode cache, per KV format.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>
#include <sstream>

#include "cli/cli.h"
#include "data/data.h"
#include "train/train.h"
#include "util/fs.h"

namespace knlp {

Action add_perplexity(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "perplexity", "validation perplexity of a trained GPT-2 (results/<run>) decoded through "
                    "its KV cache, per KV format, against the full forward pass");
  struct Options {
    std::string run, kv, checkpoint = "best", device = "cpu", json;
    int64_t tokens = 4096, chunk = 1;
    bool unfused = false;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("run", o->run, "the run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--kv", o->kv,
                  "comma-separated KV formats: full (no cache), dense, fp32, bf16, int8, int4, "
                  "k<bits>v<bits> such as k8v4 (default: full and the run's CONFIG_KV format)");
  cmd->add_option("--tokens", o->tokens, "predictions to average over, from the start of val.bin")
      ->capture_default_str();
  cmd->add_option("--chunk", o->chunk, "tokens per cached forward call (1: decode token by token)")
      ->capture_default_str();
  cmd->add_flag("--unfused", o->unfused, "dequantize + SDPA instead of the fused kernel");
  cmd->add_option("--checkpoint", o->checkpoint, "best or last")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu, cuda, auto")->capture_default_str();
  cmd->add_option("--json", o->json, "also write the results to FILE (atomically)");
  return [o] {
    spdlog::set_level(spdlog::level::warn);  // stdout carries the table only
    const torch::Device device = pick_device(o->device);
    auto trained = load_trained_model(o->run, o->checkpoint, device);
    const auto data = load_tokens(trained.settings.data);
    std::vector<std::string> names;
    std::stringstream list(o->kv.empty() ? "full," + kv_format_name(trained.settings.kv) : o->kv);
    for (std::string name; std::getline(list, name, ',');)
      if (!name.empty()) names.push_back(name);
    nlohmann::json rows = nlohmann::json::array();
    std::optional<double> full;
    std::printf("%-6s %10s %10s %10s %9s\n", "kv", "KiB/layer", "loss", "perplexity", "vs full");
    for (const auto& name : names) {
      CacheSpec spec;
      spec.device = device;
      int64_t bytes = 0;
      if (name != "full") {
        spec.kv = make_kv_cache_factory(name, !o->unfused);
        spec.max_len = trained.model->block_size();
        bytes = trained.model->new_cache(spec).layers.front()->bytes();
      }
      const auto p = cached_perplexity(*trained.model, data.val, o->tokens, o->chunk,
                                       name == "full" ? nullptr : &spec);
      if (name == "full") full = p.perplexity;
      const std::string rel = full ? fmt::format("{:+.2f} %", 100 * (p.perplexity / *full - 1)) : "";
      std::printf("%-6s %10.1f %10.4f %10.3f %9s\n", name.c_str(), bytes / 1024.0, p.loss,
                  p.perplexity, rel.c_str());
      rows.push_back({{"kv", name}, {"cache_bytes_per_layer", bytes}, {"loss", p.loss},
                      {"perplexity", p.perplexity}, {"tokens", p.tokens}});
      if (full) rows.back()["vs_full"] = p.perplexity / *full;
    }
    if (!o->json.empty())
      write_file_atomic(o->json, nlohmann::json{{"run", o->run},
                                                {"checkpoint", o->checkpoint},
                                                {"tokens", o->tokens},
                                                {"chunk", o->chunk},
                                                {"fused", !o->unfused},
                                                {"results", rows}}
                                         .dump(2) + "\n");
    return 0;
  };
}

}  // namespace knlp
