// prune/prune.h - pruning: which weights are zero, and keeping them zero.
//
// The pruner sees parameters and the optimizer's moments, never a model
// class: the trainer hands it the prunable weights (every Linear and Conv2d
// weight) and, after each step, a lookup of each weight's Adam moments.
// Masks are bool buffers of the pruner module, saved with its checkpoint.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"  // PruneSettings

namespace knlp {

struct PrunableParam {
  std::string name;      // "fc1.weight": the model's parameter name
  torch::Tensor weight;  // the parameter itself (pruned in place)
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
  // Fraction of exact zeros over all prunable weights.
  double sparsity() const;
  const std::vector<PrunableParam>& params() const { return params_; }

 protected:
  std::vector<PrunableParam> params_;
};

// Builds the pruner the settings name ("none" keeps every weight). steps_per_epoch
// turns epoch-based schedule symbols into steps.
std::shared_ptr<Pruner> make_pruner(const PruneSettings& settings,
                                    std::vector<PrunableParam> params, int64_t steps_per_epoch);

}  // namespace knlp
