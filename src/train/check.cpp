// train/check.cpp - the dry run behind `make check`.
//
// Builds the configured model and optimizer on the CPU, takes one forward,
// backward and optimizer step on a tiny random batch, and estimates the
// memory a real run needs: weights, gradients and optimizer state exactly,
// activations from the resident-memory growth of a forward at two batch sizes.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "optim/optim.h"
#include "train/context.h"
#include "train/task.h"
#include "util/check.h"

namespace knlp {

namespace {

double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0);
}

// Resident-memory growth of one forward (activations kept for backward), in MiB.
double forward_growth_mib(Model& model, const Batch& batch) {
  const double before = resident_mib();
  auto out = model.forward(batch);
  const double after = resident_mib();
  out.loss.backward();
  return after - before;
}

// Optimizer state tensors per weight after a step (2 for Adam, 1 for SGD momentum).
double state_tensors_per_weight(torch::optim::Optimizer& opt, int64_t num_params) {
  int64_t elements = 0;
  for (const auto& group : opt.param_groups())
    for (const auto& p : group.params()) {
      auto it = opt.state().find(p.unsafeGetTensorImpl());
      if (it == opt.state().end()) continue;
      auto m = adam_moments(opt, p);
      for (const auto& t : {m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq})
        if (t.defined() && t.numel() > 0) elements += t.numel();
      if (!m.exp_avg.defined()) elements += p.numel();  // momentum buffer
    }
  return num_params ? static_cast<double>(elements) / static_cast<double>(num_params) : 0.0;
}

// Checks that the ramp reaches its target by the run's last mask update, runs
// that update on the model, checks the sparsity it leaves is the target's and
// logs what the pruner keeps in memory.
void check_pruning(const RunSettings& settings, Model& model, torch::optim::Optimizer& opt) {
  PruneSettings p = settings.prune;
  const auto planned = planned_steps(settings);
  resolve_ramp(p, planned.steps_per_epoch);
  auto pruner = make_pruner(p, prunable_params(model));
  check_ramp(p, *pruner, planned.steps, planned.steps_per_epoch > 0);
  if (p.method == "none") return;
  const int64_t step = planned.steps / p.frequency * p.frequency;
  pruner->after_step(step, [&](const torch::Tensor& w) {
    auto m = adam_moments(opt, w);
    return Moments{m.exp_avg, m.exp_avg_sq, m.max_exp_avg_sq};
  });
  int64_t prunable = 0, bytes = 0;
  for (const auto& w : pruner->params()) prunable += w.weight.numel();
  for (const auto& b : pruner->buffers()) bytes += b.numel() * b.element_size();
  const double sparsity = pruner->sparsity();
  const double expected = pruner->overall_sparsity(pruner->target_at(step));
  KNLP_CHECK(std::abs(sparsity - expected) < 0.005, "pruning",
             "{} pruned {:.2f}% of the weights, the schedule asks for {:.2f}%", p.method,
             100 * sparsity, 100 * expected);
  spdlog::info("pruning {}: {:.2f}% of {} prunable weights zero after an update at the target; "
               "the pruner keeps {:.2f} MiB ({:.2f} bytes per prunable weight)",
               p.method, 100 * sparsity, prunable, static_cast<double>(bytes) / (1 << 20),
               prunable ? static_cast<double>(bytes) / static_cast<double>(prunable) : 0.0);
}

// A language model's decode cache per token and layer (fp32, the model's own
// cache: K and V, or a latent), against standard attention's 2 x n_embd values.
void report_kv_cache(Model& model) {
  auto* lm = dynamic_cast<LanguageModel*>(&model);
  if (!lm) return;
  CacheSpec spec;
  spec.max_len = 1;
  const auto cache = lm->new_cache(spec);
  std::vector<int64_t> bytes;
  for (const auto& layer : cache.layers) bytes.push_back(layer->bytes());
  const double mean = static_cast<double>(std::accumulate(bytes.begin(), bytes.end(), int64_t{0})) /
                      static_cast<double>(bytes.size());
  const double standard = 2.0 * 4.0 * std::stod(lm->metadata().at("n_embd"));
  spdlog::info("kv cache: {:.1f} bytes per token per layer in fp32 (by layer: {}), {:.2f}x "
               "less than standard attention's {:.0f}",
               mean, fmt::join(bytes, " "), standard / mean, standard);
}

}  // namespace

void check_run(const Config& cfg) {
  const RunSettings s = resolve(cfg);
  torch::manual_seed(s.train.seed);
  auto small = dry_run_input(s, 2);
  auto model = make_model(small.model);
  model->train();
  auto optimizer = make_optimizer(param_groups(*model), s.optim);

  optimizer->zero_grad();
  auto out = model->forward(small.batch);
  KNLP_CHECK(out.loss.defined() && std::isfinite(out.loss.item<double>()), s.model.name,
             "loss of the random batch is not finite");
  out.loss.backward();
  optimizer->step();

  const int64_t params = model->num_params();
  const double state = state_tensors_per_weight(*optimizer, params);
  const double mib = 1024.0 * 1024.0;
  const double fixed = static_cast<double>(params) * 4 * (2 + state) / mib;  // weights + grads
  check_pruning(s, *model, *optimizer);
  optimizer->zero_grad();
  const double g2 = forward_growth_mib(*model, dry_run_input(s, 2).batch);
  const double g8 = forward_growth_mib(*model, dry_run_input(s, 8).batch);
  const double per_sample = std::max(0.0, (g8 - g2) / 6.0) * small.sample_scale;
  const double activations = per_sample * static_cast<double>(s.train.batch_size);
  spdlog::info("check {}: ok ({} parameters, loss of a random batch {:.4f})", run_name(s),
               params, out.loss.item<double>());
  report_kv_cache(*model);
  spdlog::info("memory estimate at batch {}: weights+grads+optimizer state {:.1f} MiB "
               "({:.1f} state tensors per weight), activations ~{:.1f} MiB, total ~{:.1f} MiB",
               s.train.batch_size, fixed, state, activations, fixed + activations);
}

}  // namespace knlp
