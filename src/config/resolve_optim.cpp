// config/resolve_optim.cpp - the optimizer symbols to OptimSettings.
//
// One row per optimizer names the symbols that hold its knobs; one row per
// member of the Adam family says which machinery it runs (decay style, the
// AdamWAdv schedule and clip, SPAM). AdamWPrune takes the machinery of the
// base its Kconfig choice names. Nothing here branches on an optimizer name.
#include <fmt/format.h>

#include "config/config.h"
#include "config/resolve.h"
#include "util/check.h"
#include "util/registry.h"  // find_row, lookup

namespace knlp {

namespace {

// Which symbols hold each optimizer's knobs; nullptr where it has none (the
// OptimSettings default stays).
struct OptimSymbols {
  const char* name;
  const char* beta1;
  const char* beta2;
  const char* eps;
  const char* weight_decay;
  const char* momentum;
  const char* amsgrad;
  const char* base;  // symbol naming the Adam-family member it runs; nullptr: itself
};

constexpr OptimSymbols kOptimSymbols[] = {
    {"sgd", nullptr, nullptr, nullptr, "SGD_WEIGHT_DECAY", "SGD_MOMENTUM", nullptr, nullptr},
    {"adam", "ADAM_BETA1", "ADAM_BETA2", "ADAM_EPSILON", "ADAM_WEIGHT_DECAY", nullptr, nullptr,
     nullptr},
    {"adamw", "ADAMW_BETA1", "ADAMW_BETA2", "ADAMW_EPSILON", "ADAMW_WEIGHT_DECAY", nullptr,
     nullptr, nullptr},
    {"adamwadv", nullptr, nullptr, nullptr, "ADV_WEIGHT_DECAY", nullptr, "ADV_USE_AMSGRAD",
     nullptr},
    {"adamwspam", nullptr, nullptr, nullptr, "ADV_WEIGHT_DECAY", nullptr, "ADV_USE_AMSGRAD",
     nullptr},
    {"adamwprune", "ADAMWPRUNE_BETA1", "ADAMWPRUNE_BETA2", nullptr, "ADAMWPRUNE_WEIGHT_DECAY",
     nullptr, "ADAMWPRUNE_AMSGRAD", "ADAMWPRUNE_BASE_OPTIMIZER_NAME"},
};

// What each member of the Adam family runs besides the Adam update.
struct AdamBehaviour {
  const char* name;
  bool decoupled;  // AdamW decay (else L2 added to the gradient)
  bool adv;        // the ADV_* cosine schedule and gradient clip
  bool spam;       // the SPAM_* processing inside step()
};

constexpr AdamBehaviour kAdamBehaviours[] = {
    {"adam", false, false, false},
    {"adamw", true, false, false},
    {"adamwadv", true, true, false},
    {"adamwspam", true, true, true},
};

SpamSettings resolve_spam(const Config& cfg) {
  SpamSettings s;
  s.enabled = true;
  s.clip = cfg.get_bool("SPAM_ENABLE_CLIP");
  s.theta = cfg.get_float("SPAM_THETA");
  s.spike_threshold = cfg.get_float("SPAM_SPIKE_THRESHOLD");
  if (cfg.get_bool("SPAM_PERIODIC_RESET")) s.interval = cfg.get_int("SPAM_INTERVAL");
  if (s.interval > 0 && cfg.get_bool("SPAM_WARMUP"))
    s.warmup_steps = cfg.get_int("SPAM_WARMUP_STEPS");
  KNLP_CHECK_INPUT(s.theta > 0, "CONFIG_SPAM_THETA", "{} must be positive", s.theta);
  KNLP_CHECK_INPUT(s.spike_threshold > 0, "CONFIG_SPAM_SPIKE_THRESHOLD", "{} must be positive",
                   s.spike_threshold);
  return s;
}

// AdamWAdv's cosine schedule and gradient clip go to the loop, for every model
// (resolve() hands the clip to SPAM when the optimizer has it).
void resolve_adv(const Config& cfg, TrainSettings& train) {
  if (cfg.get_bool("ADV_USE_COSINE_ANNEALING")) {
    train.lr_schedule = "cosine";
    train.lr_min = cfg.get_float("ADV_COSINE_ETA_MIN");
    KNLP_CHECK_INPUT(train.lr_min >= 0, "CONFIG_ADV_COSINE_ETA_MIN", "{} must not be negative",
                     train.lr_min);
  }
  const double clip = cfg.get_float("ADV_GRAD_CLIP_NORM");
  KNLP_CHECK_INPUT(clip >= 0, "CONFIG_ADV_GRAD_CLIP_NORM", "{} must not be negative (0: off)",
                   clip);
  train.grad_clip = clip;
}

void read_knobs(const Config& cfg, const OptimSymbols& syms, OptimSettings& o) {
  if (syms.beta1) o.beta1 = cfg.get_float(syms.beta1);
  if (syms.beta2) o.beta2 = cfg.get_float(syms.beta2);
  if (syms.eps) o.eps = cfg.get_float(syms.eps);
  if (syms.momentum) o.momentum = cfg.get_float(syms.momentum);
  if (syms.amsgrad) o.amsgrad = cfg.get_bool(syms.amsgrad);
  o.weight_decay = cfg.get_float(syms.weight_decay);
  KNLP_CHECK_INPUT(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
                   fmt::format("CONFIG_{}", syms.beta1 ? syms.beta1 : "OPTIMIZER"),
                   "betas ({}, {}) must lie in [0, 1)", o.beta1, o.beta2);
  KNLP_CHECK_INPUT(o.weight_decay >= 0, fmt::format("CONFIG_{}", syms.weight_decay),
                   "{} must not be negative", o.weight_decay);
}

}  // namespace

OptimSettings resolve_optim(const Config& cfg, TrainSettings& train) {
  OptimSettings o;
  o.name = cfg.get_string("OPTIMIZER");
  const auto& syms = lookup(kOptimSymbols, o.name, cfg.origin(), "CONFIG_OPTIMIZER");
  o.base = syms.base ? cfg.get_string(syms.base) : o.name;
  o.lr = cfg.get_float("LEARNING_RATE");
  KNLP_CHECK_INPUT(o.lr > 0, "CONFIG_LEARNING_RATE", "{} must be positive", o.lr);
  read_knobs(cfg, syms, o);
  // SGD has no Adam behaviour; AdamWPrune's base must have one.
  const AdamBehaviour* how =
      syms.base ? &lookup(kAdamBehaviours, o.base, cfg.origin(), fmt::format("CONFIG_{}", syms.base))
                : find_row(kAdamBehaviours, o.base);
  if (!how) return o;
  o.decoupled_decay = how->decoupled;
  if (how->spam) o.spam = resolve_spam(cfg);
  if (how->adv) resolve_adv(cfg, train);
  return o;
}

}  // namespace knlp
