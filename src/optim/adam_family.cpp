// optim/adam_family.cpp - the Adam-family core: AdamWAdv, AdamWSpam, AdamWPrune.
//
// One update for all of them; they differ in options (AMSGrad, decay style)
// and in whether SPAM (spam.cpp) processes the gradients first.
#include <cmath>

#include "optim/optim.h"

namespace knlp {

namespace {

using torch::serialize::InputArchive;
using torch::serialize::OutputArchive;

// One Adam step of p with the group's options at learning rate lr, the
// arithmetic of LibTorch's adam.cpp / adamw.cpp.
void adam_update(torch::Tensor& p, AdamFamilyParamState& s, const AdamFamilyOptions& o,
                 double lr) {
  auto g = p.grad();
  const auto [b1, b2] = o.betas();
  if (o.weight_decay() != 0) {
    if (o.decoupled())
      p.mul_(1 - lr * o.weight_decay());  // AdamW: decay the weight itself
    else
      g = g.add(p, o.weight_decay());  // Adam: L2 term in the gradient
  }
  s.step(s.step() + 1);
  const double bc1 = 1 - std::pow(b1, static_cast<double>(s.step()));
  const double bc2 = 1 - std::pow(b2, static_cast<double>(s.step()));
  s.exp_avg().mul_(b1).add_(g, 1 - b1);             // m
  s.exp_avg_sq().mul_(b2).addcmul_(g, g, 1 - b2);   // v
  torch::Tensor v = s.exp_avg_sq();
  if (o.amsgrad()) {
    torch::max_out(s.max_exp_avg_sq(), s.exp_avg_sq(), s.max_exp_avg_sq());
    v = s.max_exp_avg_sq();
  }
  auto denom = (v.sqrt() / std::sqrt(bc2)).add_(o.eps());
  p.addcdiv_(s.exp_avg(), denom, -lr / bc1);
}

SpamSettings switched_on(SpamSettings spam) {
  spam.enabled = true;
  return spam;
}

}  // namespace

AdamFamilyOptions::AdamFamilyOptions(double lr) : lr_(lr) {}

void AdamFamilyOptions::serialize(OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(betas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(amsgrad);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(decoupled);
}

void AdamFamilyOptions::serialize(InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(betas_t, betas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, amsgrad);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, decoupled);
}

double AdamFamilyOptions::get_lr() const { return lr(); }

void AdamFamilyOptions::set_lr(const double lr) { this->lr(lr); }

void AdamFamilyParamState::serialize(OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(max_exp_avg_sq);
}

void AdamFamilyParamState::serialize(InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg_sq);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, max_exp_avg_sq);
}

AdamFamily::AdamFamily(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
                       AdamFamilyOptions defaults, SpamSettings spam)
    : Optimizer(param_groups, std::make_unique<AdamFamilyOptions>(defaults)),
      spam_(std::move(spam)) {
  const auto [b1, b2] = defaults.betas();
  TORCH_CHECK(defaults.lr() >= 0, "invalid learning rate: ", defaults.lr());
  TORCH_CHECK(defaults.eps() >= 0, "invalid epsilon: ", defaults.eps());
  TORCH_CHECK(0 <= b1 && b1 < 1 && 0 <= b2 && b2 < 1, "invalid betas: ", b1, ", ", b2);
  TORCH_CHECK(defaults.weight_decay() >= 0, "invalid weight decay: ", defaults.weight_decay());
  TORCH_CHECK(spam_.interval >= 0 && spam_.warmup_steps >= 0, "invalid SPAM interval ",
              spam_.interval, " or warmup ", spam_.warmup_steps);
}

AdamFamilyParamState& AdamFamily::state_for(const torch::Tensor& p, const AdamFamilyOptions& o) {
  auto& slot = state_[p.unsafeGetTensorImpl()];
  if (!slot) {
    auto s = std::make_unique<AdamFamilyParamState>();
    s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    slot = std::move(s);
  }
  auto& s = static_cast<AdamFamilyParamState&>(*slot);
  if (o.amsgrad() && !s.max_exp_avg_sq().defined())
    s.max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  return s;
}

torch::Tensor AdamFamily::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  const double scale = spam_.enabled ? spam_before_update() : 1.0;
  for (auto& group : param_groups_) {
    auto& o = static_cast<AdamFamilyOptions&>(group.options());
    for (auto& p : group.params())
      if (p.grad().defined()) adam_update(p, state_for(p, o), o, o.lr() * scale);
  }
  return loss;
}

void AdamFamily::save(OutputArchive& archive) const {
  torch::optim::serialize<AdamFamilyParamState, AdamFamilyOptions>(archive, *this);
  OutputArchive spam(archive.compilation_unit());
  spam_state_.serialize(spam);
  archive.write("spam", spam);
}

void AdamFamily::load(InputArchive& archive) {
  torch::optim::serialize<AdamFamilyParamState, AdamFamilyOptions>(archive, *this);
  InputArchive spam;
  archive.read("spam", spam);
  spam_state_.serialize(spam);
}

AdamWSpam::AdamWSpam(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
                     AdamFamilyOptions defaults, SpamSettings spam)
    : AdamFamily(param_groups, std::move(defaults), switched_on(std::move(spam))) {}

}  // namespace knlp
