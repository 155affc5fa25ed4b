// optim/optim.h - optimizers built by name, with weight-decay parameter groups.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"  // OptimSettings

namespace knlp {

// Group 0: weights that decay (Linear/Conv weights); group 1: everything else
// (biases, norm layers, embeddings), with weight decay 0. A tensor shared by two
// modules (tied embeddings) lands in the group of the first module that owns it.
struct ParamGroups {
  std::vector<torch::Tensor> decay, no_decay;
};
ParamGroups split_param_groups(torch::nn::Module& model);

// Builds the optimizer the settings name over the model's parameter groups and
// logs the size of each group. Throws Error (exit 2) for an unknown name.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& model,
                                                        const OptimSettings& settings);

// Names make_optimizer() accepts, in table order.
std::vector<std::string> optimizer_names();

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace knlp

namespace knlp {

// A parameter's Adam-family moments (undefined tensors where the optimizer keeps
// none, e.g. SGD, or before its first step). The tensors are the live state.
struct AdamMoments {
  torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
};
AdamMoments adam_moments(torch::optim::Optimizer& opt, const torch::Tensor& param);

}  // namespace knlp
