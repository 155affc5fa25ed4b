// config/resolve_prune.cpp - STAND-IN for the pruning branch's resolution of
// Kconfig.pruning: only the method, target sparsity and AdamWPrune variant that
// name a run. On merge take the pruning branch's file instead.
#include "config/config.h"
#include "util/check.h"

namespace knlp {

namespace {

struct NamedSymbol {
  const char* name;
  const char* symbol;
};

constexpr NamedSymbol kMethods[] = {
    {"magnitude", "PRUNING_SELECT_MAGNITUDE"},
    {"movement", "PRUNING_SELECT_MOVEMENT"},
    {"state", "PRUNING_SELECT_STATE"},
};

constexpr NamedSymbol kVariants[] = {
    {"bitter0", "ADAMWPRUNE_VARIANT_BITTER0"}, {"bitter1", "ADAMWPRUNE_VARIANT_BITTER1"},
    {"bitter2", "ADAMWPRUNE_VARIANT_BITTER2"}, {"bitter3", "ADAMWPRUNE_VARIANT_BITTER3"},
    {"bitter4", "ADAMWPRUNE_VARIANT_BITTER4"}, {"bitter5", "ADAMWPRUNE_VARIANT_BITTER5"},
    {"bitter6", "ADAMWPRUNE_VARIANT_BITTER6"}, {"bitter7", "ADAMWPRUNE_VARIANT_BITTER7"},
    {"bitter8", "ADAMWPRUNE_VARIANT_BITTER8"}, {"bitter9", "ADAMWPRUNE_VARIANT_BITTER9"},
};

}  // namespace

PruneSettings resolve_prune(const Config& cfg) {
  PruneSettings p;
  if (!cfg.get_bool("PRUNING_MODE_SINGLE")) return p;
  for (const auto& m : kMethods)
    if (cfg.get_bool(m.symbol)) p.method = m.name;
  p.target_sparsity = cfg.get_float("TARGET_SPARSITY");
  KNLP_CHECK_INPUT(p.target_sparsity >= 0 && p.target_sparsity < 1, "CONFIG_TARGET_SPARSITY",
                   "{} is not a fraction; accepted: 0 <= sparsity < 1", p.target_sparsity);
  for (const auto& v : kVariants)
    if (p.method == "state" && cfg.get_bool(v.symbol)) p.variant = v.name;
  return p;
}

}  // namespace knlp
