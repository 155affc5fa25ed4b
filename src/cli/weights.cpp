// cli/weights.cpp - `knlp export` (a run's weights as safetensors) and `knlp logits`
// (a weights file's logits, loss, gradients and AdamW losses for given ids, to
// compare with another implementation: tests/gpt2_reference.py).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <map>
#include <sstream>

#include "cli/cli.h"
#include "optim/optim.h"  // make_optimizer
#include "train/train.h"  // param_groups
#include "util/check.h"

namespace knlp {

namespace {

// Comma-separated ids; an Error naming flag for anything else.
std::vector<int64_t> parse_ids(const std::string& text, const char* flag) {
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
    KNLP_CHECK_INPUT(v >= 0 && used == item.size(), flag,
                     "'{}' is not a token id; accepted: comma-separated ids such as 464,9720",
                     item);
    ids.push_back(v);
  }
  KNLP_CHECK_INPUT(!ids.empty(), flag, "no ids given");
  return ids;
}

// What `knlp logits` computes: the logits of --ids, and with --targets the loss,
// every parameter's gradient (--grads) and the losses of --adamw-steps updates.
struct LogitsOptions {
  std::string weights, ids, targets, out;
  int64_t batch = 1;        // rows the ids are split into, (B, T)
  bool grads = false;
  int64_t adamw_steps = 0;  // 0: no optimizer steps
  double lr = 1e-3, weight_decay = 0.0;
  int threads = 0;          // intra-op threads; 0: LibTorch's default
};

// ids (B * T of them, row after row) as a (B, T) tensor; every id below vocab.
torch::Tensor id_rows(const std::vector<int64_t>& ids, int64_t B, int64_t vocab,
                      const char* flag) {
  KNLP_CHECK_INPUT(ids.size() % static_cast<size_t>(B) == 0, flag,
                   "{} ids do not split into --batch {} rows of equal length", ids.size(), B);
  for (const int64_t id : ids)
    KNLP_CHECK_INPUT(id < vocab, flag, "id {} is past the vocabulary of {} tokens", id, vocab);
  return torch::tensor(ids, torch::kLong).reshape({B, -1});  // (B, T)
}

// t in the layout save_weights() writes name in (models.h): linear weights inside
// the blocks (h.N.*) as (in, out), HF's Conv1D; everything else as torch keeps it.
torch::Tensor hf_layout(const std::string& name, const torch::Tensor& t) {
  return name.rfind("h.", 0) == 0 && t.dim() == 2 ? t.t() : t;
}

// The names of the parameters that the optimizer's groups decay, comma-separated.
std::string decayed_names(torch::nn::Module& model, torch::optim::Optimizer& opt) {
  std::map<const void*, std::string> name_of;
  for (const auto& p : model.named_parameters()) name_of[p.value().unsafeGetTensorImpl()] = p.key();
  std::vector<std::string> names;
  for (auto& group : opt.param_groups()) {
    const auto* o = dynamic_cast<const torch::optim::AdamWOptions*>(&group.options());
    KNLP_CHECK(o, "optimizer", "adamw's parameter groups do not hold AdamWOptions");
    if (o->weight_decay() == 0.0) continue;
    for (const auto& p : group.params()) names.push_back(name_of.at(p.unsafeGetTensorImpl()));
  }
  return fmt::format("{}", fmt::join(names, ","));
}

// The losses of o.adamw_steps AdamW updates on one batch: losses[k] after k updates,
// k = 0 .. steps. The optimizer is the trainer's (make_optimizer over the groups the
// model declares, weight decay on its
// decay group only), without the trainer's gradient clip and LR schedule.
torch::Tensor adamw_losses(LanguageModel& model, const Batch& batch, const LogitsOptions& o,
                           std::map<std::string, std::string>& meta) {
  OptimSettings s;
  s.name = "adamw";
  s.lr = o.lr;
  s.weight_decay = o.weight_decay;
  auto opt = make_optimizer(param_groups(model), s);
  meta["decay_params"] = decayed_names(model, *opt);
  meta["lr"] = fmt::format("{}", s.lr);
  meta["weight_decay"] = fmt::format("{}", s.weight_decay);
  meta["betas"] = fmt::format("{},{}", s.beta1, s.beta2);
  meta["eps"] = fmt::format("{}", s.eps);
  std::vector<float> losses;
  for (int64_t k = 0; k <= o.adamw_steps; ++k) {
    opt->zero_grad();
    auto loss = model.forward(batch).loss;
    losses.push_back(loss.item<float>());
    if (k == o.adamw_steps) break;
    loss.backward();
    opt->step();
  }
  return torch::tensor(losses);  // (steps + 1)
}

// The logits (B, T, V) of the batch, its loss () when it has targets and, with grads,
// "grad.<name>" of every parameter in the weights file's layout.
std::vector<std::pair<std::string, torch::Tensor>> forward_and_grads(LanguageModel& model,
                                                                     const Batch& batch,
                                                                     bool grads) {
  torch::AutoGradMode grad_mode(grads);
  auto out = model.forward(batch);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"logits", out.logits}};
  if (out.loss.defined()) tensors.emplace_back("loss", out.loss);
  if (!grads) return tensors;
  out.loss.backward();
  for (const auto& p : model.named_parameters())
    tensors.emplace_back("grad." + p.key(), hf_layout(p.key(), p.value().grad()));
  return tensors;
}

// Runs what the options ask for and writes it to o.out: forward_and_grads(), and
// "losses" (steps + 1) with the optimizer's settings and decay group as metadata.
int run_logits(const LogitsOptions& o) {
  KNLP_CHECK_INPUT(!o.targets.empty() || (!o.grads && o.adamw_steps == 0), "--targets",
                   "--grads and --adamw-steps need the targets of the ids");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  ModelSettings m;
  m.name = "gpt2";
  m.gpt2 = weights_shape(o.weights, m.gpt2);
  m.gpt2.dropout = 0.0;
  auto model = make_language_model(m);
  load_weights(*model, o.weights);
  model->eval();
  const int64_t V = model->vocab_size();
  Batch batch{id_rows(parse_ids(o.ids, "--ids"), o.batch, V, "--ids"), {}};  // (B, T)
  KNLP_CHECK_INPUT(batch.input.size(1) <= model->block_size(), "--ids",
                   "rows of {} ids do not fit the block size {}", batch.input.size(1),
                   model->block_size());
  if (!o.targets.empty()) {
    batch.target = id_rows(parse_ids(o.targets, "--targets"), o.batch, V, "--targets");
    KNLP_CHECK_INPUT(batch.target.sizes() == batch.input.sizes(), "--targets",
                     "{} targets for {} ids", batch.target.numel(), batch.input.numel());
  }
  auto tensors = forward_and_grads(*model, batch, o.grads);
  std::map<std::string, std::string> meta;
  if (o.adamw_steps > 0) tensors.emplace_back("losses", adamw_losses(*model, batch, o, meta));
  write_safetensors(o.out, tensors, meta);
  return 0;
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
                "'logits' (B, T, V); with --targets also the loss, the gradients and the "
                "losses of AdamW steps: to check against another implementation");
  auto o = std::make_shared<LogitsOptions>();
  cmd->add_option("weights", o->weights, "a .safetensors file from knlp export")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--ids", o->ids, "comma-separated token ids, --batch rows one after another")
      ->required();
  cmd->add_option("--out", o->out, "the .safetensors file to write")->required();
  cmd->add_option("--batch", o->batch, "rows B the ids are split into")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--targets", o->targets,
                  "the next-token ids, as many as --ids: adds tensor 'loss' (mean cross-entropy)");
  cmd->add_flag("--grads", o->grads,
                "add 'grad.<name>' for every parameter, laid out as the weights file (block "
                "linear weights (in, out))");
  cmd->add_option("--adamw-steps", o->adamw_steps,
                  "add 'losses' (N + 1): the loss after 0 .. N AdamW steps on this batch, "
                  "the optimizer and its weight-decay groups built as for training")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--lr", o->lr, "AdamW's learning rate (constant)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW's decay of the decay group")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: LibTorch's default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  return [o] { return run_logits(*o); };
}

}  // namespace knlp
