// data/cifar.cpp - the binary versions of CIFAR-10 and CIFAR-100.
//
// A file is a run of records: the label byte(s) (CIFAR-10: the class;
// CIFAR-100: the coarse class, then the fine class, which we train on),
// then 3072 pixel bytes: the 32x32 red plane, then green, then blue, each
// row by row. CIFAR-10 splits training into data_batch_1..5.bin.
#include <fstream>
#include <iterator>

#include "data/datasets.h"
#include "util/check.h"

namespace knlp {

namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

std::string read_bytes(const std::filesystem::path& path) {
  KNLP_CHECK_INPUT(std::filesystem::exists(path), path.string(),
                   "no such file; download the CIFAR binary version and unpack it into "
                   "CONFIG_DATA_DIR");
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

ImageSet load_cifar_split(const std::filesystem::path& dir, const SplitFiles& files,
                          const ImageDataset& d) {
  const int64_t record = d.label_bytes + kPixels;
  std::vector<torch::Tensor> images, labels;
  for (const char* name : files) {
    if (!name) continue;
    const auto path = dir / name;
    const std::string bytes = read_bytes(path);
    const auto size = static_cast<int64_t>(bytes.size());
    KNLP_CHECK_INPUT(size > 0 && size % record == 0, path.string(),
                     "{} bytes is not a whole number of {}-byte records ({} label byte(s) + "
                     "3072 pixels); the file is truncated or not {}",
                     size, record, d.label_bytes, d.name);
    auto rows = torch::from_blob(const_cast<char*>(bytes.data()), {size / record, record},
                                 torch::kUInt8)
                    .clone();                                               // (n, record)
    labels.push_back(rows.select(1, d.label_bytes - 1).to(torch::kInt64));  // (n)
    images.push_back(rows.narrow(1, d.label_bytes, kPixels).reshape({-1, 3, 32, 32}));
  }
  return {normalise(torch::cat(images), d).contiguous(), torch::cat(labels)};
}

}  // namespace knlp
