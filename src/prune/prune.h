// prune/prune.h - pruning: which weights are zero, and keeping them zero.
//
// The pruner sees parameters and the optimizer's moments, never a model
// class: the trainer hands it the weights the model declares prunable (with
// their structural class) and, after each step, a lookup of each weight's
// Adam moments.
// Masks are bool buffers of the pruner module, saved with its checkpoint.
//
// Every method is the same mechanism with a different score: a schedule
// says how many weights are pruned at a step, a threshold over the scores
// picks exactly which, and the masks are applied to the gradients before
// each step and to the weights and Adam moments after it. docs/pruning.md
// gives the formulas.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"  // PruneSettings

namespace knlp {

struct PrunableParam {
  std::string name;      // "fc1.weight": the model's parameter name
  torch::Tensor weight;  // the parameter itself (pruned in place)
  ParamClass cls = ParamClass::kOther;  // its structural class (bitter8, bitter9)
};

// A weight's optimizer state; tensors are undefined when the optimizer has none yet.
struct Moments {
  torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
};
using MomentsLookup = std::function<Moments(const torch::Tensor& weight)>;

class Pruner : public torch::nn::Module {
 public:
  // Zeroes the gradients of pruned weights; called after backward, before the step.
  virtual void mask_gradients() {}
  // Recomputes masks when the schedule says so and re-applies them (weights and
  // moments); called after every optimizer step with the step just taken (1-based).
  virtual void after_step(int64_t step, const MomentsLookup& moments) {
    (void)step;
    (void)moments;
  }
  // The sparsity the schedule asks for at this step.
  virtual double target_at(int64_t step) const {
    (void)step;
    return 0.0;
  }
  // The fraction of all prunable weights an update at `target` prunes: floor(s N)/N,
  // or for a per-layer score (bitter4) the sum of its layers' floor(s_l n_l) over N,
  // which is not s (docs/pruning.md, bitter4).
  virtual double overall_sparsity(double target) const { return target; }
  // Fraction of exact zeros over all prunable weights.
  double sparsity() const;
  const std::vector<PrunableParam>& params() const { return params_; }

 protected:
  std::vector<PrunableParam> params_;
};

// Builds the pruner the settings name ("none" keeps every weight); its ramp ends
// at settings.ramp_end_step (the loop has turned an epoch symbol into steps).
// Throws Error (exit 2) for an unknown method, variant, schedule or threshold,
// listing the accepted names.
std::shared_ptr<Pruner> make_pruner(const PruneSettings& settings,
                                    std::vector<PrunableParam> params);

// Pruning method names make_pruner() accepts, in table order.
std::vector<std::string> pruning_methods();

// ---------------------------------------------------------------------------
// The pieces of the mechanism, pure functions (tests check them by hand).

// What a score may look at, for one prunable weight. Moments are the raw Adam
// state (no bias correction), undefined before the optimizer's first step; w0 is
// the weight at construction, defined only for movement.
struct ScoreInput {
  torch::Tensor w, w0, exp_avg, exp_avg_sq;
  double c = 1.0;  // structural weight of the parameter's class (bitter8, bitter9)
};

// The score of each element of in.w (higher = keep) under scorer `name`
// ("magnitude", "movement", "bitter0".."bitter9"). Scores that need moments fall
// back to |w| while the optimizer has none. Throws Error (exit 2) for an unknown
// name, or for movement without w0.
torch::Tensor prune_score(std::string_view name, const ScoreInput& in);

// Scorer names, in table order; state_only: just the AdamWPrune variants (bitterN).
std::vector<std::string> scorer_names(bool state_only);

// Fraction of the final sparsity the schedule `shape` ("cubic", "zhu-gupta",
// "linear") asks for at ramp progress p in [0, 1]. Throws Error for an unknown shape.
double schedule_fraction(std::string_view shape, double p);

// Target sparsity at optimizer step `step`: 0 through the warmup, then
// s_f * schedule_fraction(p) with p = (step - warmup) / (ramp_end - warmup), capped at 1.
double scheduled_sparsity(const PruneSettings& settings, int64_t ramp_end_step, int64_t step);

// How many of n weights sparsity s prunes: floor(s n).
int64_t prune_count(double sparsity, int64_t n);

// Keep-masks (true = keep) that prune exactly the k lowest of all scores taken
// together, ties broken by position (earlier tensors, then lower flat index, first).
std::vector<torch::Tensor> prune_lowest(const std::vector<torch::Tensor>& scores, int64_t k);

// Keep-masks from a threshold estimated on a random sample of a `fraction` of all
// scores (drawn from the global CPU generator): keeps score > the estimated k-th
// smallest, so about k are pruned.
std::vector<torch::Tensor> prune_lowest_sampled(const std::vector<torch::Tensor>& scores,
                                                int64_t k, double fraction);

// bitter4's per-layer sparsity of layer i of n: min(0.95, s * (0.7 + 0.6 * i / max(n - 1, 1))).
double layer_sparsity(double sparsity, size_t layer, size_t layers);

}  // namespace knlp
