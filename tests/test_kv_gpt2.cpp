// The quantized KV cache under GPT-2's decode: generation through the fused
// kernel equals the unfused reference token for token, and perplexity
// through the cache equals the full forward pass where nothing is lost.
#include <gtest/gtest.h>

#include <cstdio>

#include "fixtures.h"
#include "models/models.h"
#include "train/train.h"
#include "util/check.h"

namespace {

// 2 layers, 2 heads of 32 (the kernels' smallest head), block 32, vocabulary 64.
std::shared_ptr<knlp::LanguageModel> tiny_gpt2(uint64_t seed) {
  knlp::ModelSettings m;
  m.name = "gpt2";
  m.gpt2.size = "custom";
  m.gpt2.n_layer = 2;
  m.gpt2.n_head = 2;
  m.gpt2.n_embd = 64;
  m.gpt2.block_size = 32;
  m.gpt2.vocab_size = 64;
  m.gpt2.dropout = 0.0;
  torch::set_num_threads(1);
  torch::manual_seed(seed);
  auto model = knlp::make_language_model(m);
  model->eval();
  return model;
}

// Logits (1, T, V) of ids decoded one token at a time through a cache of `kv`.
torch::Tensor decode_logits(knlp::LanguageModel& model, const torch::Tensor& ids,
                            const std::string& kv, bool fused) {
  torch::NoGradGuard no_grad;
  knlp::CacheSpec spec;
  spec.kv = knlp::make_kv_cache_factory(kv, fused);
  auto cache = model.new_cache(spec);
  std::vector<torch::Tensor> parts;
  for (int64_t t = 0; t < ids.size(1); ++t) parts.push_back(model.forward_cached(ids.narrow(1, t, 1), cache));
  return torch::cat(parts, 1);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::vector<int32_t> greedy(knlp::LanguageModel& model, const std::string& kv, bool fused) {
  knlp::SampleOptions o;
  o.temperature = 0;
  o.max_new_tokens = 60;  // past the block of 32: the cache restarts once
  o.cache.kv = knlp::make_kv_cache_factory(kv, fused);
  return knlp::generate(model, {5, 17, 3}, o);
}

}  // namespace

TEST(KvGpt2, Int4GenerationEqualsTheUnfusedReference) {
  auto model = tiny_gpt2(11);
  const auto fused = greedy(*model, "int4", true);
  const auto reference = greedy(*model, "int4", false);
  ASSERT_EQ(fused.size(), 60u);
  EXPECT_EQ(fused, reference);
  // The same for the default K8/V4, and fp32 rows decode as the dense cache does.
  EXPECT_EQ(greedy(*model, "k8v4", true), greedy(*model, "k8v4", false));
  EXPECT_EQ(greedy(*model, "fp32", true), greedy(*model, "dense", true));
}

TEST(KvGpt2, CachedLogitsPerFormat) {
  auto model = tiny_gpt2(12);
  auto ids = torch::randint(0, 64, {1, 20}, torch::kLong);
  torch::Tensor full;
  {
    torch::NoGradGuard no_grad;
    full = model->forward({ids, {}}).logits;  // (1, 20, V)
  }
  // fp32 rows lose nothing: fp32 rounding only (sums in another order).
  const double fp32 = max_diff(decode_logits(*model, ids, "fp32", true), full);
  // Fused and unfused int4 see the same quantized values: rounding only.
  const double fused_vs_ref =
      max_diff(decode_logits(*model, ids, "int4", true), decode_logits(*model, ids, "int4", false));
  // int4 rows do lose something: the cache is really quantized.
  const double int4 = max_diff(decode_logits(*model, ids, "int4", true), full);
  std::printf("fp32 vs full %.2e, int4 fused vs unfused %.2e, int4 vs full %.2e\n", fp32,
              fused_vs_ref, int4);
  EXPECT_LT(fp32, 1e-5);
  EXPECT_LT(fused_vs_ref, 1e-5);
  EXPECT_GT(int4, 1e-4);
  EXPECT_THROW(knlp::make_kv_cache_factory("int3"), knlp::Error);
}

TEST(KvGpt2, PerplexityThroughTheCacheEqualsTheFullForward) {
  auto model = tiny_gpt2(13);
  const auto dir = knlp::test::temp_dir("kv_ppl");
  std::vector<int32_t> ids;
  for (int i = 0; i < 81; ++i) ids.push_back((i * 7 + i / 5) % 64);
  knlp::write_token_file(dir / "val.bin", ids);
  const knlp::TokenFile tokens(dir / "val.bin");
  knlp::CacheSpec spec;
  spec.kv = knlp::make_kv_cache_factory("fp32");
  // 80 predictions: windows of 32, 32 and 16 tokens.
  const auto full = knlp::cached_perplexity(*model, tokens, 80, 1, nullptr);
  const auto cached = knlp::cached_perplexity(*model, tokens, 80, 1, &spec);
  const auto chunked = knlp::cached_perplexity(*model, tokens, 80, 7, &spec);
  EXPECT_EQ(full.tokens, 80);
  EXPECT_NEAR(full.loss, std::log(64.0), 0.5);  // an untrained model: about uniform
  EXPECT_NEAR(cached.loss, full.loss, 1e-5);
  EXPECT_NEAR(chunked.loss, full.loss, 1e-5);
  EXPECT_NEAR(full.perplexity, std::exp(full.loss), 1e-9);
  EXPECT_THROW(knlp::cached_perplexity(*model, tokens, 81, 1, nullptr), knlp::Error);
}
