// optim/optim.h - optimizers built by name, with weight-decay parameter groups.
#pragma once

#include <torch/torch.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"  // OptimSettings

namespace knlp {

// The two parameter groups: weights that decay, and everything else (biases,
// norms, embeddings) with weight decay 0. The model declares which is which
// (models' Model::param_roles); train hands them over.
struct ParamGroups {
  std::vector<torch::Tensor> decay, no_decay;
};

// Builds the optimizer the settings name over the parameter groups and logs
// the size of each. Throws Error (exit 2) for an unknown name.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const ParamGroups& groups,
                                                        const OptimSettings& settings);

// Names make_optimizer() accepts, in table order.
std::vector<std::string> optimizer_names();

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace knlp

namespace knlp {

// ---------------------------------------------------------------------------
// knlp's Adam family: one core (AdamFamily) that AdamWAdv, AdamWSpam and
// AdamWPrune are. One step of a weight p with gradient g, learning rate lr:
//   decoupled: p -= lr * wd * p          coupled (Adam): g += wd * p
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2,   vmax = max(vmax, v)
//   p -= lr / (1 - b1^t) * m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)
// the same arithmetic as LibTorch's Adam/AdamW. With SPAM on, step() first
// processes the gradients and moments (docs/optimizers.md):
//   1. clip each |g| to sqrt(theta * (v + 1e-12)), v from the previous step;
//   2. global gradient norm N; if N's z-score against the last 99 norms
//      exceeds the threshold: m *= 0.5, v *= 0.9 for every weight;
//   3. clip the global norm to grad_clip;
//   4. count the step; every `interval` steps zero m and v and then scale the
//      group's learning rate by max(1e-3, (1 - cos(pi t)) / 2), t = 0 .. 1
//      over warmup_steps. The group's lr is never written: it stays the base
//      the trainer set, so the warmup never compounds.

// Options of one parameter group.
struct AdamFamilyOptions : torch::optim::OptimizerCloneableOptions<AdamFamilyOptions> {
  AdamFamilyOptions(double lr = 1e-3);  // NOLINT: implicit, as LibTorch's options
  TORCH_ARG(double, lr) = 1e-3;
  typedef std::tuple<double, double> betas_t;
  TORCH_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, amsgrad) = false;
  TORCH_ARG(bool, decoupled) = true;  // AdamW decay; false: L2 in the gradient (Adam)

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(const double lr) override;
};

// A weight's state: raw (not bias-corrected) moments, as the pruner reads them.
struct AdamFamilyParamState
    : torch::optim::OptimizerCloneableParamState<AdamFamilyParamState> {
  TORCH_ARG(int64_t, step) = 0;              // Adam steps of this weight (bias correction)
  TORCH_ARG(torch::Tensor, exp_avg);         // m, shaped like the weight
  TORCH_ARG(torch::Tensor, exp_avg_sq);      // v
  TORCH_ARG(torch::Tensor, max_exp_avg_sq);  // max of v so far; undefined without AMSGrad

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

// SPAM's counters, saved with the optimizer so that a resumed run is bit-exact.
struct SpamState {
  int64_t step = 0;          // step() calls so far (one per iteration)
  std::deque<double> norms;  // the last 100 finite global gradient norms, newest last
  int64_t spikes = 0;        // soft resets done
  int64_t resets = 0;        // periodic resets done
  int64_t warmup_until = 0;  // the LR warmup runs while step < warmup_until
  double lr_scale = 1.0;     // factor on the group lr in the latest step
  void serialize(torch::serialize::OutputArchive& archive) const;
  void serialize(torch::serialize::InputArchive& archive);
};

class AdamFamily : public torch::optim::Optimizer {
 public:
  // Throws c10::Error for out-of-range options (as LibTorch's AdamW does).
  AdamFamily(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
             AdamFamilyOptions defaults, SpamSettings spam = {});
  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  const SpamSettings& spam() const { return spam_; }
  const SpamState& spam_state() const { return spam_state_; }

 private:
  AdamFamilyParamState& state_for(const torch::Tensor& p, const AdamFamilyOptions& o);
  double spam_before_update();  // SPAM steps 1-4; returns the LR scale
  void clip_spikes();
  void detect_spike(double norm);
  void clip_global_norm(double norm);
  double periodic_reset();

  SpamSettings spam_;
  SpamState spam_state_;
};

// AdamW with AMSGrad (ADV_USE_AMSGRAD); its cosine schedule and gradient clip
// are the trainer's (TrainSettings.lr_schedule, grad_clip).
class AdamWAdv : public AdamFamily {
 public:
  AdamWAdv(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
           AdamFamilyOptions defaults)
      : AdamFamily(param_groups, std::move(defaults)) {}
};

// AdamWAdv with SPAM on (spam.enabled is forced on).
class AdamWSpam : public AdamFamily {
 public:
  AdamWSpam(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
            AdamFamilyOptions defaults, SpamSettings spam);
};

// Its base (Adam: decoupled(false); AdamW/AdamWAdv; AdamWSpam: spam.enabled) with
// AdamWPrune's betas, decay and AMSGrad; state pruning reads its moments.
class AdamWPrune : public AdamFamily {
 public:
  AdamWPrune(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
             AdamFamilyOptions defaults, SpamSettings spam)
      : AdamFamily(param_groups, std::move(defaults), std::move(spam)) {}
};

// A parameter's Adam-family moments, from LibTorch's Adam/AdamW or the family
// above (undefined tensors where the optimizer keeps none, e.g. SGD, or before
// its first step). The tensors are the live state.
struct AdamMoments {
  torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
};
AdamMoments adam_moments(torch::optim::Optimizer& opt, const torch::Tensor& param);

}  // namespace knlp
