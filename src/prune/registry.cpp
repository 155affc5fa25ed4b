// prune/registry.cpp - pruning method name -> pruner.
#include <fmt/format.h>

#include "prune/prune.h"
#include "util/check.h"

namespace knlp {

namespace {

// Keeps every weight: the pruner of dense runs.
class NoPruner : public Pruner {
 public:
  explicit NoPruner(std::vector<PrunableParam> params) { params_ = std::move(params); }
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

std::shared_ptr<Pruner> make_pruner(const PruneSettings& settings,
                                    std::vector<PrunableParam> params, int64_t steps_per_epoch) {
  (void)steps_per_epoch;
  KNLP_CHECK_INPUT(settings.method == "none", "pruning", "unknown method '{}'; accepted: none",
                   settings.method);
  return std::make_shared<NoPruner>(std::move(params));
}

}  // namespace knlp
