// models/lenet5.h - private to models/: the LeNet-5 module (made by make_model).
#pragma once

#include "models/models.h"
#include "util/check.h"

namespace knlp {

struct LeNet5 : Model {
  explicit LeNet5(const ModelSettings& s);
  ModelOutput forward(const Batch& batch) override;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

}  // namespace knlp
