// models/gpt2.h - private to models/: the seam between GPT-2 and its attention variants.
//
// A block calls its attention through this interface only; which class sits
// there is decided once, by the row of gpt2.cpp's kAttention table that
// Gpt2Settings::attention names. A variant (RA, MLA, KVSplice) is a file in
// models/attention/ with a make function and one row in that table.
#pragma once

#include <memory>

#include "models/models.h"

namespace knlp {

struct Attention : torch::nn::Module {
  // x (B, T, C) -> (B, T, C), causal. Without a cache x is the whole sequence.
  // With one, x holds the newest T positions, the cache every earlier one, and
  // forward appends what it needs of these T positions to the cache.
  virtual torch::Tensor forward(const torch::Tensor& x, LayerCache* cache) = 0;
  // An empty cache of this layer for decoding (spec.kv stores per-head K/V).
  virtual std::unique_ptr<LayerCache> new_cache(const CacheSpec& spec) const = 0;
  // Values the cache keeps per token: 2C for standard attention. new_cache's
  // bytes() is this times positions, rows and the element size.
  virtual int64_t cache_values_per_token() const = 0;
  // Parameters that couple this attention to the block (RA's reciprocal branch),
  // or null. The block registers them as "recip", beside "attn", and declares
  // them coupling (bitter8/9's class), not attention.
  virtual std::shared_ptr<torch::nn::Module> coupling() const { return nullptr; }
};

// Builds the attention of block `layer` (variants may differ by layer).
using AttentionMaker = std::shared_ptr<Attention> (*)(const Gpt2Settings& s, int64_t layer);

// The attention of block `layer` that s.attention names (a row of kAttention).
// Throws Error (exit 2) listing the variants for an unknown name.
std::shared_ptr<Attention> make_attention(const Gpt2Settings& s, int64_t layer);

// A block's feed-forward network, chosen like the attention (s.mlp, kMlp).
struct FeedForward : torch::nn::Module {
  // u (B, T, C) the normalised residual, a (B, T, C) the block's attention
  // output (only R-MLP reads it) -> (B, T, C).
  virtual torch::Tensor forward(const torch::Tensor& u, const torch::Tensor& a) = 0;
  // Its parameters that couple it to the attention (R-MLP's reciprocal half):
  // coupling for bitter8/9, the rest is MLP.
  virtual std::vector<torch::Tensor> coupling_parameters() { return {}; }
};

// Builds a feed-forward of `hidden` channels (4C, or RATIO's width).
using FeedForwardMaker = std::shared_ptr<FeedForward> (*)(const Gpt2Settings& s, int64_t hidden);

// The MLP width of a block next to `attention`: 4C, or with s.ratio the RATIO
// rule: 2.5 times the attention's weights (matrices) over 2C, to a multiple of 64.
int64_t mlp_width(const Gpt2Settings& s, const Attention& attention);

// RATIO's rule alone: 2.5 * attention_weights / (2 * n_embd), nearest multiple of 64.
int64_t ratio_mlp_width(int64_t attention_weights, int64_t n_embd);

// The integer knobs of the variants, stored beside the weights (metadata()) under
// these keys and read back by weights_shape().
struct Gpt2Knob {
  const char* key;
  int64_t Gpt2Settings::*field;
};
extern const std::vector<Gpt2Knob> kGpt2Knobs;

// The GPT-2 model of settings.gpt2 (make_model's row for "gpt2").
std::shared_ptr<Model> make_gpt2(const ModelSettings& settings);

}  // namespace knlp
