// optim/registry.cpp - optimizer name -> constructor over the parameter groups.
#include <spdlog/spdlog.h>

#include "optim/optim.h"
#include "util/check.h"
#include "util/registry.h"  // row_names, lookup

namespace knlp {

namespace {

using torch::optim::OptimizerParamGroup;

// Weight decay lives in each group's options; group 1 (no decay) gets a copy with 0.
template <typename Options>
std::vector<OptimizerParamGroup> grouped(const ParamGroups& g, Options options) {
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(g.decay, std::make_unique<Options>(options));
  groups.emplace_back(g.no_decay, std::make_unique<Options>(options.weight_decay(0.0)));
  return groups;
}

std::unique_ptr<torch::optim::Optimizer> make_sgd(const ParamGroups& g, const OptimSettings& s) {
  auto o = torch::optim::SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay);
  return std::make_unique<torch::optim::SGD>(grouped(g, o), o);
}

std::unique_ptr<torch::optim::Optimizer> make_adam(const ParamGroups& g, const OptimSettings& s) {
  auto o = torch::optim::AdamOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(
      s.weight_decay);
  return std::make_unique<torch::optim::Adam>(grouped(g, o), o);
}

std::unique_ptr<torch::optim::Optimizer> make_adamw(const ParamGroups& g, const OptimSettings& s) {
  auto o = torch::optim::AdamWOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(
      s.weight_decay);
  return std::make_unique<torch::optim::AdamW>(grouped(g, o), o);
}

AdamFamilyOptions family_options(const OptimSettings& s) {
  return AdamFamilyOptions(s.lr)
      .betas({s.beta1, s.beta2})
      .eps(s.eps)
      .weight_decay(s.weight_decay)
      .amsgrad(s.amsgrad)
      .decoupled(s.decoupled_decay);
}

void log_spam(const SpamSettings& spam) {
  spdlog::info("spam: clip {} (theta {}), spike z-score > {}, reset every {} steps "
               "(0: never) with {} warmup steps, global norm clip {}",
               spam.clip ? "on" : "off", spam.theta, spam.spike_threshold, spam.interval,
               spam.warmup_steps, spam.grad_clip);
}

std::unique_ptr<torch::optim::Optimizer> make_adamwadv(const ParamGroups& g,
                                                       const OptimSettings& s) {
  auto o = family_options(s);
  return std::make_unique<AdamWAdv>(grouped(g, o), o);
}

std::unique_ptr<torch::optim::Optimizer> make_adamwspam(const ParamGroups& g,
                                                        const OptimSettings& s) {
  auto o = family_options(s);
  auto opt = std::make_unique<AdamWSpam>(grouped(g, o), o, s.spam);
  log_spam(opt->spam());
  return opt;
}

// The base only changes options (decay style, SPAM), so one class serves all four.
std::unique_ptr<torch::optim::Optimizer> make_adamwprune(const ParamGroups& g,
                                                         const OptimSettings& s) {
  auto o = family_options(s);
  spdlog::info("adamwprune: base {}, betas ({}, {}), amsgrad {}", s.base, s.beta1, s.beta2,
               s.amsgrad ? "on" : "off");
  if (s.spam.enabled) log_spam(s.spam);
  return std::make_unique<AdamWPrune>(grouped(g, o), o, s.spam);
}

using MakeFn = std::unique_ptr<torch::optim::Optimizer> (*)(const ParamGroups&,
                                                            const OptimSettings&);
struct OptimizerEntry {
  const char* name;
  MakeFn make;
};

const OptimizerEntry kOptimizers[] = {
    {"sgd", make_sgd},
    {"adam", make_adam},
    {"adamw", make_adamw},
    {"adamwadv", make_adamwadv},
    {"adamwspam", make_adamwspam},
    {"adamwprune", make_adamwprune},
};

int64_t count(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

}  // namespace

std::vector<std::string> optimizer_names() { return row_names(kOptimizers); }

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const ParamGroups& g,
                                                        const OptimSettings& settings) {
  const auto& o = lookup(kOptimizers, settings.name, "optimizer", "name");
  spdlog::info("optimizer {}: {} tensors ({} weights) with weight decay {}, {} tensors ({} "
               "weights) without",
               o.name, g.decay.size(), count(g.decay), settings.weight_decay, g.no_decay.size(),
               count(g.no_decay));
  return o.make(g, settings);
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace knlp
