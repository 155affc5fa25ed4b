// models/decode.cpp - incremental decode: the dense KV cache and sampling.
//
// Letters: B batch, H heads, D head size, L positions cached, Tn newest
// positions, V vocabulary.
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include "models/attention/attention.h"
#include "models/models.h"
#include "util/check.h"

namespace knlp {

namespace {

// Keys and values in two (B, H, max_len, D) buffers, filled front to back.
class DenseKVCache : public KVCache {
 public:
  explicit DenseKVCache(const KVShape& s)
      : k_(torch::empty({s.batch, s.heads, s.max_len, s.head_dim},
                        torch::TensorOptions().dtype(s.dtype).device(s.device))),
        v_(torch::empty_like(k_)) {}

  void append(const torch::Tensor& k, const torch::Tensor& v) override {
    const int64_t n = k.size(2);
    KNLP_CHECK(len_ + n <= k_.size(2), "kv cache", "{} positions do not fit its {}", len_ + n,
               k_.size(2));
    k_.narrow(2, len_, n).copy_(k);
    v_.narrow(2, len_, n).copy_(v);
    len_ += n;
  }

  torch::Tensor attend(const torch::Tensor& q) override {  // (B, H, Tn, D)
    auto k = k_.narrow(2, 0, len_).to(q.scalar_type());     // (B, H, L, D)
    auto v = v_.narrow(2, 0, len_).to(q.scalar_type());     // (B, H, L, D)
    return attend_newest(q, k, v);                           // (B, H, Tn, D)
  }

  int64_t length() const override { return len_; }
  int64_t bytes() const override {
    return 2 * k_.numel() * static_cast<int64_t>(k_.element_size());
  }

 private:
  torch::Tensor k_, v_;
  int64_t len_ = 0;
};

// One id from the last position's logits (V), as options say.
int32_t sample_next(torch::Tensor logits, const SampleOptions& o, torch::Generator& gen) {
  logits = logits.to(torch::kCPU, torch::kFloat);
  if (o.vocab_limit > 0 && o.vocab_limit < logits.size(0))
    logits = logits.narrow(0, 0, o.vocab_limit);  // padding ids are never sampled
  if (o.temperature <= 0) return static_cast<int32_t>(logits.argmax().item<int64_t>());
  logits = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < logits.size(0)) {
    auto kth = std::get<0>(logits.topk(o.top_k)).min();  // the k-th largest logit
    logits = logits.masked_fill(logits.lt(kth), -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(logits, 0);  // (V)
  return static_cast<int32_t>(torch::multinomial(probs, 1, false, gen).item<int64_t>());
}

torch::Tensor ids_tensor(const std::vector<int32_t>& ids, size_t from, torch::Device device) {
  std::vector<int64_t> v(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
  return torch::tensor(v, torch::kLong).unsqueeze(0).to(device);  // (1, T)
}

}  // namespace

std::unique_ptr<KVCache> make_dense_kv_cache(const KVShape& shape) {
  return std::make_unique<DenseKVCache>(shape);
}

std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options) {
  KNLP_CHECK_INPUT(!prompt.empty(), "generate", "empty prompt; give at least one token");
  torch::NoGradGuard no_grad;
  model.eval();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const int64_t block = model.block_size();
  CacheSpec spec = options.cache;
  spec.batch = 1;
  spec.max_len = block;

  std::vector<int32_t> context = prompt, out;
  // Re-encodes the last `keep` ids of the context into a fresh cache; returns logits (V).
  DecodeCache cache;
  auto restart = [&](size_t keep) {
    cache = model.new_cache(spec);
    auto logits = model.forward_cached(ids_tensor(context, context.size() - keep, spec.device),
                                       cache);  // (1, keep, V)
    return logits[0][-1];
  };
  auto logits = restart(std::min<size_t>(context.size(), static_cast<size_t>(block)));
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int32_t next = sample_next(logits, options, gen);
    out.push_back(next);
    context.push_back(next);
    if (next == options.stop_token || i + 1 == options.max_new_tokens) break;
    if (cache.length == block)
      logits = restart(static_cast<size_t>(block / 2));
    else
      logits = model.forward_cached(ids_tensor(context, context.size() - 1, spec.device),
                                    cache)[0][-1];  // (V)
  }
  return out;
}

}  // namespace knlp
