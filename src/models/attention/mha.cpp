// models/attention/mha.cpp - standard multi-head causal self-attention and the
// helpers every variant shares.
//
// Letters: B batch, T time, C channels, H heads, D = C / H head size, L cached
// positions, Tn newest positions.
#include "models/attention/attention.h"
#include "util/check.h"

namespace knlp {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

torch::Tensor attend_newest(const torch::Tensor& q, const torch::Tensor& k,
                            const torch::Tensor& v) {
  const int64_t tn = q.size(2), len = k.size(2);
  if (tn == 1) return at::scaled_dot_product_attention(q, k, v);
  if (tn == len) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(q.device());
  auto key_pos = torch::arange(len, opts).unsqueeze(0);                      // (1, L)
  auto query_pos = torch::arange(len - tn, len, opts).unsqueeze(1);          // (Tn, 1)
  return at::scaled_dot_product_attention(q, k, v, key_pos.le(query_pos));  // (B, H, Tn, D)
}

torch::Tensor merge_heads(const torch::Tensor& y) {
  const int64_t B = y.size(0), H = y.size(1), T = y.size(2), D = y.size(3);
  return y.transpose(1, 2).contiguous().view({B, T, H * D});  // (B, T, C)
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const Gpt2Settings& s)
    : n_head(s.n_head),
      head_dim(s.n_embd / s.n_head),
      dropout(s.dropout),
      c_attn(register_module("c_attn", linear(s.n_embd, 3 * s.n_embd, s.bias))),
      c_proj(register_module("c_proj", linear(s.n_embd, s.n_embd, s.bias))),
      resid_dropout(register_module("resid_dropout", torch::nn::Dropout(s.dropout))) {}

CausalSelfAttentionImpl::Heads CausalSelfAttentionImpl::project(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  auto qkv = c_attn(x).split(C, 2);  // 3 x (B, T, C)
  auto heads = [&](const torch::Tensor& t) {
    return t.view({B, T, n_head, head_dim}).transpose(1, 2);  // (B, H, T, D)
  };
  return {heads(qkv[0]), heads(qkv[1]), heads(qkv[2])};
}

torch::Tensor CausalSelfAttentionImpl::attend(const Heads& h, LayerCache* cache) {
  if (!cache)
    return at::scaled_dot_product_attention(h.q, h.k, h.v, {}, is_training() ? dropout : 0.0,
                                            /*is_causal=*/true);  // (B, H, T, D)
  auto* kv = dynamic_cast<KVCache*>(cache);
  KNLP_CHECK(kv, "attention", "standard attention needs a KVCache, got another layer cache");
  kv->append(h.k, h.v);
  return kv->attend(h.q);  // (B, H, T, D)
}

torch::Tensor CausalSelfAttentionImpl::output(const torch::Tensor& y) {
  return resid_dropout(c_proj(y.dim() == 4 ? merge_heads(y) : y));  // (B, T, C)
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, LayerCache* cache) {
  return output(attend(project(x), cache));  // (B, T, C)
}

std::unique_ptr<LayerCache> CausalSelfAttentionImpl::new_cache(const CacheSpec& spec) const {
  return spec.kv({spec.batch, n_head, head_dim, spec.max_len, spec.device, spec.dtype});
}

int64_t CausalSelfAttentionImpl::cache_values_per_token() const {
  return 2 * n_head * head_dim;  // K and V of every head
}

std::shared_ptr<Attention> make_mha(const Gpt2Settings& s, int64_t layer) {
  (void)layer;
  return std::make_shared<CausalSelfAttentionImpl>(s);
}

}  // namespace knlp
