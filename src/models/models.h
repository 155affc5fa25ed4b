// models/models.h - every network behind one interface, built by name.
//
// A model maps a batch to logits and, when targets are given, a loss. It
// knows nothing of optimizers or pruning: those see its parameters only.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"  // ModelSettings

namespace knlp {

struct Batch {
  torch::Tensor input;   // images (B, C, S, S) or token ids (B, T)
  torch::Tensor target;  // class ids (B) or next-token ids (B, T); undefined for inference
};

struct ModelOutput {
  torch::Tensor logits;  // (B, classes) or (B, T, V)
  torch::Tensor loss;    // mean cross-entropy; undefined when the batch has no target
};

struct Model : torch::nn::Module {
  virtual ModelOutput forward(const Batch& batch) = 0;
  // Number of trainable parameters, counting a tied tensor once.
  int64_t num_params() const;
};

// Builds the model the settings name, initialised from the current torch seed.
// Throws Error (exit 2) listing the known models for an unknown name.
std::shared_ptr<Model> make_model(const ModelSettings& settings);

// Names make_model() accepts, in table order.
std::vector<std::string> model_names();

// Mean cross-entropy of logits (..., V) against integer targets (...).
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& target);

}  // namespace knlp
