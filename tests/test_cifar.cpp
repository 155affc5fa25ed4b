// CIFAR-10/100 binary loaders on tiny files the tests write, and the crop's padding.
#include <gtest/gtest.h>

#include "data/data.h"
#include "fixtures.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

std::string error_of(const knlp::DataSettings& s) {
  try {
    knlp::load_images(s);
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "no error";
}

// (v / 255 - mean) / std, as the loader normalises pixel value v of a channel.
double normalised(int v, double mean, double std) { return (v / 255.0 - mean) / std; }

}  // namespace

TEST(Cifar, Cifar10ReadsFiveTrainingFilesAndTheTestFile) {
  auto dir = knlp::test::temp_dir("cifar10");
  knlp::test::write_tiny_cifar(dir, 10, 3, 4);
  knlp::DataSettings s;
  s.dataset = "cifar10";
  s.dir = dir;
  auto data = knlp::load_images(s);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));  // 5 files x 3
  EXPECT_EQ(data.test.images.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_EQ(data.num_classes, 10);
  EXPECT_EQ(data.channels, 3);
  // Record 2 of each file: label (7*2 + 3) % 10 = 7; planes 2, 4, 253.
  EXPECT_EQ(data.train.labels[5].item<int64_t>(), 7);
  EXPECT_EQ(data.test.labels[3].item<int64_t>(), 4);  // (7*3 + 3) % 10
  auto img = data.train.images[5];
  EXPECT_NEAR(img[0][0][0].item<double>(), normalised(2, 0.4914, 0.2023), 1e-5);
  EXPECT_NEAR(img[1][31][31].item<double>(), normalised(4, 0.4822, 0.1994), 1e-5);
  EXPECT_NEAR(img[2][17][3].item<double>(), normalised(253, 0.4465, 0.2010), 1e-5);
  // The crop pads with black, normalised per channel.
  EXPECT_NEAR(data.pad_value[2].item<double>(), normalised(0, 0.4465, 0.2010), 1e-5);
  std::filesystem::remove_all(dir);
}

TEST(Cifar, Cifar100TrainsOnTheFineLabel) {
  auto dir = knlp::test::temp_dir("cifar100");
  knlp::test::write_tiny_cifar(dir, 100, 20, 2);
  knlp::DataSettings s;
  s.dataset = "cifar100";
  s.dir = dir;
  auto data = knlp::load_images(s);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<int64_t>{20, 3, 32, 32}));
  EXPECT_EQ(data.num_classes, 100);
  // Record 19: fine (7*19 + 3) % 100 = 36 (its coarse byte is 7).
  EXPECT_EQ(data.train.labels[19].item<int64_t>(), 36);
  EXPECT_NEAR(data.train.images[19][0][5][5].item<double>(), normalised(19, 0.5071, 0.2675),
              1e-5);
  std::filesystem::remove_all(dir);
}

TEST(Cifar, ATruncatedOrMissingFileIsAClearError) {
  auto dir = knlp::test::temp_dir("cifar-bad");
  knlp::test::write_tiny_cifar(dir, 10, 2, 2);
  const auto test_file = dir / "cifar-10-batches-bin" / "test_batch.bin";
  auto bytes = knlp::read_file(test_file);
  knlp::write_file_atomic(test_file, bytes.substr(0, bytes.size() - 1));
  knlp::DataSettings s;
  s.dataset = "cifar10";
  s.dir = dir;
  auto err = error_of(s);
  EXPECT_NE(err.find(test_file.string() + ": "), std::string::npos) << err;
  EXPECT_NE(err.find("6145 bytes is not a whole number of 3073-byte records"), std::string::npos)
      << err;
  std::filesystem::remove(dir / "cifar-10-batches-bin" / "data_batch_4.bin");
  err = error_of(s);
  EXPECT_NE(err.find("data_batch_4.bin: no such file"), std::string::npos) << err;
  std::filesystem::remove_all(dir);
}

TEST(Cifar, CropPadsWithTheFillValue) {
  auto images = torch::full({64, 2, 4, 4}, 5.0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto out = knlp::augment_batch(images, gen, torch::tensor({-1.0, -2.0}));
  EXPECT_EQ(out.sizes(), images.sizes());
  auto c0 = out.select(1, 0), c1 = out.select(1, 1);
  // Every pixel is the image's or its channel's fill; 64 random crops of a 4x4 image
  // with 4 pixels of padding include some padding.
  EXPECT_TRUE((c0.eq(5) | c0.eq(-1)).all().item<bool>());
  EXPECT_TRUE((c1.eq(5) | c1.eq(-2)).all().item<bool>());
  EXPECT_TRUE(c0.eq(-1).any().item<bool>());
}
