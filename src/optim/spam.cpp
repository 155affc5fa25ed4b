// optim/spam.cpp - knlp's SPAM: what AdamWSpam's step() does before the update.
//
// Follows the Python knlp's apply_spam_gradient_processing and
// apply_periodic_spam_reset, with its counters advanced once per step and the
// post-reset warmup scaling the trainer's LR instead of overwriting it
// (docs/optimizers.md lists every difference).
#include <spdlog/spdlog.h>

#include <cmath>
#include <numeric>

#include "optim/optim.h"

namespace knlp {

namespace {

constexpr size_t kNormHistory = 100;  // global gradient norms kept for the z-score
constexpr size_t kMinHistory = 10;    // norms needed (the newest included) to test one
constexpr double kClipFloor = 1e-12;  // keeps the per-element bound above 0 where v = 0
constexpr double kMinLrScale = 1e-3;  // the warmup's first step still moves a little

template <typename F>
void for_each_state(torch::optim::Optimizer& opt, F f) {
  for (auto& item : opt.state()) f(static_cast<AdamFamilyParamState&>(*item.second));
}

template <typename F>
void for_each_grad(torch::optim::Optimizer& opt, F f) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) f(p);
}

}  // namespace

void SpamState::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("step", c10::IValue(step));
  archive.write("norms", torch::tensor(std::vector<double>(norms.begin(), norms.end()),
                                       torch::kFloat64));
  archive.write("spikes", c10::IValue(spikes));
  archive.write("resets", c10::IValue(resets));
  archive.write("warmup_until", c10::IValue(warmup_until));
  archive.write("lr_scale", c10::IValue(lr_scale));
}

void SpamState::serialize(torch::serialize::InputArchive& archive) {
  c10::IValue v;
  archive.read("step", v);
  step = v.toInt();
  torch::Tensor t;
  archive.read("norms", t);
  t = t.to(torch::kFloat64).contiguous();
  norms.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  archive.read("spikes", v);
  spikes = v.toInt();
  archive.read("resets", v);
  resets = v.toInt();
  archive.read("warmup_until", v);
  warmup_until = v.toInt();
  archive.read("lr_scale", v);
  lr_scale = v.toDouble();
}

double AdamFamily::spam_before_update() {
  ++spam_state_.step;
  if (spam_.clip) clip_spikes();
  std::vector<torch::Tensor> norms;
  for_each_grad(*this, [&](const torch::Tensor& p) { norms.push_back(p.grad().norm()); });
  const double norm = norms.empty() ? 0.0 : torch::stack(norms).norm().item<double>();
  detect_spike(norm);
  if (spam_.grad_clip > 0) clip_global_norm(norm);
  spam_state_.lr_scale = periodic_reset();
  return spam_state_.lr_scale;
}

// |g| > sqrt(theta (v + 1e-12)) -> sign(g) sqrt(...), v the raw second moment
// of the previous step; weights without state yet (the first step) are left alone.
void AdamFamily::clip_spikes() {
  for_each_grad(*this, [&](const torch::Tensor& p) {
    auto it = state_.find(p.unsafeGetTensorImpl());
    if (it == state_.end()) return;
    const auto& v = static_cast<AdamFamilyParamState&>(*it->second).exp_avg_sq();
    auto bound = (v + kClipFloor).mul_(spam_.theta).sqrt_();  // shaped like p
    p.grad().clamp_(-bound, bound);
  });
}

// A norm whose z-score against the history before it exceeds the threshold is
// a spike: m *= 0.5, v *= 0.9 for every weight (AMSGrad's max is kept).
void AdamFamily::detect_spike(double norm) {
  if (!std::isfinite(norm)) return;  // neither recorded nor tested
  auto& h = spam_state_.norms;
  h.push_back(norm);
  if (h.size() > kNormHistory) h.pop_front();
  if (h.size() < kMinHistory) return;
  const auto past = static_cast<double>(h.size() - 1);
  const double mean = std::accumulate(h.begin(), h.end() - 1, 0.0) / past;
  double var = 0;
  for (auto it = h.begin(); it != h.end() - 1; ++it) var += (*it - mean) * (*it - mean);
  const double sd = std::sqrt(var / past);  // population standard deviation
  if (sd <= 0 || (norm - mean) / sd <= spam_.spike_threshold) return;
  for_each_state(*this, [](AdamFamilyParamState& s) {
    s.exp_avg().mul_(0.5);
    s.exp_avg_sq().mul_(0.9);
  });
  ++spam_state_.spikes;
  spdlog::debug("spam: step {}: gradient norm {:.4g} is {:.1f} sd above its mean {:.4g}; "
                "m *= 0.5, v *= 0.9",
                spam_state_.step, norm, (norm - mean) / sd, mean);
}

// All gradients scaled by one factor so that their global norm is at most
// grad_clip, as torch's clip_grad_norm_ does.
void AdamFamily::clip_global_norm(double norm) {
  if (!(norm > spam_.grad_clip)) return;
  const double coef = spam_.grad_clip / (norm + 1e-6);
  for_each_grad(*this, [&](const torch::Tensor& p) { p.grad().mul_(coef); });
}

// Every `interval` steps: m = v = 0 (Adam's step count and AMSGrad's max run
// on). Returns the factor on the group LR: max(1e-3, (1 - cos(pi t)) / 2) while
// t = (steps since the reset) / warmup_steps < 1, else 1.
double AdamFamily::periodic_reset() {
  auto& st = spam_state_;
  if (spam_.interval > 0 && st.step % spam_.interval == 0) {
    for_each_state(*this, [](AdamFamilyParamState& s) {
      s.exp_avg().zero_();
      s.exp_avg_sq().zero_();
    });
    ++st.resets;
    st.warmup_until = st.step + spam_.warmup_steps;
    spdlog::debug("spam: step {}: periodic reset of m and v", st.step);
  }
  if (st.step >= st.warmup_until) return 1.0;
  const auto w = static_cast<double>(spam_.warmup_steps);
  const double t = (w - static_cast<double>(st.warmup_until - st.step)) / w;
  return std::max(kMinLrScale, 0.5 * (1 - std::cos(M_PI * t)));
}

}  // namespace knlp
