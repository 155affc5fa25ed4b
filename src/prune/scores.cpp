// prune/scores.cpp - every pruning score, one pure function each, in one table.
//
// A higher score means keep the weight. w is the weight, w0 the weight at
// construction, m and v the raw Adam moments exp_avg and exp_avg_sq (no bias
// correction, as the reference reads them). The formulas are those of the
// Python knlp at HEAD, except bitter5's sign and bitter8/9 (docs/pruning.md).
#include <fmt/format.h>

#include "prune/masks.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

constexpr double kEps = 1e-8;

torch::Tensor magnitude(const ScoreInput& s) { return s.w.abs(); }

// Weights moving away from zero since initialisation score high, those moving
// toward it score below zero.
torch::Tensor movement(const ScoreInput& s) { return s.w * (s.w - s.w0); }

// Hybrid momentum-stability: w^2 |m| / (sqrt(v) + eps).
torch::Tensor bitter0(const ScoreInput& s) {
  return s.w.square() * s.exp_avg.abs() / (s.exp_avg_sq.sqrt() + kEps);
}

// |w| sqrt(|m| + eps): bitter3 (global) and bitter4 (per layer).
torch::Tensor bitter3(const ScoreInput& s) { return s.w.abs() * (s.exp_avg.abs() + kEps).sqrt(); }

// -sign(w) m / (sqrt(v) + eps) + 0.1 |w|: a weight Adam moves toward zero (sign(w) = sign(m))
// scores low. The reference has the opposite sign, against its own comment.
torch::Tensor bitter5(const ScoreInput& s) {
  return -s.w.sign() * s.exp_avg / (s.exp_avg_sq.sqrt() + kEps) + 0.1 * s.w.abs();
}

// Coherence: |w| sqrt(|m| + eps) sqrt(m^2 / (v + eps)).
torch::Tensor bitter6(const ScoreInput& s) {
  return bitter3(s) * (s.exp_avg.square() / (s.exp_avg_sq + kEps)).sqrt();
}

// |w| (|v| + eps)^(1/4): the recommended variant.
torch::Tensor bitter7(const ScoreInput& s) {
  return s.w.abs() * (s.exp_avg_sq.abs() + kEps).pow(0.25);
}

// c |w| sqrt(|m| + eps), c the structural weight (README definition).
torch::Tensor bitter8(const ScoreInput& s) { return s.c * bitter3(s); }

// c |w| (v^(1/4) + eps) (README definition).
torch::Tensor bitter9(const ScoreInput& s) {
  return s.c * s.w.abs() * (s.exp_avg_sq.pow(0.25) + kEps);
}

enum class Needs { kWeight, kInitial, kMoments };

struct Scorer {
  const char* name;
  torch::Tensor (*fn)(const ScoreInput&);
  Needs needs;
  bool state;      // an AdamWPrune variant (method "state")
  bool per_layer;  // thresholded layer by layer (bitter4), not over all layers at once
};

const Scorer kScorers[] = {
    {"magnitude", magnitude, Needs::kWeight, false, false},
    {"movement", movement, Needs::kInitial, false, false},
    {"bitter0", bitter0, Needs::kMoments, true, false},
    {"bitter1", magnitude, Needs::kWeight, true, false},
    {"bitter2", magnitude, Needs::kWeight, true, false},
    {"bitter3", bitter3, Needs::kMoments, true, false},
    {"bitter4", bitter3, Needs::kMoments, true, true},
    {"bitter5", bitter5, Needs::kMoments, true, false},
    {"bitter6", bitter6, Needs::kMoments, true, false},
    {"bitter7", bitter7, Needs::kMoments, true, false},
    {"bitter8", bitter8, Needs::kMoments, true, false},
    {"bitter9", bitter9, Needs::kMoments, true, false},
};

const Scorer& find_scorer(std::string_view name) {
  return lookup(kScorers, name, "pruning", "score");
}

}  // namespace

torch::Tensor prune_score(std::string_view name, const ScoreInput& in) {
  const Scorer& s = find_scorer(name);
  if (s.needs == Needs::kMoments && (!in.exp_avg.defined() || !in.exp_avg_sq.defined()))
    return in.w.abs();  // before the optimizer's first step
  KNLP_CHECK_INPUT(s.needs != Needs::kInitial || in.w0.defined(), "pruning",
                   "score '{}' needs the initial weights w0, which were not kept", name);
  return s.fn(in);
}

ScorerTraits scorer_traits(std::string_view name) {
  const Scorer& s = find_scorer(name);
  return {s.needs == Needs::kInitial, s.per_layer};
}

std::vector<std::string> scorer_names(bool state_only) {
  std::vector<std::string> names;
  for (const auto& s : kScorers)
    if (s.state || !state_only) names.emplace_back(s.name);
  return names;
}

}  // namespace knlp
