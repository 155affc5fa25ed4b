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
};

// Builds the attention of block `layer` (variants may differ by layer).
using AttentionMaker = std::shared_ptr<Attention> (*)(const Gpt2Settings& s, int64_t layer);

// The GPT-2 model of settings.gpt2 (make_model's row for "gpt2").
std::shared_ptr<Model> make_gpt2(const ModelSettings& settings);

}  // namespace knlp
