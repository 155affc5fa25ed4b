// models/lenet5.cpp - LeNet-5 with batch norm, for 32x32 single-channel images.
//
// Shapes: B = batch, C = channels, S = image side.
#include "models/lenet5.h"

namespace knlp {

LeNet5::LeNet5(const ModelSettings& s)
    : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.in_channels, 6, 5)))),
      bn1(register_module("bn1", torch::nn::BatchNorm2d(6))),
      conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)))),
      bn2(register_module("bn2", torch::nn::BatchNorm2d(16))),
      fc1(register_module("fc1", torch::nn::Linear(16 * 5 * 5, 120))),
      fc2(register_module("fc2", torch::nn::Linear(120, 84))),
      fc3(register_module("fc3", torch::nn::Linear(84, s.num_classes))) {
  KNLP_CHECK_INPUT(s.image_size == 32, "model lenet5", "needs 32x32 inputs, got {}x{}",
                   s.image_size, s.image_size);
}

ModelOutput LeNet5::forward(const Batch& batch) {
  auto x = batch.input;                                                   // (B, C, 32, 32)
  x = torch::max_pool2d(torch::relu(bn1(conv1(x))), 2);                   // (B, 6, 14, 14)
  x = torch::max_pool2d(torch::relu(bn2(conv2(x))), 2);                   // (B, 16, 5, 5)
  x = x.flatten(1);                                                       // (B, 400)
  x = torch::relu(fc1(x));                                                // (B, 120)
  x = torch::relu(fc2(x));                                                // (B, 84)
  ModelOutput out{fc3(x), {}};                                            // (B, classes)
  if (batch.target.defined()) out.loss = cross_entropy(out.logits, batch.target);
  return out;
}

}  // namespace knlp
