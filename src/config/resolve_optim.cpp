// config/resolve_optim.cpp - the optimizer symbols to OptimSettings.
//
// One row per optimizer names the symbols that hold its knobs; nothing here
// branches on an optimizer name.
#include <fmt/format.h>

#include "config/config.h"
#include "config/resolve.h"
#include "util/check.h"

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
};

constexpr OptimSymbols kOptimSymbols[] = {
    {"sgd", nullptr, nullptr, nullptr, "SGD_WEIGHT_DECAY", "SGD_MOMENTUM"},
    {"adam", "ADAM_BETA1", "ADAM_BETA2", "ADAM_EPSILON", "ADAM_WEIGHT_DECAY", nullptr},
    {"adamw", "ADAMW_BETA1", "ADAMW_BETA2", "ADAMW_EPSILON", "ADAMW_WEIGHT_DECAY", nullptr},
};

}  // namespace

OptimSettings resolve_optim(const Config& cfg) {
  OptimSettings o;
  o.name = cfg.get_string("OPTIMIZER");
  const auto& syms = lookup(kOptimSymbols, o.name, cfg, "OPTIMIZER");
  o.lr = cfg.get_float("LEARNING_RATE");
  KNLP_CHECK_INPUT(o.lr > 0, "CONFIG_LEARNING_RATE", "{} must be positive", o.lr);
  if (syms.beta1) o.beta1 = cfg.get_float(syms.beta1);
  if (syms.beta2) o.beta2 = cfg.get_float(syms.beta2);
  if (syms.eps) o.eps = cfg.get_float(syms.eps);
  if (syms.momentum) o.momentum = cfg.get_float(syms.momentum);
  o.weight_decay = cfg.get_float(syms.weight_decay);
  KNLP_CHECK_INPUT(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
                   fmt::format("CONFIG_{}", syms.beta1 ? syms.beta1 : "OPTIMIZER"),
                   "betas ({}, {}) must lie in [0, 1)", o.beta1, o.beta2);
  KNLP_CHECK_INPUT(o.weight_decay >= 0, fmt::format("CONFIG_{}", syms.weight_decay),
                   "{} must not be negative", o.weight_decay);
  return o;
}

}  // namespace knlp
