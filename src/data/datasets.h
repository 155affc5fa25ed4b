// data/datasets.h - private to data/: the table row of an image dataset and the
// split loaders of each file format (idx in images.cpp, CIFAR in cifar.cpp).
#pragma once

#include <array>

#include "data/data.h"

namespace knlp {

// The files of one split, in order; unused entries are nullptr.
using SplitFiles = std::array<const char*, 5>;

struct ImageDataset;
using LoadSplitFn = ImageSet (*)(const std::filesystem::path& dir, const SplitFiles& files,
                                 const ImageDataset& d);

struct ImageDataset {
  const char* name;
  const char* folder;              // its folder under DATA_DIR
  const char* system_dir;          // where a Debian package installs it, or "" if none
  std::array<double, 3> mean, std;  // per-channel normalisation of pixel/255
  LoadSplitFn load_split;
  SplitFiles train, test;
  int label_bytes;                 // CIFAR: bytes before each image; the class is the last
  ImageShape shape;                // as the model sees it (28x28 images are padded to 32x32)
};

// idx images (N, 28, 28) and labels -> (N, 1, 32, 32) normalised floats (images.cpp).
ImageSet load_idx_split(const std::filesystem::path& dir, const SplitFiles& files,
                        const ImageDataset& d);

// CIFAR binary records -> (N, 3, 32, 32) normalised floats (cifar.cpp).
ImageSet load_cifar_split(const std::filesystem::path& dir, const SplitFiles& files,
                          const ImageDataset& d);

// (N, C, S, S) uint8 pixels -> floats scaled to [0, 1] and normalised per channel.
torch::Tensor normalise(const torch::Tensor& pixels, const ImageDataset& d);

}  // namespace knlp
