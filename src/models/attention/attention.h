// models/attention/attention.h - private to models/: the attention and MLP
// variants of GPT-2 and the pieces they share (docs/attention.md).
//
// Each variant is a make function with one row in gpt2.cpp's kAttention or
// kMlp table. Standard attention is a class here because both forms of
// reciprocal attention build on it.
//
// Letters: B batch, T time, C channels, H heads, D = C / H head size, L cached
// positions, Tn newest positions.
#pragma once

#include "models/gpt2.h"

namespace knlp {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias);

// Attention of the newest Tn queries (B, H, Tn, D) over all L keys and values
// (B, H, L, D), L >= Tn: query i sits at position L - Tn + i and sees keys up to
// it. Causal SDPA when Tn = L, unmasked when Tn = 1.
torch::Tensor attend_newest(const torch::Tensor& q, const torch::Tensor& k,
                            const torch::Tensor& v);

// (B, H, T, D) -> (B, T, H * D).
torch::Tensor merge_heads(const torch::Tensor& y);

// Standard multi-head causal self-attention ("mha"): c_attn (C -> 3C) gives
// q, k, v; SDPA; c_proj (C -> C). The KV cache holds every head's K and V.
struct CausalSelfAttentionImpl : Attention {
  explicit CausalSelfAttentionImpl(const Gpt2Settings& s);
  torch::Tensor forward(const torch::Tensor& x, LayerCache* cache) override;
  std::unique_ptr<LayerCache> new_cache(const CacheSpec& spec) const override;
  int64_t cache_values_per_token() const override;

  struct Heads {
    torch::Tensor q, k, v;  // (B, H, T, D) each
  };
  // x (B, T, C) -> the heads' queries, keys and values.
  virtual Heads project(const torch::Tensor& x);
  // Causal attention of the heads, through cache (a KVCache) when there is one.
  torch::Tensor attend(const Heads& h, LayerCache* cache);  // (B, H, T, D)
  // y (B, H, T, D) or merged (B, T, C) -> c_proj and residual dropout (B, T, C).
  torch::Tensor output(const torch::Tensor& y);

  int64_t n_head, head_dim;
  double dropout;
  torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};
  torch::nn::Dropout resid_dropout{nullptr};
};

std::shared_ptr<Attention> make_mha(const Gpt2Settings& s, int64_t layer);

// Reciprocal attention with a learned gate on the middle s.ra_layers layers
// (mha elsewhere), and the folded form on every layer (ra.cpp).
std::shared_ptr<Attention> make_ra(const Gpt2Settings& s, int64_t layer);
std::shared_ptr<Attention> make_ra_folded(const Gpt2Settings& s, int64_t layer);
// The layers make_ra gives a reciprocal branch: [L/2 - N/2, L/2 - N/2 + N).
bool is_ra_layer(const Gpt2Settings& s, int64_t layer);

// MLA on every layer; MLA with KVSplice on the last s.kvsplice_layers (mla.cpp).
std::shared_ptr<Attention> make_mla(const Gpt2Settings& s, int64_t layer);
std::shared_ptr<Attention> make_kvsplice(const Gpt2Settings& s, int64_t layer);

// The reciprocal MLP (rmlp.cpp).
std::shared_ptr<FeedForward> make_rmlp(const Gpt2Settings& s, int64_t hidden);

}  // namespace knlp
