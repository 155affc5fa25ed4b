// models/gpt2.cpp - GPT-2 on one page: layer norm, attention, MLP, block, model, sizes.
//
// nanoGPT's model.py in LibTorch: pre-LN blocks, causal self-attention through
// at::scaled_dot_product_attention, an exact-erf GELU MLP four times as wide,
// and an output head tied to the token embedding. Module names are Hugging
// Face's (wte, wpe, h.N.ln_1, h.N.attn.c_attn, h.N.mlp.c_fc, ln_f), so weights
// map one to one (models/weights.cpp). Attention and MLP are reached only
// through the Attention and FeedForward interfaces (gpt2.h); the variants come
// from the kAttention and kMlp tables, their code from models/attention/.
//
// Letters: B batch, T time (tokens), C channels (n_embd), H heads, D = C / H
// head size, V vocabulary, P positions already in a decode cache.
#include <fmt/format.h>

#include <cmath>

#include "models/attention/attention.h"
#include "util/check.h"
#include "util/registry.h"  // lookup

namespace knlp {

namespace {

// Layer norm over C with an optional bias, eps 1e-5 (torch's has no bias switch).
struct LayerNormImpl : torch::nn::Module {
  LayerNormImpl(int64_t c, bool bias) : weight(register_parameter("weight", torch::ones({c}))) {
    if (bias) this->bias = register_parameter("bias", torch::zeros({c}));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // (B, T, C) -> (B, T, C)
    return torch::layer_norm(x, {weight.size(0)}, weight, bias, 1e-5);
  }
  torch::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm);

// The attention variants a block can hold; Gpt2Settings::attention names one.
struct AttentionEntry {
  const char* name;
  AttentionMaker make;
};

const AttentionEntry kAttention[] = {
    {"mha", make_mha},            // standard multi-head attention
    {"ra", make_ra},              // reciprocal attention, learned gate, middle layers
    {"ra_folded", make_ra_folded},  // reciprocal attention folded into one SDPA call
    {"mla", make_mla},            // multi-head latent attention: the cache keeps a latent
    {"kvsplice", make_kvsplice},  // MLA, the last layers' latent compressed further
};

// Feed-forward: C -> hidden -> C with an exact-erf GELU ("mlp").
struct MlpImpl : FeedForward {
  MlpImpl(const Gpt2Settings& s, int64_t hidden)
      : c_fc(register_module("c_fc", linear(s.n_embd, hidden, s.bias))),
        c_proj(register_module("c_proj", linear(hidden, s.n_embd, s.bias))),
        dropout(register_module("dropout", torch::nn::Dropout(s.dropout))) {}
  torch::Tensor forward(const torch::Tensor& u, const torch::Tensor&) override {
    return dropout(c_proj(torch::gelu(c_fc(u))));  // (B, T, hidden) inside
  }
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
};

std::shared_ptr<FeedForward> make_mlp(const Gpt2Settings& s, int64_t hidden) {
  return std::make_shared<MlpImpl>(s, hidden);
}

// The feed-forward variants; Gpt2Settings::mlp names one.
struct FeedForwardEntry {
  const char* name;
  FeedForwardMaker make;
};

const FeedForwardEntry kMlp[] = {
    {"mlp", make_mlp},    // GELU MLP
    {"rmlp", make_rmlp},  // reciprocal MLP: part of the hidden layer reads the attention
};

// Pre-LN transformer block: a = attn(ln_1(x)), x + a, then + mlp(ln_2(x), a).
struct BlockImpl : torch::nn::Module {
  BlockImpl(const Gpt2Settings& s, int64_t layer)
      : ln_1(register_module("ln_1", LayerNorm(s.n_embd, s.bias))),
        attn(register_module("attn", make_attention(s, layer))),
        ln_2(register_module("ln_2", LayerNorm(s.n_embd, s.bias))),
        mlp(register_module("mlp", lookup(kMlp, s.mlp, "gpt2", "mlp", "variant").make(s, mlp_width(s, *attn)))) {
    if (auto recip = attn->coupling()) register_module("recip", recip);
  }
  torch::Tensor forward(torch::Tensor x, LayerCache* cache) {  // (B, T, C) -> (B, T, C)
    auto a = attn->forward(ln_1(x), cache);                    // (B, T, C)
    x = x + a;
    return x + mlp->forward(ln_2(x), a);
  }
  LayerNorm ln_1{nullptr};
  std::shared_ptr<Attention> attn;
  LayerNorm ln_2{nullptr};
  std::shared_ptr<FeedForward> mlp;
};
TORCH_MODULE(Block);

struct Gpt2 : LanguageModel {
  explicit Gpt2(const ModelSettings& settings) : s(gpt2_shape(settings.gpt2)) {
    KNLP_CHECK_INPUT(s.n_embd % s.n_head == 0, "CONFIG_GPT2_N_HEAD",
                     "{} heads do not divide the width {}", s.n_head, s.n_embd);
    wte = register_module("wte", torch::nn::Embedding(s.vocab_size, s.n_embd));
    wpe = register_module("wpe", torch::nn::Embedding(s.block_size, s.n_embd));
    drop = register_module("drop", torch::nn::Dropout(s.dropout));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t l = 0; l < s.n_layer; ++l) {
      blocks.push_back(Block(s, l));
      h->push_back(blocks.back());
    }
    ln_f = register_module("ln_f", LayerNorm(s.n_embd, s.bias));
    if (!s.weight_tying) lm_head = register_module("lm_head", linear(s.n_embd, s.vocab_size, false));
    init_weights();
  }

  // nanoGPT's init: N(0, 0.02) for linear and embedding weights, zero biases, and
  // N(0, 0.02 / sqrt(2 n_layer)) for the projections that feed the residual stream.
  void init_weights() {
    torch::NoGradGuard no_grad;
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* lin = m->as<torch::nn::Linear>()) {
        lin->weight.normal_(0.0, 0.02);
        if (lin->bias.defined()) lin->bias.zero_();
      } else if (auto* emb = m->as<torch::nn::Embedding>()) {
        emb->weight.normal_(0.0, 0.02);
      }
    }
    const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(s.n_layer));
    const std::string suffix = "c_proj.weight";
    for (auto& p : named_parameters())
      if (p.key().size() >= suffix.size() &&
          p.key().compare(p.key().size() - suffix.size(), suffix.size(), suffix) == 0)
        p.value().normal_(0.0, proj_std);
  }

  // ids (B, T) after the cache's P positions (none without a cache) -> logits (B, T, V).
  torch::Tensor logits(const torch::Tensor& ids, DecodeCache* cache) {
    const int64_t T = ids.size(1), P = cache ? cache->length : 0;
    KNLP_CHECK(P + T <= s.block_size, "CONFIG_GPT2_BLOCK_SIZE",
               "{} positions do not fit the block size {}", P + T, s.block_size);
    auto pos = torch::arange(P, P + T, ids.options().dtype(torch::kLong));  // (T)
    auto x = drop(wte(ids) + wpe(pos));                                     // (B, T, C)
    for (size_t l = 0; l < blocks.size(); ++l)
      x = blocks[l]->forward(x, cache ? cache->layers[l].get() : nullptr);  // (B, T, C)
    x = ln_f(x);                                                            // (B, T, C)
    if (cache) cache->length += T;
    return s.weight_tying ? torch::linear(x, wte->weight) : lm_head(x);  // (B, T, V)
  }

  ModelOutput forward(const Batch& batch) override {
    ModelOutput out{logits(batch.input, nullptr), {}};
    if (batch.target.defined()) out.loss = cross_entropy(out.logits, batch.target);
    return out;
  }

  torch::Tensor forward_cached(const torch::Tensor& ids, DecodeCache& cache) override {
    KNLP_CHECK(cache.layers.size() == blocks.size(), "gpt2", "decode cache of {} layers for {}",
               cache.layers.size(), blocks.size());
    return logits(ids, &cache);
  }

  DecodeCache new_cache(const CacheSpec& spec) override {
    CacheSpec layer_spec = spec;
    if (layer_spec.max_len == 0) layer_spec.max_len = s.block_size;
    DecodeCache cache;
    for (auto& b : blocks) cache.layers.push_back(b->attn->new_cache(layer_spec));
    return cache;
  }

  // The base roles (decay groups), with the linear weights inside the blocks
  // prunable and each block parameter classed by the module that holds it.
  std::vector<ParamRole> param_roles() override {
    auto roles = Model::param_roles();
    std::map<const void*, ParamRole*> of;
    for (auto& r : roles) {
      r.prunable = false;  // embeddings, the head and ln_f are never pruned
      of[r.param.unsafeGetTensorImpl()] = &r;
    }
    auto mark = [&](const std::vector<torch::Tensor>& params, ParamClass cls) {
      for (const auto& p : params) {
        auto* r = of.at(p.unsafeGetTensorImpl());
        r->cls = cls;
        r->prunable = p.dim() == 2;
      }
    };
    for (auto& b : blocks) {
      mark(b->attn->parameters(), ParamClass::kAttention);
      if (auto recip = b->attn->coupling()) mark(recip->parameters(), ParamClass::kCoupling);
      mark(b->mlp->parameters(), ParamClass::kMlp);
      mark(b->mlp->coupling_parameters(), ParamClass::kCoupling);
    }
    return roles;
  }

  int64_t block_size() const override { return s.block_size; }
  int64_t vocab_size() const override { return s.vocab_size; }

  double flops_per_token() const override {
    int64_t n = num_params() - wpe->weight.numel();  // a lookup costs no FLOPs...
    if (!s.weight_tying) n -= wte->weight.numel();   // ...unless wte is also the head
    return 6.0 * static_cast<double>(n) +
           12.0 * static_cast<double>(s.n_layer * s.n_embd * s.block_size);
  }

  std::map<std::string, std::string> metadata() const override {
    std::map<std::string, std::string> m = {{"format", "knlp-gpt2"},
            {"n_layer", std::to_string(s.n_layer)},
            {"n_head", std::to_string(s.n_head)},
            {"n_embd", std::to_string(s.n_embd)},
            {"block_size", std::to_string(s.block_size)},
            {"vocab_size", std::to_string(s.vocab_size)},
            {"bias", s.bias ? "true" : "false"},
            {"weight_tying", s.weight_tying ? "true" : "false"},
            {"attention", s.attention},
            {"mlp", s.mlp},
            {"ratio", s.ratio ? "true" : "false"}};
    for (const auto& k : kGpt2Knobs) m[k.key] = std::to_string(s.*k.field);
    return m;
  }

  Gpt2Settings s;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  std::vector<Block> blocks;  // the blocks of h, typed
  LayerNorm ln_f{nullptr};
  torch::nn::Linear lm_head{nullptr};  // only when the head is not tied to wte
};

// The named sizes of the OpenAI release.
struct Gpt2Size {
  const char* name;
  int64_t n_layer, n_head, n_embd;
};

constexpr Gpt2Size kSizes[] = {
    {"gpt2", 12, 12, 768},         // 124M
    {"gpt2-medium", 24, 16, 1024},  // 350M
    {"gpt2-large", 36, 20, 1280},   // 774M
    {"gpt2-xl", 48, 25, 1600},      // 1558M
    {"custom", 0, 0, 0},            // n_layer, n_head and n_embd as set
};

}  // namespace

const std::vector<Gpt2Knob> kGpt2Knobs = {
    {"ra_layers", &Gpt2Settings::ra_layers},
    {"ra_heads", &Gpt2Settings::ra_heads},
    {"ra_recip_dim", &Gpt2Settings::ra_recip_dim},
    {"mla_latent", &Gpt2Settings::mla_latent},
    {"kvsplice_dim", &Gpt2Settings::kvsplice_dim},
    {"kvsplice_layers", &Gpt2Settings::kvsplice_layers},
    {"rmlp_dim", &Gpt2Settings::rmlp_dim},
};

Gpt2Settings gpt2_shape(Gpt2Settings settings) {
  const auto& z = lookup(kSizes, settings.size, "gpt2", "CONFIG_GPT2_MODEL_NAME", "size");
  if (z.n_layer == 0) return settings;  // custom
  settings.n_layer = z.n_layer;
  settings.n_head = z.n_head;
  settings.n_embd = z.n_embd;
  return settings;
}

std::shared_ptr<Attention> make_attention(const Gpt2Settings& s, int64_t layer) {
  return lookup(kAttention, s.attention, "gpt2", "attention", "variant").make(s, layer);
}

int64_t ratio_mlp_width(int64_t attention_weights, int64_t n_embd) {
  const double width = 2.5 * static_cast<double>(attention_weights) / (2.0 * n_embd);
  return std::max<int64_t>(64, 64 * std::llround(width / 64.0));
}

int64_t mlp_width(const Gpt2Settings& s, const Attention& attention) {
  if (!s.ratio) return 4 * s.n_embd;
  int64_t weights = 0;
  for (const auto& p : attention.parameters())
    if (p.dim() >= 2) weights += p.numel();
  return ratio_mlp_width(weights, s.n_embd);
}

std::shared_ptr<Model> make_gpt2(const ModelSettings& settings) {
  return std::make_shared<Gpt2>(settings);
}

}  // namespace knlp
