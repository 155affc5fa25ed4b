// models/resnet.cpp - ResNet-18 (basic blocks) and ResNet-50 (bottlenecks).
//
// He et al. 2015, with the two stems the Python knlp uses: the CIFAR stem
// (3x3 conv, stride 1, no max-pool) keeps 32x32 inputs at full resolution;
// the ImageNet stem (7x7 conv, stride 2, 3x3 max-pool) divides them by 4.
// ResNet-50 puts the stride on the 3x3 conv of a bottleneck (v1.5). Names
// follow torchvision (conv1, bn1, layerN.i.conv1, downsample.0, fc).
//
// Shapes: B = batch, C = channels, S = image side.
#include <spdlog/spdlog.h>

#include <array>

#include "models/resnet.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

using torch::nn::BatchNorm2d;
using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;

Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return Conv2d(Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// 1x1 conv + BN on the shortcut when the stride or the width changes, else empty.
torch::nn::Sequential downsample(int64_t in, int64_t out, int64_t stride) {
  torch::nn::Sequential d;
  if (stride != 1 || in != out) {
    d->push_back(conv(in, out, 1, stride));
    d->push_back(BatchNorm2d(out));
  }
  return d;
}

struct BasicBlockImpl : torch::nn::Module {
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in, int64_t width, int64_t stride)
      : conv1(register_module("conv1", conv(in, width, 3, stride))),
        bn1(register_module("bn1", BatchNorm2d(width))),
        conv2(register_module("conv2", conv(width, width, 3, 1))),
        bn2(register_module("bn2", BatchNorm2d(width))),
        down(downsample(in, width, stride)) {
    if (!down->is_empty()) register_module("downsample", down);
  }
  torch::Tensor forward(const torch::Tensor& x) {          // (B, in, S, S)
    auto y = torch::relu(bn1(conv1(x)));                   // (B, width, S/stride, S/stride)
    y = bn2(conv2(y));                                     // (B, width, S/stride, S/stride)
    return torch::relu(y + (down->is_empty() ? x : down->forward(x)));
  }
  Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  Conv2d conv2{nullptr};
  BatchNorm2d bn2{nullptr};
  torch::nn::Sequential down{nullptr};
};
TORCH_MODULE(BasicBlock);

struct BottleneckImpl : torch::nn::Module {
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in, int64_t width, int64_t stride)
      : conv1(register_module("conv1", conv(in, width, 1, 1))),
        bn1(register_module("bn1", BatchNorm2d(width))),
        conv2(register_module("conv2", conv(width, width, 3, stride))),
        bn2(register_module("bn2", BatchNorm2d(width))),
        conv3(register_module("conv3", conv(width, width * kExpansion, 1, 1))),
        bn3(register_module("bn3", BatchNorm2d(width * kExpansion))),
        down(downsample(in, width * kExpansion, stride)) {
    if (!down->is_empty()) register_module("downsample", down);
  }
  torch::Tensor forward(const torch::Tensor& x) {          // (B, in, S, S)
    auto y = torch::relu(bn1(conv1(x)));                   // (B, width, S, S)
    y = torch::relu(bn2(conv2(y)));                        // (B, width, S/stride, S/stride)
    y = bn3(conv3(y));                                     // (B, 4 width, S/stride, S/stride)
    return torch::relu(y + (down->is_empty() ? x : down->forward(x)));
  }
  Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  Conv2d conv2{nullptr};
  BatchNorm2d bn2{nullptr};
  Conv2d conv3{nullptr};
  BatchNorm2d bn3{nullptr};
  torch::nn::Sequential down{nullptr};
};
TORCH_MODULE(Bottleneck);

// A stage: `blocks` blocks of `width`, the first with `stride`; in becomes its output width.
template <typename Block>
torch::nn::Sequential stage(int64_t& in, int64_t width, int64_t blocks, int64_t stride) {
  torch::nn::Sequential s;
  for (int64_t i = 0; i < blocks; ++i) {
    s->push_back(Block(in, width, i == 0 ? stride : 1));
    in = width * Block::ContainedType::kExpansion;
  }
  return s;
}

template <typename Block>
void build_stages(ResNet& m, const std::array<int64_t, 4>& blocks) {
  int64_t in = 64;
  m.layer1 = m.register_module("layer1", stage<Block>(in, 64, blocks[0], 1));
  m.layer2 = m.register_module("layer2", stage<Block>(in, 128, blocks[1], 2));
  m.layer3 = m.register_module("layer3", stage<Block>(in, 256, blocks[2], 2));
  m.layer4 = m.register_module("layer4", stage<Block>(in, 512, blocks[3], 2));
}

// The stems: first conv's kernel and stride, and whether a max-pool follows.
struct Stem {
  const char* name;
  int64_t kernel, stride;
  bool maxpool;
};

constexpr Stem kStems[] = {
    {"cifar", 3, 1, false},
    {"imagenet", 7, 2, true},
};

// The named sizes: blocks per stage and which block builds them.
struct ResNetSize {
  const char* name;
  std::array<int64_t, 4> blocks;
  bool bottleneck;
};

constexpr ResNetSize kSizes[] = {
    {"resnet18", {2, 2, 2, 2}, false},
    {"resnet50", {3, 4, 6, 3}, true},
};

}  // namespace

ResNet::ResNet(const ModelSettings& s) : input_size(s.input_size) {
  const auto& size = lookup(kSizes, s.name, "model", "ResNet size");
  const auto& stem = lookup(kStems, s.stem, "model", "ResNet stem");
  KNLP_CHECK_INPUT(s.in_channels >= 1 && s.num_classes >= 2, "model " + s.name,
                   "needs at least 1 input channel and 2 classes, got {} and {}", s.in_channels,
                   s.num_classes);
  maxpool = stem.maxpool;
  conv1 = register_module("conv1", conv(s.in_channels, 64, stem.kernel, stem.stride));
  bn1 = register_module("bn1", BatchNorm2d(64));
  if (size.bottleneck)
    build_stages<Bottleneck>(*this, size.blocks);
  else
    build_stages<BasicBlock>(*this, size.blocks);
  const int64_t features = 512 * (size.bottleneck ? BottleneckImpl::kExpansion : 1);
  fc = register_module("fc", torch::nn::Linear(features, s.num_classes));
  // Kaiming-normal (fan_out, relu) convolutions; BN starts at gamma 1, beta 0;
  // fc keeps LibTorch's default initialisation.
  for (auto& m : modules(/*include_self=*/false))
    if (auto* c = m->as<torch::nn::Conv2d>())
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  spdlog::debug("{} ({} stem): {} parameters", s.name, s.stem, num_params());
}

ModelOutput ResNet::forward(const Batch& batch) {
  auto x = batch.input;                                              // (B, C, S, S)
  if (input_size > 0 && x.size(-1) != input_size)
    x = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{input_size, input_size})
               .mode(torch::kBilinear)
               .align_corners(false));                               // (B, C, S', S')
  x = torch::relu(bn1(conv1(x)));                                    // (B, 64, S/r, S/r), r = stride
  if (maxpool) x = torch::max_pool2d(x, 3, 2, 1);                    // (B, 64, S/4, S/4)
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));  // (B, F, S/8, S/8)
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);              // (B, F)
  ModelOutput out{fc(x), {}};                                        // (B, classes)
  if (batch.target.defined()) out.loss = cross_entropy(out.logits, batch.target);
  return out;
}

}  // namespace knlp
