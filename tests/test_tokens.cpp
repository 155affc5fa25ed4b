// Token files: nanoGPT and llm.c formats, random windows, errors, the unigram baseline.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <fstream>

#include "data/data.h"
#include "fixtures.h"
#include "util/check.h"

namespace {

// Token i is i % 5000 (llm.c's test_dataloader idea: every value is its position).
std::vector<int32_t> positions(int64_t n) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(i % 5000));
  return ids;
}

// An llm.c file: 256 int32 of header (magic, version, count) then uint16 tokens.
void write_llmc(const std::filesystem::path& path, const std::vector<int32_t>& ids,
                int32_t count) {
  std::vector<int32_t> header(256, 0);
  header[0] = 20240520;
  header[1] = 1;
  header[2] = count;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), 1024);
  for (int32_t id : ids) {
    const auto v = static_cast<uint16_t>(id);
    out.write(reinterpret_cast<const char*>(&v), 2);
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const knlp::Error& e) {
    return e.line();
  }
  return "";
}

class Tokens : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = knlp::test::temp_dir("tokens"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

}  // namespace

TEST_F(Tokens, WindowsAreContiguousAndTargetsShiftedByOne) {
  knlp::write_token_file(dir_ / "train.bin", positions(3000));
  knlp::TokenFile f(dir_ / "train.bin");
  ASSERT_EQ(f.size(), 3000);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto [x, y] = f.sample(8, 32, gen);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{8, 32}));
  for (int64_t b = 0; b < 8; ++b) {
    const int64_t start = x[b][0].item<int64_t>();
    EXPECT_LE(start + 32, 2999);  // y's last token is inside the file
    EXPECT_TRUE(x[b].equal(torch::arange(start, start + 32, torch::kLong)));
    EXPECT_TRUE(y[b].equal(torch::arange(start + 1, start + 33, torch::kLong)));
  }
  // The same generator state draws the same windows.
  auto again = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_TRUE(f.sample(8, 32, again).first.equal(x));
  EXPECT_TRUE(f.slice(10, 3).equal(torch::tensor({10, 11, 12}, torch::kLong)));
}

TEST_F(Tokens, ReadsLlmcFilesAndRejectsBadOnes) {
  write_llmc(dir_ / "ok.bin", positions(100), 100);
  knlp::TokenFile f(dir_ / "ok.bin");
  EXPECT_EQ(f.size(), 100);
  EXPECT_EQ(f.at(0), 0);
  EXPECT_EQ(f.at(99), 99);

  write_llmc(dir_ / "short.bin", positions(50), 100);
  EXPECT_NE(error_of([&] { knlp::TokenFile(dir_ / "short.bin"); }).find("truncated"),
            std::string::npos);
  std::ofstream(dir_ / "odd.bin") << "abc";
  EXPECT_NE(error_of([&] { knlp::TokenFile(dir_ / "odd.bin"); }).find("whole number"),
            std::string::npos);
  EXPECT_NE(error_of([&] { knlp::TokenFile(dir_ / "none.bin"); }).find("cannot open"),
            std::string::npos);
  knlp::write_token_file(dir_ / "tiny.bin", positions(10));
  knlp::TokenFile tiny(dir_ / "tiny.bin");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_NE(error_of([&] { tiny.sample(1, 16, gen); }).find("GPT2_BLOCK_SIZE"), std::string::npos);
}

TEST_F(Tokens, MissingDatasetNamesTheFilesAndTheCommand) {
  knlp::DataSettings s;
  s.dataset = "kernel-docs";
  s.tokens = dir_ / "kernel-docs";
  const auto msg = error_of([&] { knlp::load_tokens(s); });
  EXPECT_NE(msg.find("kernel-docs/train.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("make data-kernel-docs"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);  // one line
  s.dataset = "finewebedu";
  EXPECT_NE(error_of([&] { knlp::load_tokens(s); }).find("knlp data prepare"), std::string::npos);
}

TEST_F(Tokens, UnigramBaselineWorkedByHand) {
  // train 0 0 1 1 with add-one smoothing over 4 ids: p(0) = 3/8, p(2) = 1/8.
  knlp::write_token_file(dir_ / "train.bin", {0, 0, 1, 1});
  knlp::write_token_file(dir_ / "val.bin", {0, 2});
  const double h = knlp::unigram_cross_entropy(knlp::TokenFile(dir_ / "train.bin"),
                                               knlp::TokenFile(dir_ / "val.bin"), 4);
  EXPECT_NEAR(h, -(std::log(3.0 / 8) + std::log(1.0 / 8)) / 2, 1e-12);
}
