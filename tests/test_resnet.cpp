// ResNet-18 and ResNet-50: parameter counts against torchvision's, and shapes.
#include <gtest/gtest.h>

#include "models/models.h"
#include "util/check.h"

namespace {

knlp::ModelSettings resnet(const char* name, int64_t classes, int64_t channels = 3,
                           const char* stem = "cifar") {
  knlp::ModelSettings s;
  s.name = name;
  s.num_classes = classes;
  s.in_channels = channels;
  s.stem = stem;
  return s;
}

// Weights of every Linear and Conv2d module: the prunable set.
int64_t prunable(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& item : m.named_modules())
    if (item.value()->as<torch::nn::Linear>() || item.value()->as<torch::nn::Conv2d>())
      n += item.value()->named_parameters(false)["weight"].numel();
  return n;
}

}  // namespace

TEST(ResNet, ResNet18CifarCountsAndShapes) {
  torch::manual_seed(0);
  auto model = knlp::make_model(resnet("resnet18", 10));
  // torchvision resnet18: 11,689,512 with 1000 classes; less its fc (513,000) and 7x7
  // stem (9,408), plus a 3x3 stem (1,728) and a 10-class fc (5,130).
  EXPECT_EQ(model->num_params(), 11173962);
  EXPECT_EQ(prunable(*model), 11164352);  // the reference's prunable count
  auto out = model->forward({torch::randn({2, 3, 32, 32}), torch::tensor({1, 9})});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(out.loss.dim(), 0);
  auto names = model->named_parameters().keys();
  for (const char* key : {"conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias",
                          "fc.weight"})
    EXPECT_NE(std::find(names.begin(), names.end(), key), names.end()) << key;
}

TEST(ResNet, ResNet18TakesOneChannelImages) {
  auto model = knlp::make_model(resnet("resnet18", 10, 1));
  EXPECT_EQ(model->num_params(), 11173962 - 2 * 64 * 9);  // the stem sees 1 channel, not 3
  auto out = model->forward({torch::randn({1, 1, 32, 32}), {}});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 10}));
  EXPECT_FALSE(out.loss.defined());
}

TEST(ResNet, ResNet50CountsAndShapesForBothStems) {
  torch::manual_seed(0);
  // torchvision resnet50: 25,557,032 with 1000 classes; a 100-class fc has 204,900
  // parameters instead of 2,049,000.
  auto imagenet = knlp::make_model(resnet("resnet50", 100, 3, "imagenet"));
  EXPECT_EQ(imagenet->num_params(), 23712932);
  auto cifar = knlp::make_model(resnet("resnet50", 100));
  EXPECT_EQ(cifar->num_params(), 23712932 - 3 * 64 * 49 + 3 * 64 * 9);
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_EQ(cifar->forward({x, {}}).logits.sizes(), (std::vector<int64_t>{2, 100}));
  EXPECT_EQ(imagenet->forward({x, {}}).logits.sizes(), (std::vector<int64_t>{2, 100}));
}

TEST(ResNet, ImageNetStemUpscalesWhenAsked) {
  auto s = resnet("resnet50", 10, 3, "imagenet");
  s.input_size = 64;
  auto model = knlp::make_model(s);
  auto out = model->forward({torch::randn({1, 3, 32, 32}), {}});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 10}));
}

TEST(ResNet, BadSettingsAreRefused) {
  EXPECT_THROW(knlp::make_model(resnet("resnet18", 10, 3, "tiny")), knlp::Error);
  EXPECT_THROW(knlp::make_model(resnet("resnet18", 1)), knlp::Error);
}

TEST(ResNet, ConvolutionsAreKaimingNormalFanOut) {
  torch::manual_seed(0);
  auto model = knlp::make_model(resnet("resnet18", 10));
  // layer4.0.conv2: 512 out channels x 3 x 3 = fan_out 4608, std sqrt(2 / 4608) = 0.0208.
  auto w = model->named_parameters()["layer4.0.conv2.weight"];
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 4608), 0.0005);
  EXPECT_NEAR(model->named_parameters()["layer1.0.bn1.weight"].sum().item<double>(), 64, 0);
}
