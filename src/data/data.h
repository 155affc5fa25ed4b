// data/data.h - datasets as tensors: idx (MNIST, Fashion-MNIST) and CIFAR-10/100
// binary image sets.
//
// An image set is loaded whole into memory as normalised float tensors; the
// trainer draws batches from it by index. A missing, truncated or foreign
// file stops the run with one line naming the file and what was expected.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "config/config.h"  // DataSettings

namespace knlp {

struct ImageSet {
  torch::Tensor images;  // (N, C, S, S) float32, normalised
  torch::Tensor labels;  // (N) int64
  int64_t size() const { return labels.size(0); }
};

struct ImageData {
  std::string name;  // "fashion-mnist"
  ImageSet train, test;
  int64_t num_classes = 10, channels = 1, image_size = 32;
  bool augment = false;  // random crop + horizontal flip while training
  torch::Tensor pad_value;  // (C) a black pixel, normalised: what the crop pads with
};

// Reads an idx file (raw or gzipped) into a uint8 tensor shaped as its header says.
// Throws Error (exit 2) for a missing file, a wrong magic number or truncated data.
torch::Tensor read_idx(const std::filesystem::path& path);

// Writes a uint8 tensor as an idx file, gzipped when the name ends in .gz (tests, tools).
void write_idx(const std::filesystem::path& path, const torch::Tensor& data);

// Loads the dataset the settings name, from settings.dir/<name> or its system folder.
// Throws Error (exit 2) listing the known datasets for an unknown name.
ImageData load_images(const DataSettings& settings);

// The folder load_images() reads `name` from: dir/<name> if it exists, else the
// system folder a Debian package installs it in, else dir/<name>.
std::filesystem::path dataset_dir(const DataSettings& settings);

// What a model needs to know of a dataset before loading it.
struct ImageShape {
  int64_t channels, num_classes, image_size;
};
ImageShape image_shape(const DataSettings& settings);

// Random 4-pixel-padded crop and horizontal flip of a batch, drawn from gen. The
// padding is `fill` per channel (ImageData::pad_value), 0 when undefined.
torch::Tensor augment_batch(const torch::Tensor& images, torch::Generator& gen,
                            const torch::Tensor& fill = {});

}  // namespace knlp
