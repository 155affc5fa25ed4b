// tests/fixtures.h - tiny data sets and configs that tests write for themselves.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "models/models.h"
#include "train/train.h"

namespace knlp::test {

// A fresh empty folder under the system temp dir, removed by the caller's choice.
std::filesystem::path temp_dir(const std::string& tag);

// Writes MNIST-format idx files (gzipped) into dir/<name>: n_train/n_test 28x28
// images whose class k is a bright 6x6 square at a position set by k, plus noise,
// so a small network can learn it in a few steps.
void write_tiny_mnist(const std::filesystem::path& dir, int64_t n_train, int64_t n_test,
                      const std::string& name = "mnist");

// Writes CIFAR binary files into dir/cifar-10-batches-bin (classes 10: five training
// files of n_train records each, one test file of n_test) or dir/cifar-100-binary
// (classes 100: train.bin, test.bin, two label bytes: coarse = fine / 5, then fine).
// Record i has label (7 i + 3) % classes and red, green, blue planes filled with
// i, 2 i, 255 - i.
void write_tiny_cifar(const std::filesystem::path& dir, int classes, int64_t n_train,
                      int64_t n_test);

// Options of a run into `dir` with no progress bar and no plot.
RunOptions quiet(const std::filesystem::path& dir);

// The metrics.json of the run in dir.
nlohmann::json metrics_of(const std::filesystem::path& dir);
// Metrics points without what depends on the clock (time_s, *_per_s, mfu): what
// a resumed run must reproduce bit for bit.
nlohmann::json untimed(nlohmann::json points);

// The model of cfg with the weights of the run's last checkpoint.
std::shared_ptr<Model> last_checkpoint_model(const Config& cfg, const std::filesystem::path& run);

// The .config of a LeNet-5 run on the tiny MNIST in data_dir, results in out_dir:
// 40 training images held out for validation, batch 32 (200 images: 5 steps
// per epoch).
Config tiny_lenet5_config(const std::filesystem::path& data_dir,
                          const std::filesystem::path& out_dir, int epochs);

// The GPT-2 vocabulary beside the tree (<source>/../shared/data/gpt2; $KNLP_SOURCE_DIR
// overrides the source dir), or an empty path when it is not there (tests then skip).
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
