// train/kv_cache.cpp - the kv/ cache behind models/' KVCache interface, and
// perplexity through a model's decode cache.
//
// models/ and kv/ are siblings that do not see each other; this is the glue:
// a CacheSpec::kv factory whose caches store keys and values in a KV format
// (kv/kv.h KvCache: packed rows, fused decode kernel), so that generation and
// evaluation run on any format without GPT-2 knowing of it.
#include <algorithm>
#include <cmath>

#include "kv/kv.h"          // KvCache, KvSpec, kv_spec_from_name, kv_spec_name
#include "models/models.h"  // KVCache, KVShape, KVCacheFactory, LanguageModel, cross_entropy
#include "train/train.h"
#include "util/check.h"

namespace knlp {

namespace {

// One layer's keys and values in a KV format. The kernels take float
// queries; a model running in another dtype converts on the way in and out.
class FormatKVCache : public KVCache {
 public:
  FormatKVCache(const KVShape& s, KvSpec spec, bool fused)
      : cache_(s.batch, s.heads, s.max_len, s.head_dim, spec, s.device), fused_(fused) {}

  void append(const torch::Tensor& k, const torch::Tensor& v) override {  // (B, H, Tn, D)
    cache_.append(k.to(torch::kFloat), v.to(torch::kFloat));
  }

  torch::Tensor attend(const torch::Tensor& q) override {  // (B, H, Tn, D)
    auto qf = q.to(torch::kFloat);
    return (fused_ ? cache_.attend(qf) : cache_.attend_unfused(qf)).to(q.scalar_type());
  }

  int64_t length() const override { return cache_.length(); }

  int64_t bytes() const override {
    int64_t n = 0;
    for (const KvPacked* p : {&cache_.keys(), &cache_.values()})
      n += p->data.nbytes() + (p->scales.defined() ? p->scales.nbytes() : 0);
    return static_cast<int64_t>(n);
  }

 private:
  KvCache cache_;
  bool fused_;
};

}  // namespace

KVCacheFactory make_kv_cache_factory(const std::string& name, bool fused) {
  if (name == "dense") return make_dense_kv_cache;
  const KvSpec spec = kv_spec_from_name(name, "--kv");
  return [spec, fused](const KVShape& s) -> std::unique_ptr<KVCache> {
    return std::make_unique<FormatKVCache>(s, spec, fused);
  };
}

std::string kv_format_name(const KvSettings& kv) {
  return kv_spec_name({kv_spec_from_name(kv.k_format, "CONFIG_KV_K_FORMAT").k,
                       kv_spec_from_name(kv.v_format, "CONFIG_KV_V_FORMAT").v});
}

Perplexity cached_perplexity(LanguageModel& model, const TokenFile& tokens, int64_t n,
                             int64_t chunk, const CacheSpec* spec) {
  KNLP_CHECK_INPUT(n >= 1 && chunk >= 1, "perplexity", "--tokens {} and --chunk {} must be >= 1",
                   n, chunk);
  KNLP_CHECK_INPUT(tokens.size() > n, "perplexity",
                   "{} holds {} tokens, fewer than the {} predictions asked for plus one",
                   tokens.path().string(), tokens.size(), n);
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t block = model.block_size();
  const torch::Device device = spec ? spec->device : model.parameters().front().device();
  double sum = 0.0;
  for (int64_t start = 0; start < n; start += block) {  // windows of the block size
    const int64_t T = std::min(block, n - start);
    auto window = tokens.slice(start, T + 1).to(device);  // (T + 1)
    auto x = window.narrow(0, 0, T).unsqueeze(0);         // (1, T)
    auto y = window.narrow(0, 1, T).unsqueeze(0);         // (1, T)
    torch::Tensor logits;                                 // (1, T, V)
    if (!spec) {
      logits = model.forward({x, {}}).logits;
    } else {
      CacheSpec s = *spec;
      s.batch = 1;
      s.max_len = block;
      auto cache = model.new_cache(s);
      std::vector<torch::Tensor> parts;
      for (int64_t t = 0; t < T; t += chunk)
        parts.push_back(model.forward_cached(x.narrow(1, t, std::min(chunk, T - t)), cache));
      logits = torch::cat(parts, 1);
    }
    sum += cross_entropy(logits.to(torch::kFloat), y).item<double>() * static_cast<double>(T);
  }
  const double loss = sum / static_cast<double>(n);
  return {loss, std::exp(loss), n};
}

}  // namespace knlp
