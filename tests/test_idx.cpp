// idx reader: round trips (raw and gzip) and every kind of broken file.
#include <gtest/gtest.h>

#include <fstream>

#include "data/data.h"
#include "fixtures.h"
#include "util/check.h"
#include "util/fs.h"

namespace {

std::string error_of(const std::filesystem::path& p) {
  try {
    knlp::read_idx(p);
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "";
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

}  // namespace

TEST(Idx, RoundTripsRawAndGzipped) {
  auto dir = knlp::test::temp_dir("idx");
  auto t = torch::arange(0, 2 * 3 * 4, torch::kLong).remainder(256).to(torch::kUInt8).reshape({2, 3, 4});
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    knlp::write_idx(dir / name, t);
    auto back = knlp::read_idx(dir / name);
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  // The raw file is exactly header + data: 4 + 3*4 + 24 bytes, big-endian dims.
  EXPECT_EQ(std::filesystem::file_size(dir / "a-idx3-ubyte"), 4u + 12u + 24u);
  std::filesystem::remove_all(dir);
}

TEST(Idx, TruncatedAndForeignFilesAreClearErrors) {
  auto dir = knlp::test::temp_dir("idx-bad");
  knlp::write_idx(dir / "l", torch::ones({10}, torch::kUInt8));
  auto bytes = knlp::read_file(dir / "l");
  write_bytes(dir / "short", bytes.substr(0, bytes.size() - 3));
  EXPECT_NE(error_of(dir / "short")
                .find((dir / "short").string() +
                      ": truncated: header announces 10 bytes of data, file holds 7"),
            std::string::npos);
  write_bytes(dir / "png", "\x89PNG\r\n\x1a\n");
  EXPECT_NE(error_of(dir / "png").find("not an idx file of unsigned bytes (magic 89504e47)"),
            std::string::npos);
  write_bytes(dir / "hdr", std::string("\0\0\x08\x03\0\0", 6));
  EXPECT_NE(error_of(dir / "hdr").find("truncated header: 6 of 16 bytes"), std::string::npos);
  EXPECT_NE(error_of(dir / "missing").find((dir / "missing").string() + ": no such file"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Idx, LoadsAPaddedNormalisedImageSet) {
  auto dir = knlp::test::temp_dir("idx-set");
  knlp::test::write_tiny_mnist(dir, 20, 10);
  knlp::DataSettings s;
  s.dataset = "mnist";
  s.dir = dir;
  auto data = knlp::load_images(s);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<int64_t>{20, 1, 32, 32}));
  EXPECT_EQ(data.test.labels.sizes(), (std::vector<int64_t>{10}));
  // The 2-pixel border is padding: pixel 0, normalised as (0 - mean) / std.
  EXPECT_NEAR(data.train.images[0][0][0][0].item<double>(), -0.1307 / 0.3081, 1e-6);
  s.dataset = "imagenet";
  EXPECT_THROW(knlp::load_images(s), knlp::Error);
  std::filesystem::remove_all(dir);
}
