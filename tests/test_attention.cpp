// GPT-2 attention and MLP variants: causality, cached decode, the folded RA
// formula, RA at gate zero, KV-cache sizes, RATIO widths, pruning classes, and
// whole runs (train, checkpoint, resume, generate) of every variant.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>

#include "fixtures.h"
#include "models/attention/attention.h"
#include "prune/prune.h"
#include "train/train.h"
#include "util/fs.h"

namespace {

using knlp::Gpt2Settings;
using knlp::ModelSettings;

struct Variant {
  const char* attention;
  const char* mlp;
};

const Variant kVariants[] = {{"mha", "mlp"},       {"ra", "mlp"},  {"ra", "rmlp"},
                             {"ra_folded", "mlp"}, {"mla", "mlp"}, {"kvsplice", "mlp"},
                             {"mha", "rmlp"}};

// 4 layers, 4 heads of 8, 32 wide, block 16, vocabulary 64; RA on layers 1 and 2
// (one head), MLA latent 16, KVSplice to 8 on the last layer, R-MLP 16 of 128.
ModelSettings tiny(const Variant& v) {
  ModelSettings m;
  m.name = "gpt2";
  auto& g = m.gpt2;
  g.size = "custom";
  g.n_layer = 4;
  g.n_head = 4;
  g.n_embd = 32;
  g.block_size = 16;
  g.vocab_size = 64;
  g.dropout = 0.0;
  g.attention = v.attention;
  g.mlp = v.mlp;
  g.ra_layers = 2;
  g.ra_heads = 1;
  g.mla_latent = 16;
  g.kvsplice_dim = 8;
  g.kvsplice_layers = 1;
  g.rmlp_dim = 16;
  return m;
}

// Gates open: the reciprocal paths start (nearly) closed, which would let a
// broken reciprocal branch pass every test.
void open_gates(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters())
    if (p.key().find("recip") != std::string::npos && p.value().numel() == 1) p.value().fill_(0.7);
}

std::shared_ptr<knlp::LanguageModel> make(const ModelSettings& m, uint64_t seed = 1) {
  torch::set_num_threads(1);
  torch::manual_seed(seed);
  auto model = knlp::make_language_model(m);
  open_gates(*model);
  model->eval();
  return model;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::string name_of(const Variant& v) { return std::string(v.attention) + "+" + v.mlp; }

// q, k and v of the 4 heads of 8 channels that mha's c_attn makes of x (2, 7, 32).
std::array<torch::Tensor, 3> heads_of(knlp::CausalSelfAttentionImpl& mha, const torch::Tensor& x) {
  auto qkv = mha.c_attn(x).split(32, 2);
  auto heads = [](const torch::Tensor& t) { return t.view({2, 7, 4, 8}).transpose(1, 2); };
  return {heads(qkv[0]), heads(qkv[1]), heads(qkv[2])};
}

}  // namespace

TEST(Attention, EveryVariantIsCausal) {
  for (const auto& v : kVariants) {
    auto model = make(tiny(v));
    torch::NoGradGuard no_grad;
    auto ids = torch::randint(0, 64, {2, 12}, torch::kLong);
    auto changed = ids.clone();
    changed.narrow(1, 6, 6).random_(0, 64);
    auto a = model->forward({ids, {}}).logits, b = model->forward({changed, {}}).logits;
    EXPECT_LT(max_diff(a.narrow(1, 0, 6), b.narrow(1, 0, 6)), 1e-6) << name_of(v);
    EXPECT_GT(max_diff(a.narrow(1, 6, 6), b.narrow(1, 6, 6)), 1e-3) << name_of(v);  // it does look
  }
}

TEST(Attention, CachedDecodeEqualsFullForwardAndCacheSizesFollowTheFormula) {
  const int64_t C = 32, D = 8;
  // Values cached per token in layers 0..3 (RA: layers 1, 2 add Q and V of one head).
  const std::map<std::string, std::vector<int64_t>> per_layer = {
      {"mha", {2 * C, 2 * C, 2 * C, 2 * C}},
      {"ra", {2 * C, 2 * C + 2 * D, 2 * C + 2 * D, 2 * C}},
      {"ra_folded", {2 * C, 2 * C, 2 * C, 2 * C}},
      {"mla", {16, 16, 16, 16}},
      {"kvsplice", {16, 16, 16, 8}}};
  for (const auto& v : kVariants) {
    auto model = make(tiny(v));
    torch::NoGradGuard no_grad;
    auto ids = torch::randint(0, 64, {2, 14}, torch::kLong);
    auto full = model->forward({ids, {}}).logits;  // (2, 14, V)
    knlp::CacheSpec spec;
    spec.batch = 2;
    auto cache = model->new_cache(spec);
    // A 5-token prefill (causal), a 3-token chunk (masked), then one at a time.
    std::vector<torch::Tensor> parts = {model->forward_cached(ids.narrow(1, 0, 5), cache),
                                        model->forward_cached(ids.narrow(1, 5, 3), cache)};
    for (int64_t t = 8; t < 14; ++t)
      parts.push_back(model->forward_cached(ids.narrow(1, t, 1), cache));
    // Same math through different SDPA kernels and a re-expanded latent: fp32 rounding.
    EXPECT_LT(max_diff(torch::cat(parts, 1), full), 1e-5) << name_of(v);
    const auto& values = per_layer.at(v.attention);
    for (size_t l = 0; l < values.size(); ++l)  // 2 rows, 16 positions, 4 bytes
      EXPECT_EQ(cache.layers[l]->bytes(), values[l] * 2 * 16 * 4) << name_of(v) << " layer " << l;
  }
}

TEST(Attention, CompressionOf124MIsTheReferences) {
  // gpt2.md 3.1 and 4.2: MLA at latent 256 caches 6x less than standard
  // attention; KVSplice (128) on the last 4 of 12 layers, 7.2x.
  auto ratio = [](const std::string& attention) {
    Gpt2Settings s;  // 124M: 12 layers, 12 heads, 768 wide
    s.attention = attention;
    int64_t values = 0;
    knlp::CacheSpec spec;
    spec.max_len = 1;
    for (int64_t l = 0; l < s.n_layer; ++l) {
      auto a = knlp::make_attention(s, l);
      EXPECT_EQ(a->new_cache(spec)->bytes(), 4 * a->cache_values_per_token());
      values += a->cache_values_per_token();
    }
    return static_cast<double>(2 * 768 * 12) / static_cast<double>(values);
  };
  EXPECT_DOUBLE_EQ(ratio("mha"), 1.0);
  EXPECT_DOUBLE_EQ(ratio("mla"), 6.0);
  EXPECT_NEAR(ratio("kvsplice"), 7.2, 1e-12);  // 1536 / ((8 * 256 + 4 * 128) / 12)
}

TEST(Attention, FoldedRaEqualsTheTwoScoreFormula) {
  Gpt2Settings s = tiny({"ra_folded", "mlp"}).gpt2;
  s.ra_recip_dim = 3;
  torch::manual_seed(3);
  auto att = knlp::make_attention(s, 0);
  auto gates = att->coupling()->named_parameters();
  torch::NoGradGuard no_grad;
  gates["w_std"].uniform_(0.2, 1.5);
  gates["w_rec"].uniform_(0.2, 1.5);
  att->eval();
  auto x = torch::randn({2, 7, 32});
  // Explicit: S = (w_std q_std.k_std + w_rec q_low.k_low) / sqrt(D) per head, causal.
  auto& mha = dynamic_cast<knlp::CausalSelfAttentionImpl&>(*att);
  auto [q, k, v] = heads_of(mha, x);  // (2, 4, 7, 8) each
  auto score = [](const torch::Tensor& a, const torch::Tensor& b) {
    return torch::matmul(a, b.transpose(-2, -1));  // (2, 4, 7, 7)
  };
  auto w_std = gates["w_std"].view({1, 4, 1, 1}), w_rec = gates["w_rec"].view({1, 4, 1, 1});
  auto s_all = (w_std * score(q.narrow(3, 0, 5), k.narrow(3, 0, 5)) +
                w_rec * score(q.narrow(3, 5, 3), k.narrow(3, 5, 3))) /
               std::sqrt(8.0);
  auto mask = torch::ones({7, 7}, torch::kBool).tril();
  auto p = torch::softmax(s_all.masked_fill(mask.logical_not(), -INFINITY), -1);
  auto expected = mha.c_proj(knlp::merge_heads(torch::matmul(p, v)));  // (2, 7, 32)
  EXPECT_LT(max_diff(att->forward(x, nullptr), expected), 1e-5);
}

TEST(Attention, LearnedRaAddsTheSwappedScoreBranch) {
  // Layer 1 is an RA layer of tiny(): y = c_proj(heads + tanh(rho) LN(W y_rec)), where
  // the last head's y_rec[i] = sum_j<=i softmax_j(k_i . q_j / sqrt(D)) v_j.
  Gpt2Settings s = tiny({"ra", "mlp"}).gpt2;
  torch::manual_seed(4);
  auto att = knlp::make_attention(s, 1);
  auto recip = att->coupling()->named_parameters();
  torch::NoGradGuard no_grad;
  recip["gate"].fill_(0.9);
  recip["ln.weight"].uniform_(0.5, 1.5);
  att->eval();
  auto x = torch::randn({2, 7, 32});
  auto& mha = dynamic_cast<knlp::CausalSelfAttentionImpl&>(*att);
  auto [q, k, v] = heads_of(mha, x);  // (2, 4, 7, 8) each
  auto causal = [](const torch::Tensor& s) {
    auto mask = torch::ones({7, 7}, torch::kBool).tril();
    return torch::softmax(s.masked_fill(mask.logical_not(), -INFINITY), -1);
  };
  auto y = knlp::merge_heads(
      torch::matmul(causal(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0)), v));
  auto q3 = q.narrow(1, 3, 1), k3 = k.narrow(1, 3, 1), v3 = v.narrow(1, 3, 1);  // (2, 1, 7, 8)
  auto y_rec = torch::matmul(causal(torch::matmul(k3, q3.transpose(-2, -1)) / std::sqrt(8.0)), v3)
                   .squeeze(1);  // (2, 7, 8)
  auto branch = torch::layer_norm(torch::linear(y_rec, recip["proj.weight"], recip["proj.bias"]),
                                  {32}, recip["ln.weight"], recip["ln.bias"]);
  auto expected = mha.c_proj(y + std::tanh(0.9) * branch);  // (2, 7, 32)
  EXPECT_LT(max_diff(att->forward(x, nullptr), expected), 1e-5);
}

TEST(Attention, RaWithAZeroGateIsStandardAttention) {
  auto base = make(tiny({"mha", "mlp"}));
  auto ra = make(tiny({"ra", "mlp"}), 2);
  torch::NoGradGuard no_grad;
  auto theirs = base->named_parameters();
  int64_t recip = 0;
  for (auto& p : ra->named_parameters()) {
    if (theirs.contains(p.key()))
      p.value().copy_(theirs[p.key()]);
    else
      recip += p.key().find(".recip.") != std::string::npos;
  }
  EXPECT_EQ(recip, 2 * 5);  // layers 1, 2: proj weight and bias, ln weight and bias, gate
  auto ids = torch::randint(0, 64, {2, 12}, torch::kLong);
  auto want = base->forward({ids, {}}).logits;
  auto params = ra->named_parameters();
  EXPECT_GT(max_diff(ra->forward({ids, {}}).logits, want), 1e-4);  // gates opened at 0.7
  for (const char* g : {"h.1.recip.gate", "h.2.recip.gate"}) params[g].zero_();
  EXPECT_LT(max_diff(ra->forward({ids, {}}).logits, want), 1e-6);
}

TEST(Attention, RatioGivesTheReferenceWidths) {
  // gpt2.md 5: 2.5 x 2.36M attention weights / 1536 = 3840; MLA's 1.57M (latent
  // 128, Oct 2025 layout) = 2560; every width a multiple of 64.
  EXPECT_EQ(knlp::ratio_mlp_width(4 * 768 * 768, 768), 3840);
  EXPECT_EQ(knlp::ratio_mlp_width(1572864, 768), 2560);
  Gpt2Settings s;
  s.ratio = true;
  EXPECT_EQ(knlp::mlp_width(s, *knlp::make_attention(s, 0)), 3840);
  s.attention = "mla";  // 2 C^2 + 3 C 256 = 1,769,472 weights -> 2880
  EXPECT_EQ(knlp::mlp_width(s, *knlp::make_attention(s, 0)), 2880);
  s.ratio = false;
  EXPECT_EQ(knlp::mlp_width(s, *knlp::make_attention(s, 0)), 4 * 768);
}

TEST(Attention, ReciprocalWeightsAreCouplingForPruning) {
  for (const Variant& v : {Variant{"ra", "rmlp"}, Variant{"ra_folded", "rmlp"}}) {
    auto model = make(tiny(v));
    int64_t coupling = 0;
    for (const auto& r : model->param_roles()) {
      const bool recip = r.name.find("recip") != std::string::npos;
      EXPECT_EQ(r.cls == knlp::ParamClass::kCoupling, recip) << r.name;
      if (!recip) {
        const bool attn = r.name.find(".attn.") != std::string::npos;
        const bool mlp = r.name.find(".mlp.") != std::string::npos;
        EXPECT_EQ(r.cls, attn ? knlp::ParamClass::kAttention
                              : (mlp ? knlp::ParamClass::kMlp : knlp::ParamClass::kOther))
            << r.name;
      }
      // Only the 2-D weights inside the blocks are prunable.
      EXPECT_EQ(r.prunable, r.name.rfind("h.", 0) == 0 && r.param.dim() == 2) << r.name;
      coupling += recip;
    }
    EXPECT_GT(coupling, 4) << name_of(v);
  }
}

TEST(Attention, ExportedWeightsRebuildTheVariant) {
  const auto dir = knlp::test::temp_dir("attention-weights");
  for (const auto& v : kVariants) {
    auto m = tiny(v);
    auto model = make(m);
    knlp::save_weights(*model, dir / "w.safetensors");
    // A shape from the file alone (other knobs than the defaults) builds the same model.
    ModelSettings again;
    again.name = "gpt2";
    again.gpt2 = knlp::weights_shape(dir / "w.safetensors", Gpt2Settings{});
    EXPECT_EQ(again.gpt2.attention, v.attention);
    EXPECT_EQ(again.gpt2.mla_latent, 16);
    auto copy = knlp::make_language_model(again);
    knlp::load_weights(*copy, dir / "w.safetensors");
    copy->eval();
    torch::NoGradGuard no_grad;
    auto ids = torch::randint(0, 64, {1, 9}, torch::kLong);
    EXPECT_EQ(max_diff(copy->forward({ids, {}}).logits, model->forward({ids, {}}).logits), 0.0)
        << name_of(v);
  }
  std::filesystem::remove_all(dir);
}

TEST(Attention, EveryVariantTrainsResumesAndGenerates) {
  const auto root = knlp::test::temp_dir("attention");
  knlp::test::write_cyclic_tokens(root / "data", 4000, 1000, 16, 64);
  knlp::RunOptions o;
  o.progress = false;
  o.plot = false;
  for (const auto& v : kVariants) {
    auto cfg = knlp::test::tiny_gpt2_config(root / "data", root / "out", 10);
    for (const std::string line :
         {"GPT2_N_LAYER=4", "GPT2_KNLP_RA_LAYERS=2", "MLA_D_LATENT=16", "MLA_KV_FIM_LAYERS=1",
          "GPT2_RMLP_DIM=16", "GPT2_EVAL_INTERVAL=5"})
      cfg.set(line);
    cfg.set(fmt::format("GPT2_ATTENTION=\"{}\"", v.attention));
    cfg.set(fmt::format("GPT2_MLP=\"{}\"", v.mlp));
    const auto dir = root / (std::string(v.attention) + "_" + v.mlp);
    o.run_dir = dir / "straight";
    o.stop_after_steps = 0;
    o.resume = false;
    ASSERT_EQ(knlp::run_training(cfg, o).status, "done") << name_of(v);
    o.run_dir = dir / "split";
    o.stop_after_steps = 6;
    knlp::run_training(cfg, o);
    o.stop_after_steps = 0;
    o.resume = true;
    ASSERT_EQ(knlp::run_training(cfg, o).status, "done") << name_of(v);
    auto a = nlohmann::json::parse(knlp::read_file(dir / "straight" / "metrics.json"));
    auto b = nlohmann::json::parse(knlp::read_file(dir / "split" / "metrics.json"));
    EXPECT_EQ(a["summary"]["best_val_loss"], b["summary"]["best_val_loss"]) << name_of(v);
    EXPECT_LT(a["summary"]["best_val_loss"].get<double>(), std::log(64.0) - 0.5) << name_of(v);
    auto trained = knlp::load_trained_model(dir / "split", "best", torch::kCPU);
    EXPECT_EQ(trained.settings.model.gpt2.attention, v.attention);
    knlp::SampleOptions so;
    so.max_new_tokens = 20;  // past the block of 16: the cache restarts once
    EXPECT_EQ(knlp::generate(*trained.model, {1, 2, 3}, so).size(), 20u) << name_of(v);
  }
  std::filesystem::remove_all(root);
}
