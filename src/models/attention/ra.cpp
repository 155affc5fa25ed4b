// models/attention/ra.cpp - reciprocal attention (RA), two forms, as the Python knlp has them.
//
// The reciprocal score of head h is S_rec[i, j] = k_i . q_j / sqrt(D): keys and
// queries swapped, under the same causal mask j <= i. It reads the pairs
// (query j <= i, key i) that standard attention leaves out, and stays causal.
//  - "ra" (2.2, learned gate): in the middle RA layers, the last n_ra heads
//    also run SDPA(k, q, v); the result (B, T, n_ra D) is projected to C,
//    normalised and added to the merged heads with the gate tanh(rho), rho = 0
//    at init, so an RA model starts out as standard attention.
//  - "ra_folded" (2.4): each head's last R query/key channels form the
//    reciprocal score; per-head gates scale both sides by sqrt(w), so one SDPA
//    call computes (w_std q_std.k_std + w_rec q_low.k_low) / sqrt(D).
// The reciprocal parameters live in a module the block registers as "recip"
// (Attention::coupling), which pruning classes as coupling.
//
// Letters: B batch, T time, C channels, H heads, D head size, R reciprocal
// heads (ra) or channels (ra_folded).
#include "models/attention/attention.h"
#include "util/check.h"

namespace knlp {

namespace {

// The learned-gate branch: (B, T, R D) -> tanh(gate) LN(proj(y)) (B, T, C).
struct ReciprocalImpl : torch::nn::Module {
  ReciprocalImpl(int64_t in, int64_t c)
      : proj(register_module("proj", linear(in, c, true))),
        ln(register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c})))),
        gate(register_parameter("gate", torch::zeros({1}))) {}
  torch::Tensor forward(const torch::Tensor& y) { return torch::tanh(gate) * ln(proj(y)); }
  torch::nn::Linear proj{nullptr};
  torch::nn::LayerNorm ln{nullptr};
  torch::Tensor gate;  // rho
};
TORCH_MODULE(Reciprocal);

// An RA layer's decode state: every head's K and V, and the reciprocal heads'
// queries (as keys) with their values.
struct RaCache : LayerCache {
  std::unique_ptr<KVCache> kv, recip;
  int64_t bytes() const override { return kv->bytes() + recip->bytes(); }
};

struct RaAttentionImpl : CausalSelfAttentionImpl {
  explicit RaAttentionImpl(const Gpt2Settings& s)
      : CausalSelfAttentionImpl(s),
        n_recip(s.ra_heads),
        recip(s.ra_heads * head_dim, s.n_embd) {}

  torch::Tensor forward(const torch::Tensor& x, LayerCache* cache) override {
    auto* rc = dynamic_cast<RaCache*>(cache);
    KNLP_CHECK(!cache || rc, "attention", "reciprocal attention needs its own layer cache");
    const Heads h = project(x);
    auto y = merge_heads(attend(h, rc ? rc->kv.get() : nullptr));  // (B, T, C)
    auto last = [&](const torch::Tensor& t) {
      return t.narrow(1, n_head - n_recip, n_recip);  // (B, R, T, D)
    };
    const Heads swapped{last(h.k), last(h.q), last(h.v)};  // keys ask, queries answer
    auto y_rec = merge_heads(attend(swapped, rc ? rc->recip.get() : nullptr));  // (B, T, R D)
    return output(y + recip(y_rec));                                            // (B, T, C)
  }

  std::unique_ptr<LayerCache> new_cache(const CacheSpec& spec) const override {
    auto c = std::make_unique<RaCache>();
    c->kv = spec.kv({spec.batch, n_head, head_dim, spec.max_len, spec.device, spec.dtype});
    c->recip = spec.kv({spec.batch, n_recip, head_dim, spec.max_len, spec.device, spec.dtype});
    return c;
  }

  int64_t cache_values_per_token() const override {
    return 2 * n_head * head_dim + 2 * n_recip * head_dim;
  }

  std::shared_ptr<torch::nn::Module> coupling() const override { return recip.ptr(); }

  int64_t n_recip;
  Reciprocal recip;  // registered by the block, as "recip"
};

// Folded RA's per-head gates w_std, w_rec (H each), at their geometric init.
struct FoldGatesImpl : torch::nn::Module {
  FoldGatesImpl(int64_t heads, int64_t head_dim, int64_t r)
      : r(r),
        w_std(register_parameter(
            "w_std", torch::full({heads}, static_cast<double>(head_dim - r) / head_dim))),
        w_rec(register_parameter("w_rec", torch::full({heads}, static_cast<double>(r) / head_dim))) {}
  // The (1, H, 1, D) scale of q and k: sqrt(w_std) on the first D - R channels,
  // sqrt(w_rec) on the last R (w clamped at 1e-8 as the reference does).
  torch::Tensor scale(int64_t head_dim) const {
    const int64_t H = w_std.size(0);
    auto side = [&](const torch::Tensor& w, int64_t n) {
      return w.clamp_min(1e-8).sqrt().view({1, H, 1, 1}).expand({1, H, 1, n});  // (1, H, 1, n)
    };
    return torch::cat({side(w_std, head_dim - r), side(w_rec, r)}, 3);  // (1, H, 1, D)
  }
  int64_t r;
  torch::Tensor w_std, w_rec;
};
TORCH_MODULE(FoldGates);

struct FoldedRaAttentionImpl : CausalSelfAttentionImpl {
  explicit FoldedRaAttentionImpl(const Gpt2Settings& s)
      : CausalSelfAttentionImpl(s), gates(n_head, head_dim, s.ra_recip_dim) {
    KNLP_CHECK_INPUT(s.ra_recip_dim < head_dim, "CONFIG_GPT2_RA_RECIP_DIM",
                     "{} reciprocal channels leave no standard ones in heads of {}",
                     s.ra_recip_dim, head_dim);
  }

  Heads project(const torch::Tensor& x) override {
    Heads h = CausalSelfAttentionImpl::project(x);
    auto g = gates->scale(head_dim);  // (1, H, 1, D)
    return {h.q * g, h.k * g, h.v};   // (B, H, T, D) each
  }

  std::shared_ptr<torch::nn::Module> coupling() const override { return gates.ptr(); }

  FoldGates gates;  // registered by the block, as "recip"
};

}  // namespace

bool is_ra_layer(const Gpt2Settings& s, int64_t layer) {
  const int64_t first = s.n_layer / 2 - s.ra_layers / 2;
  return layer >= first && layer < first + s.ra_layers;
}

std::shared_ptr<Attention> make_ra(const Gpt2Settings& s, int64_t layer) {
  KNLP_CHECK_INPUT(s.ra_layers <= s.n_layer, "CONFIG_GPT2_KNLP_RA_LAYERS",
                   "{} RA layers in a model of {}", s.ra_layers, s.n_layer);
  KNLP_CHECK_INPUT(s.ra_heads <= s.n_head, "CONFIG_GPT2_KNLP_RA_HEADS",
                   "{} reciprocal heads in layers of {}", s.ra_heads, s.n_head);
  if (!is_ra_layer(s, layer)) return make_mha(s, layer);
  return std::make_shared<RaAttentionImpl>(s);
}

std::shared_ptr<Attention> make_ra_folded(const Gpt2Settings& s, int64_t layer) {
  (void)layer;
  return std::make_shared<FoldedRaAttentionImpl>(s);
}

}  // namespace knlp
