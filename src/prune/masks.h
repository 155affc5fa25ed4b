// prune/masks.h - private to prune/: the pruner every method shares.
#pragma once

#include "prune/prune.h"

namespace knlp {

// What the shared mechanism must know of a score (scores.cpp); throws Error for an
// unknown name.
struct ScorerTraits {
  bool needs_initial;  // keep w0 (movement)
  bool per_layer;      // one threshold per layer (bitter4)
};
ScorerTraits scorer_traits(std::string_view name);

// A pruner that scores with `scorer` (a prune_score() name): bool masks, the
// schedule of settings, an exact (or sampled) global threshold, per layer for
// bitter4. Keeps w0 only when the score needs it (movement).
std::shared_ptr<Pruner> make_mask_pruner(const PruneSettings& settings,
                                         std::vector<PrunableParam> params,
                                         const std::string& scorer);

}  // namespace knlp
