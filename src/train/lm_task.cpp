// train/lm_task.cpp - language modelling: windows of a token file, cross-entropy,
// perplexity (GPT-2).
//
// Micro-batch k of step s is batch_size random windows drawn from (seed, s, k);
// the validation loss is the mean of eval_samples batches of windows drawn
// from one fixed generator, the same at every evaluation. The unigram
// cross-entropy of the validation tokens is the baseline a model must beat.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "data/data.h"
#include "train/task.h"
#include "util/check.h"

namespace knlp {

namespace {

double perplexity(double loss) { return std::exp(std::min(loss, 20.0)); }

// FLOP/s of a square matrix multiply on device: the peak MFU is measured against.
double matmul_peak_flops(torch::Device device, bool bf16) {
  torch::NoGradGuard no_grad;
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const int reps = device.is_cuda() ? 20 : 5;
  auto opts = torch::TensorOptions().device(device).dtype(bf16 ? torch::kBFloat16 : torch::kFloat);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);  // leaves the global RNG alone
  auto a = torch::randn({n, n}, gen).to(opts), b = torch::randn({n, n}, gen).to(opts);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int i = 0; i < 2; ++i) torch::mm(a, b);
  sync();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) torch::mm(a, b);
  sync();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * static_cast<double>(n * n * n) * reps / s;
}

// Checks every token id of f is below the model's vocabulary.
void check_ids(const TokenFile& f, int64_t vocab) {
  const auto largest = static_cast<int64_t>(f.counts().size()) - 1;
  KNLP_CHECK_INPUT(largest < vocab, f.path().string(),
                   "holds token id {}, past the model's vocabulary of {} "
                   "(CONFIG_GPT2_VOCAB_SIZE)",
                   largest, vocab);
}

class LmTask : public Task {
 public:
  LmTask(RunSettings& s, torch::Device device)
      : device_(device),
        seed_(s.train.seed),
        data_(load_tokens(s.data)),
        settings_(s.lm),
        batch_(s.train.batch_size),
        block_(s.model.gpt2.block_size),
        accumulation_(s.train.gradient_accumulation),
        amp_(device.is_cuda() && !s.train.amp_dtype.empty()) {
    KNLP_CHECK_INPUT(data_.tokenizer.empty() || data_.tokenizer == s.tokenizer.name,
                     (s.data.tokens / "manifest.json").string(),
                     "the data was tokenized with {}, the .config says CONFIG_GPT2_TOKENIZER "
                     "\"{}\"; prepare the data again or choose {}",
                     data_.tokenizer, s.tokenizer.name, data_.tokenizer);
    if (!settings_.init_from.empty()) {
      // A file of the unpadded vocabulary (OpenAI's 50257) sets the model's.
      const auto file = weights_shape(settings_.init_from, s.model.gpt2);
      if (file.vocab_size != s.model.gpt2.vocab_size)
        spdlog::warn("vocabulary {} from {} instead of CONFIG_GPT2_VOCAB_SIZE {}",
                     file.vocab_size, settings_.init_from.string(), s.model.gpt2.vocab_size);
      s.model.gpt2.vocab_size = file.vocab_size;
    }
    shape_ = gpt2_shape(s.model.gpt2);
    tokenizer_ = s.tokenizer.name;
    if (device.is_cuda()) at::globalContext().setAllowTF32CuBLAS(settings_.tf32);
  }

  std::string metric() const override { return "perplexity"; }
  bool higher_is_better() const override { return false; }
  std::string unit() const override { return "tokens"; }
  int64_t samples_per_micro_batch() const override { return batch_ * block_; }
  int64_t eval_interval() const override { return settings_.eval_interval; }

  Batch train_batch(int64_t step, int64_t micro) override {
    auto gen = stream_generator(seed_, kTrainWindows,
                                static_cast<uint64_t>(step * accumulation_ + micro));
    auto [x, y] = data_.train.sample(batch_, block_, gen);
    return {x.to(device_), y.to(device_)};
  }
  double train_metric_sum(const ModelOutput& out, const Batch& batch) override {
    (void)out;
    (void)batch;
    return 0;  // perplexity follows from the loss
  }
  double metric_of(double mean_loss, double sum, int64_t samples) const override {
    (void)sum;
    (void)samples;
    return perplexity(mean_loss);
  }

  Evaluation validate(Model& model) override {
    torch::NoGradGuard no_grad;
    model.eval();
    auto gen = stream_generator(seed_, kEvalWindows, 0);
    auto sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
    for (int64_t i = 0; i < settings_.eval_samples; ++i) {
      auto [x, y] = data_.val.sample(batch_, block_, gen);
      Autocast autocast(amp_);
      sum += model.forward({x.to(device_), y.to(device_)}).loss.to(torch::kDouble);
    }
    model.train();
    const double loss = sum.item<double>() / static_cast<double>(settings_.eval_samples);
    return {loss, perplexity(loss)};
  }

  void describe(Model& model, nlohmann::json& metrics) override {
    auto& lm = dynamic_cast<LanguageModel&>(model);
    const int64_t vocab = lm.vocab_size();
    check_ids(data_.train, vocab);
    check_ids(data_.val, vocab);
    const double unigram = unigram_cross_entropy(data_.train, data_.val, vocab);
    flops_per_token_ = lm.flops_per_token();
    peak_ = matmul_peak_flops(device_, amp_);
    spdlog::info("gpt2 {} ({} layers, {} heads, {} wide, block {}, vocab {}): {} parameters",
                 shape_.size, shape_.n_layer, shape_.n_head, shape_.n_embd, block_, vocab,
                 model.num_params());
    spdlog::info("data {}: {} train / {} val tokens ({})", data_.name, data_.train.size(),
                 data_.val.size(), tokenizer_);
    spdlog::info("unigram baseline: val loss {:.4f} (perplexity {:.1f}); matmul peak {:.1f} "
                 "GFLOP/s",
                 unigram, perplexity(unigram), peak_ / 1e9);
    metrics["dataset"] = data_.name;
    metrics["lm"] = {{"size", shape_.size},
                     {"n_layer", shape_.n_layer},
                     {"n_head", shape_.n_head},
                     {"n_embd", shape_.n_embd},
                     {"block_size", block_},
                     {"vocab_size", vocab},
                     {"attention", shape_.attention},
                     {"tokenizer", tokenizer_},
                     {"batch_size", batch_},
                     {"gradient_accumulation", accumulation_},
                     {"tokens_per_step", batch_ * accumulation_ * block_},
                     {"train_tokens", data_.train.size()},
                     {"val_tokens", data_.val.size()},
                     {"unigram_val_loss", unigram},
                     {"unigram_val_perplexity", perplexity(unigram)},
                     {"flops_per_token", flops_per_token_},
                     {"peak_flops", peak_},
                     {"amp", amp_ ? "bfloat16" : "none"}};
  }

  void initialize(Model& model) override {
    if (!settings_.init_from.empty())
      load_weights(dynamic_cast<LanguageModel&>(model), settings_.init_from);
  }

  nlohmann::json rate_fields(double tokens_per_s) const override {
    return {{"mfu", flops_per_token_ * tokens_per_s / peak_}};
  }

 private:
  torch::Device device_;
  uint64_t seed_;
  TokenData data_;
  LmSettings settings_;
  int64_t batch_, block_, accumulation_;
  bool amp_;
  Gpt2Settings shape_;
  std::string tokenizer_;
  double flops_per_token_ = 0, peak_ = 0;
};

}  // namespace

std::unique_ptr<Task> make_lm_task(RunSettings& settings, torch::Device device) {
  return std::make_unique<LmTask>(settings, device);
}

DryRunInput lm_dry_run(const RunSettings& settings, int64_t batch_size) {
  const auto& g = settings.model.gpt2;
  const int64_t T = std::min<int64_t>(g.block_size, 16);
  auto x = torch::randint(0, g.vocab_size, {batch_size, T}, torch::kLong);  // (B, T)
  auto y = torch::randint(0, g.vocab_size, {batch_size, T}, torch::kLong);  // (B, T)
  return {settings.model, {x, y}, static_cast<double>(g.block_size) / static_cast<double>(T)};
}

}  // namespace knlp
