// models/resnet.h - private to models/: ResNet-18 and ResNet-50 (made by make_model).
#pragma once

#include "models/models.h"

namespace knlp {

// settings.name picks the size ("resnet18", "resnet50"), settings.stem the stem.
struct ResNet : Model {
  explicit ResNet(const ModelSettings& s);
  ModelOutput forward(const Batch& batch) override;

  int64_t input_size = 0;  // resize inputs to this side first (0: as they come)
  bool maxpool = false;    // the ImageNet stem's 3x3/2 max-pool
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};

}  // namespace knlp
