// prune/registry.cpp - pruning method name -> pruner.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "prune/masks.h"
#include "util/check.h"
#include "util/registry.h"  // row_names, lookup

namespace knlp {

namespace {

// Keeps every weight: the pruner of dense runs.
class NoPruner : public Pruner {
 public:
  explicit NoPruner(std::vector<PrunableParam> params) { params_ = std::move(params); }
};

// The score a method ranks weights by: its own name, or AdamWPrune's variant.
std::string own_score(const PruneSettings& s) { return s.method; }

std::string state_variant(const PruneSettings& s) {
  const auto variants = scorer_names(/*state_only=*/true);
  KNLP_CHECK_INPUT(std::find(variants.begin(), variants.end(), s.variant) != variants.end(),
                   "pruning", "unknown state pruning variant '{}'; accepted: {}", s.variant,
                   fmt::join(variants, ", "));
  return s.variant;
}

struct Method {
  const char* name;
  std::string (*score)(const PruneSettings&);  // nullptr: no pruning
};

const Method kMethods[] = {
    {"none", nullptr},
    {"magnitude", own_score},
    {"movement", own_score},
    {"state", state_variant},
};

}  // namespace

double Pruner::sparsity() const {
  int64_t zeros = 0, total = 0;
  for (const auto& p : params_) {
    zeros += (p.weight == 0).sum().item<int64_t>();
    total += p.weight.numel();
  }
  return total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
}

std::vector<std::string> pruning_methods() { return row_names(kMethods); }

std::shared_ptr<Pruner> make_pruner(const PruneSettings& settings,
                                    std::vector<PrunableParam> params) {
  const auto& m = lookup(kMethods, settings.method, "pruning", "method");
  if (!m.score) return std::make_shared<NoPruner>(std::move(params));
  return make_mask_pruner(settings, std::move(params), m.score(settings));
}

}  // namespace knlp
