// config/resolve_prune.cpp - the pruning symbols (Kconfig.pruning) to PruneSettings.
//
// Magnitude and movement read the generic PRUNING_* knobs, state pruning the
// AdamWPrune ones, as in the Python knlp: one row per method says which.
#include <fmt/format.h>

#include "config/config.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

// The symbols of each method; image models count the ramp in epochs, language
// models in steps.
struct PruneSymbols {
  const char* name;    // the method
  const char* target;  // nullptr: the method prunes nothing
  const char* warmup;
  const char* frequency;
  const char* ramp_end_epoch;
  const char* ramp_end_step;
};

constexpr PruneSymbols kPruneSymbols[] = {
    {"none", nullptr, nullptr, nullptr, nullptr, nullptr},
    {"magnitude", "TARGET_SPARSITY", "PRUNING_WARMUP", "PRUNING_FREQUENCY",
     "PRUNING_RAMP_END_EPOCH", "PRUNING_RAMP_END_STEP"},
    {"movement", "TARGET_SPARSITY", "PRUNING_WARMUP", "PRUNING_FREQUENCY",
     "PRUNING_RAMP_END_EPOCH", "PRUNING_RAMP_END_STEP"},
    {"state", "ADAMWPRUNE_TARGET_SPARSITY", "ADAMWPRUNE_WARMUP_STEPS", "ADAMWPRUNE_FREQUENCY",
     "ADAMWPRUNE_RAMP_END_EPOCH", "ADAMWPRUNE_RAMP_END_STEP"},
};

// bitter8/bitter9's structural weights: one symbol per class.
struct WeightSymbol {
  const char* symbol;
  double StructuralWeights::*field;
};

constexpr WeightSymbol kWeightSymbols[] = {
    {"ADAMWPRUNE_BITTER_WEIGHT_ATTENTION", &StructuralWeights::attention},
    {"ADAMWPRUNE_BITTER_WEIGHT_MLP", &StructuralWeights::mlp},
    {"ADAMWPRUNE_BITTER_WEIGHT_COUPLING", &StructuralWeights::coupling},
    {"ADAMWPRUNE_BITTER_WEIGHT_OTHER", &StructuralWeights::other},
};

const PruneSymbols& prune_symbols(const std::string& method, std::string where) {
  return lookup(kPruneSymbols, method, std::move(where), "CONFIG_PRUNING_METHOD");
}

}  // namespace

std::string target_sparsity_symbol(const std::string& method) {
  const char* target = prune_symbols(method, "pruning").target;
  return target ? target : "";
}

std::string ramp_end_symbol(const std::string& method, bool in_epochs) {
  const auto& syms = prune_symbols(method, "pruning");
  return in_epochs ? syms.ramp_end_epoch : syms.ramp_end_step;
}

PruneSettings resolve_prune(const Config& cfg, bool in_steps) {
  PruneSettings p;
  p.method = cfg.get_string("PRUNING_METHOD", "none");
  const auto& syms = prune_symbols(p.method, cfg.origin());
  if (!syms.target) return p;
  p.target_sparsity = cfg.get_float(syms.target);
  KNLP_CHECK_INPUT(p.target_sparsity >= 0 && p.target_sparsity < 1,
                   fmt::format("CONFIG_{}", syms.target), "{} must lie in [0, 1)",
                   p.target_sparsity);
  p.warmup_steps = cfg.get_int(syms.warmup);
  p.frequency = cfg.get_int(syms.frequency);
  if (in_steps) {
    p.ramp_end_step = cfg.get_int(syms.ramp_end_step);
    p.ramp_end_epoch = 0;
  } else {
    p.ramp_end_epoch = cfg.get_int(syms.ramp_end_epoch);
  }
  p.schedule = cfg.get_string("PRUNING_SCHEDULE", p.schedule);
  p.threshold = cfg.get_string("PRUNING_THRESHOLD", p.threshold);
  p.sample_fraction = cfg.get_float("PRUNING_THRESHOLD_SAMPLE_FRACTION", p.sample_fraction);
  KNLP_CHECK_INPUT(p.sample_fraction > 0 && p.sample_fraction <= 1,
                   "CONFIG_PRUNING_THRESHOLD_SAMPLE_FRACTION", "{} must lie in (0, 1]",
                   p.sample_fraction);
  p.variant = cfg.get_string("ADAMWPRUNE_VARIANT", p.variant);
  for (const auto& w : kWeightSymbols) {
    p.weights.*w.field = cfg.get_float(w.symbol, p.weights.*w.field);
    KNLP_CHECK_INPUT(p.weights.*w.field >= 0, fmt::format("CONFIG_{}", w.symbol),
                     "{} must not be negative", p.weights.*w.field);
  }
  return p;
}

}  // namespace knlp
