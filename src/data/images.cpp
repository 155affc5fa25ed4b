// data/images.cpp - the image datasets knlp knows, as a table.
#include <fmt/format.h>

#include "data/datasets.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

constexpr ImageDataset kImageDatasets[] = {
    {"fashion-mnist", "fashion-mnist", "/usr/share/datasets/fashion-mnist", {0.2860, 0, 0},
     {0.3530, 1, 1}, load_idx_split,
     {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
     {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}, 0, {1, 10, 32, 60000}},
    {"mnist", "mnist", "", {0.1307, 0, 0}, {0.3081, 1, 1}, load_idx_split,
     {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
     {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}, 0, {1, 10, 32, 60000}},
    {"cifar10", "cifar-10-batches-bin", "", {0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010},
     load_cifar_split,
     {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
      "data_batch_5.bin"},
     {"test_batch.bin"}, 1, {3, 10, 32, 50000}},
    {"cifar100", "cifar-100-binary", "", {0.5071, 0.4867, 0.4408}, {0.2675, 0.2565, 0.2761},
     load_cifar_split, {"train.bin"}, {"test.bin"}, 2, {3, 100, 32, 50000}},
};

const ImageDataset& find_dataset(const std::string& name) {
  return lookup(kImageDatasets, name, "dataset", "name");
}

std::filesystem::path find_file(const std::filesystem::path& dir, const char* stem) {
  for (const char* ext : {"", ".gz"}) {
    auto p = dir / (std::string(stem) + ext);
    if (std::filesystem::exists(p)) return p;
  }
  raise_at(dir.string(), stem,
           "missing idx file (raw or .gz); install Debian's dataset-fashion-mnist for "
           "Fashion-MNIST, or copy the four idx files there and set CONFIG_DATA_DIR");
}

}  // namespace

torch::Tensor normalise(const torch::Tensor& pixels, const ImageDataset& d) {
  const int64_t c = pixels.size(1);
  auto mean = torch::tensor(std::vector<double>(d.mean.begin(), d.mean.begin() + c),
                            torch::kFloat32).view({1, c, 1, 1});  // (1, C, 1, 1)
  auto std = torch::tensor(std::vector<double>(d.std.begin(), d.std.begin() + c),
                           torch::kFloat32).view({1, c, 1, 1});   // (1, C, 1, 1)
  return (pixels.to(torch::kFloat32).div_(255.0) - mean).div_(std);  // (N, C, S, S)
}

// 28x28 bytes -> (N, 1, 32, 32) floats: zero-padded by 2, scaled to [0,1], normalised.
ImageSet load_idx_split(const std::filesystem::path& dir, const SplitFiles& files,
                        const ImageDataset& d) {
  const auto images_path = find_file(dir, files[0]).string();
  auto images = read_idx(images_path);
  auto labels = read_idx(find_file(dir, files[1]));
  KNLP_CHECK_INPUT(images.dim() == 3, images_path, "expected N x rows x cols images, got {} dims",
                   images.dim());
  KNLP_CHECK_INPUT(labels.dim() == 1 && labels.size(0) == images.size(0), images_path,
                   "{} images but {} labels", images.size(0), labels.numel());
  int64_t pad = (32 - images.size(2)) / 2;
  auto x = images.unsqueeze(1);                                            // (N, 1, 28, 28)
  if (pad > 0) x = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0);     // (N, 1, 32, 32)
  return {normalise(x, d).contiguous(), labels.to(torch::kInt64)};
}

ImageShape image_shape(const DataSettings& settings) {
  return find_dataset(settings.dataset).shape;
}

std::filesystem::path dataset_dir(const DataSettings& settings) {
  const auto& d = find_dataset(settings.dataset);
  auto local = settings.dir / d.folder;
  if (std::filesystem::exists(local) || !*d.system_dir) return local;
  return d.system_dir;
}

ImageData load_images(const DataSettings& settings) {
  const auto& d = find_dataset(settings.dataset);
  const auto dir = dataset_dir(settings);
  ImageData data;
  data.name = d.name;
  data.train = d.load_split(dir, d.train, d);
  data.test = d.load_split(dir, d.test, d);
  data.num_classes = d.shape.num_classes;
  data.channels = d.shape.channels;
  data.image_size = d.shape.image_size;
  int64_t max_label = std::max(data.train.labels.max().item<int64_t>(),
                               data.test.labels.max().item<int64_t>());
  KNLP_CHECK_INPUT(max_label < data.num_classes, dir.string(),
                   "label {} found; {} has {} classes", max_label, d.name, data.num_classes);
  KNLP_CHECK_INPUT(data.train.images.size(1) == data.channels &&
                       data.train.images.size(2) == data.image_size,
                   dir.string(), "images are {}x{}x{}, {} expects {}x{}x{}",
                   data.train.images.size(1), data.train.images.size(2),
                   data.train.images.size(3), d.name, data.channels, data.image_size,
                   data.image_size);
  data.augment = settings.augment;
  data.pad_value = normalise(torch::zeros({1, data.channels, 1, 1}, torch::kUInt8), d).flatten();
  return data;
}

torch::Tensor augment_batch(const torch::Tensor& images, torch::Generator& gen,
                            const torch::Tensor& fill) {
  const int64_t n = images.size(0), s = images.size(2);
  auto f = fill.defined() ? fill.view({1, -1, 1, 1}) : torch::zeros({1, 1, 1, 1});  // (1, C, 1, 1)
  auto padded = torch::constant_pad_nd(images - f, {4, 4, 4, 4}, 0.0) + f;  // (N, C, S+8, S+8)
  auto offsets = torch::randint(0, 9, {n, 2}, gen, torch::kLong);
  auto flips = torch::randint(0, 2, {n}, gen, torch::kLong);
  auto out = torch::empty_like(images);
  auto off = offsets.accessor<int64_t, 2>();
  auto flip = flips.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    auto crop = padded[i].narrow(1, off[i][0], s).narrow(2, off[i][1], s);  // (C, S, S)
    out[i].copy_(flip[i] ? crop.flip({2}) : crop);
  }
  return out;
}

}  // namespace knlp
