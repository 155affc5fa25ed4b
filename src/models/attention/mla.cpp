// models/attention/mla.cpp - multi-head latent attention and KVSplice
// (the Python knlp's MLA and mla_kv_fim).
//
// MLA: c = c_kv_down(x) (B, T, Lc) is all a layer caches; keys and values are
// expanded from it, [k; v] = c_kv_up(c), at every step; queries come from x.
// KVSplice adds a learned bottleneck on the latent: the cache keeps
// u = LN(splice_down(c)) (B, T, Ls), expanded back by splice_up before c_kv_up.
// Positions come from GPT-2's learned wpe; the reference's RoPE on q and k is
// left out (docs/attention.md).
//
// Letters: B batch, T time, C channels, H heads, D head size, Lc cached channels,
// L cached positions.
#include "models/attention/attention.h"
#include "util/check.h"

namespace knlp {

namespace {

// A layer's cached latents in one (B, max_len, Lc) buffer, filled front to back.
class LatentCache : public LayerCache {
 public:
  LatentCache(const CacheSpec& spec, int64_t channels)
      : buf_(torch::empty({spec.batch, spec.max_len, channels},
                          torch::TensorOptions().dtype(spec.dtype).device(spec.device))) {}

  // Appends c (B, Tn, Lc); returns every cached latent (B, L, Lc).
  torch::Tensor append(const torch::Tensor& c) {
    const int64_t n = c.size(1);
    KNLP_CHECK(len_ + n <= buf_.size(1), "latent cache", "{} positions do not fit its {}",
               len_ + n, buf_.size(1));
    buf_.narrow(1, len_, n).copy_(c);
    len_ += n;
    return buf_.narrow(1, 0, len_).to(c.scalar_type());
  }

  int64_t bytes() const override {
    return buf_.numel() * static_cast<int64_t>(buf_.element_size());
  }

 private:
  torch::Tensor buf_;
  int64_t len_ = 0;
};

struct MlaAttentionImpl : Attention {
  explicit MlaAttentionImpl(const Gpt2Settings& s)
      : n_head(s.n_head),
        latent(s.mla_latent),
        dropout(s.dropout),
        c_q(register_module("c_q", linear(s.n_embd, s.n_embd, s.bias))),
        c_kv_down(register_module("c_kv_down", linear(s.n_embd, s.mla_latent, s.bias))),
        c_kv_up(register_module("c_kv_up", linear(s.mla_latent, 2 * s.n_embd, s.bias))),
        c_proj(register_module("c_proj", linear(s.n_embd, s.n_embd, s.bias))),
        resid_dropout(register_module("resid_dropout", torch::nn::Dropout(s.dropout))) {}

  // x (B, T, C) -> what the cache keeps (B, T, Lc).
  virtual torch::Tensor compress(const torch::Tensor& x) { return c_kv_down(x); }
  // The cached form (B, L, Lc) -> the MLA latent (B, L, latent).
  virtual torch::Tensor expand(const torch::Tensor& c) { return c; }

  torch::Tensor forward(const torch::Tensor& x, LayerCache* cache) override {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), D = C / n_head;
    auto* lc = dynamic_cast<LatentCache*>(cache);
    KNLP_CHECK(!cache || lc, "attention", "MLA needs a latent cache, got another layer cache");
    auto c = compress(x);        // (B, T, Lc)
    if (lc) c = lc->append(c);   // (B, L, Lc)
    const int64_t L = c.size(1);
    auto kv = c_kv_up(expand(c)).split(C, 2);                         // 2 x (B, L, C)
    auto q = c_q(x).view({B, T, n_head, D}).transpose(1, 2);          // (B, H, T, D)
    auto k = kv[0].view({B, L, n_head, D}).transpose(1, 2);           // (B, H, L, D)
    auto v = kv[1].view({B, L, n_head, D}).transpose(1, 2);           // (B, H, L, D)
    auto y = lc ? attend_newest(q, k, v)
                : at::scaled_dot_product_attention(q, k, v, {}, is_training() ? dropout : 0.0,
                                                   /*is_causal=*/true);  // (B, H, T, D)
    return resid_dropout(c_proj(merge_heads(y)));                       // (B, T, C)
  }

  std::unique_ptr<LayerCache> new_cache(const CacheSpec& spec) const override {
    return std::make_unique<LatentCache>(spec, cache_values_per_token());
  }

  int64_t cache_values_per_token() const override { return latent; }

  int64_t n_head, latent;
  double dropout;
  torch::nn::Linear c_q{nullptr}, c_kv_down{nullptr}, c_kv_up{nullptr}, c_proj{nullptr};
  torch::nn::Dropout resid_dropout{nullptr};
};

// MLA whose cache keeps LN(splice_down(latent)), Ls = s.kvsplice_dim channels.
struct KvSpliceAttentionImpl : MlaAttentionImpl {
  explicit KvSpliceAttentionImpl(const Gpt2Settings& s)
      : MlaAttentionImpl(s),
        splice_down(register_module("splice_down", linear(s.mla_latent, s.kvsplice_dim, false))),
        splice_ln(register_module(
            "splice_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.kvsplice_dim})))),
        splice_up(register_module("splice_up", linear(s.kvsplice_dim, s.mla_latent, false))) {
    KNLP_CHECK_INPUT(s.kvsplice_dim <= s.mla_latent, "CONFIG_MLA_COMPRESSION_RATIO",
                     "the compressed latent {} is larger than the latent {}", s.kvsplice_dim,
                     s.mla_latent);
  }

  torch::Tensor compress(const torch::Tensor& x) override {
    return splice_ln(splice_down(c_kv_down(x)));  // (B, T, Ls)
  }
  torch::Tensor expand(const torch::Tensor& c) override { return splice_up(c); }  // (B, L, latent)
  int64_t cache_values_per_token() const override { return splice_down->options.out_features(); }

  torch::nn::Linear splice_down{nullptr};
  torch::nn::LayerNorm splice_ln{nullptr};
  torch::nn::Linear splice_up{nullptr};
};

}  // namespace

std::shared_ptr<Attention> make_mla(const Gpt2Settings& s, int64_t layer) {
  (void)layer;
  return std::make_shared<MlaAttentionImpl>(s);
}

std::shared_ptr<Attention> make_kvsplice(const Gpt2Settings& s, int64_t layer) {
  KNLP_CHECK_INPUT(s.kvsplice_layers <= s.n_layer, "CONFIG_MLA_KV_FIM_LAYERS",
                   "{} KVSplice layers in a model of {}", s.kvsplice_layers, s.n_layer);
  if (layer < s.n_layer - s.kvsplice_layers) return make_mla(s, layer);
  return std::make_shared<KvSpliceAttentionImpl>(s);
}

}  // namespace knlp
