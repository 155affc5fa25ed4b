// cli/weights.cpp - `knlp export` (a run's weights as safetensors) and `knlp logits`
// (a weights file's logits for given ids, to compare with another implementation).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "cli/cli.h"
#include "train/train.h"
#include "util/check.h"

namespace knlp {

namespace {

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    KNLP_CHECK_INPUT(v >= 0 && used == item.size(), "--ids",
                     "'{}' is not a token id; accepted: comma-separated ids such as 464,9720",
                     item);
    ids.push_back(v);
  }
  KNLP_CHECK_INPUT(!ids.empty(), "--ids", "no ids given");
  return ids;
}

}  // namespace

Action add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "write a run's weights as safetensors with Hugging Face GPT-2 names, for "
                "transformers (GPT2Config with the run's sizes) or GPT2_INIT_FROM");
  auto run = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto which = std::make_shared<std::string>("best");
  cmd->add_option("run", *run, "the run directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--out", *out, "the file to write (default <run>/model.safetensors)");
  cmd->add_option("--checkpoint", *which, "best or last")->capture_default_str();
  return [=] {
    auto trained = load_trained_model(*run, *which, torch::kCPU);
    const std::filesystem::path path = out->empty() ? std::filesystem::path(*run) / "model.safetensors"
                                                    : std::filesystem::path(*out);
    save_weights(*trained.model, path);
    spdlog::info("wrote {} ({} parameters, checkpoint {})", path.string(),
                 trained.model->num_params(), *which);
    return 0;
  };
}

Action add_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "logits", "the logits a GPT-2 weights file gives token ids, as safetensors tensor "
                "'logits' (1, T, V): to check against another implementation");
  auto weights = std::make_shared<std::string>();
  auto ids = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("weights", *weights, "a .safetensors file from knlp export")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--ids", *ids, "comma-separated token ids")->required();
  cmd->add_option("--out", *out, "the .safetensors file to write")->required();
  return [=] {
    ModelSettings m;
    m.name = "gpt2";
    m.gpt2 = weights_shape(*weights, m.gpt2);
    auto model = make_language_model(m);
    load_weights(*model, *weights);
    model->eval();
    torch::NoGradGuard no_grad;
    auto x = torch::tensor(parse_ids(*ids), torch::kLong).unsqueeze(0);  // (1, T)
    auto logits = model->forward({x, {}}).logits;                         // (1, T, V)
    write_safetensors(*out, {{"logits", logits}}, {});
    return 0;
  };
}

}  // namespace knlp
