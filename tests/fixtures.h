// tests/fixtures.h - tiny data sets and configs that tests write for themselves.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "config/config.h"

namespace knlp::test {

// A fresh empty folder under the system temp dir, removed by the caller's choice.
std::filesystem::path temp_dir(const std::string& tag);

// Writes MNIST-format idx files (gzipped) into dir/<name>: n_train/n_test 28x28
// images whose class k is a bright 6x6 square at a position set by k, plus noise,
// so a small network can learn it in a few steps.
void write_tiny_mnist(const std::filesystem::path& dir, int64_t n_train, int64_t n_test,
                      const std::string& name = "mnist");

// The .config of a LeNet-5 run on the tiny MNIST in data_dir, results in out_dir.
Config tiny_lenet5_config(const std::filesystem::path& data_dir,
                          const std::filesystem::path& out_dir, int epochs);

// The GPT-2 vocabulary beside the tree ($KNLP_SOURCE_DIR/../shared/data/gpt2, set by
// ctest), or an empty path when it is not there (tests then GTEST_SKIP).
std::filesystem::path shared_gpt2_vocab();
// Writes a GPT-2 token dataset into dir/<name>: train.bin and val.bin (nanoGPT
// format) of a sequence that cycles through `period` distinct ids below `vocab`
// in a fixed shuffled order, so each id determines the next; plus manifest.json
// naming the "byte" tokenizer.
void write_cyclic_tokens(const std::filesystem::path& dir, int64_t n_train, int64_t n_val,
                         int64_t period, int64_t vocab, const std::string& name = "tiny");

// The .config of a tiny custom GPT-2 (2 layers, 2 heads, 32 wide, block 16, vocab
// 64, byte tokenizer) on dir/tiny, results in out_dir: max_iters steps of batch 4,
// evaluation every 5 steps on 4 batches, logging every step.
Config tiny_gpt2_config(const std::filesystem::path& data_dir,
                        const std::filesystem::path& out_dir, int max_iters);

}  // namespace knlp::test
