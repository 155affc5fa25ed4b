// optim/moments.cpp - read a parameter's moments from whichever Adam keeps them:
// knlp's Adam family or LibTorch's Adam/AdamW.
#include "optim/optim.h"

namespace knlp {

namespace {

template <typename State>
bool read_moments(torch::optim::OptimizerParamState& s, AdamMoments& out) {
  auto* st = dynamic_cast<State*>(&s);
  if (!st) return false;
  out = {st->exp_avg(), st->exp_avg_sq(), st->max_exp_avg_sq()};
  return true;
}

}  // namespace

AdamMoments adam_moments(torch::optim::Optimizer& opt, const torch::Tensor& param) {
  AdamMoments out;
  auto it = opt.state().find(param.unsafeGetTensorImpl());
  if (it == opt.state().end()) return out;
  auto& s = *it->second;
  read_moments<AdamFamilyParamState>(s, out) ||
      read_moments<torch::optim::AdamWParamState>(s, out) ||
      read_moments<torch::optim::AdamParamState>(s, out);
  return out;
}

}  // namespace knlp
