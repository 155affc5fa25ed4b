// GPT-2: sizes, causality, learning, cached decode, sampling, safetensors.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "models/models.h"
#include "util/check.h"

namespace {

using knlp::Batch;
using knlp::ModelSettings;

// 2 layers, 2 heads, 32 wide, block 16, vocabulary 64: milliseconds per step.
ModelSettings tiny(double dropout = 0.0, bool tied = true) {
  ModelSettings m;
  m.name = "gpt2";
  m.gpt2.size = "custom";
  m.gpt2.n_layer = 2;
  m.gpt2.n_head = 2;
  m.gpt2.n_embd = 32;
  m.gpt2.block_size = 16;
  m.gpt2.vocab_size = 64;
  m.gpt2.dropout = dropout;
  m.gpt2.weight_tying = tied;
  return m;
}

std::shared_ptr<knlp::LanguageModel> make(const ModelSettings& m, uint64_t seed = 1) {
  torch::set_num_threads(1);  // tiny tensors: threads only add contention under ctest -j
  torch::manual_seed(seed);
  auto model = knlp::make_language_model(m);
  model->eval();
  return model;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST(Gpt2, ParameterCountOf124MMatchesTheReference) {
  ModelSettings m;
  m.name = "gpt2";  // the defaults: 124M, block 1024, vocab 50304, tied
  auto model = make(m);
  // gpt2.md §1.1: 124,475,904 with vocab 50304, tied; wpe (1024 x 768) is the
  // only embedding the "non-embedding" count leaves out.
  EXPECT_EQ(model->num_params(), 124475904);
  EXPECT_DOUBLE_EQ(model->flops_per_token(), 6.0 * 123689472 + 12.0 * 12 * 768 * 1024);
  auto p = model->named_parameters();
  EXPECT_EQ(p["wte.weight"].sizes(), (std::vector<int64_t>{50304, 768}));
  EXPECT_EQ(p["wpe.weight"].sizes(), (std::vector<int64_t>{1024, 768}));
  EXPECT_EQ(p["h.11.attn.c_attn.weight"].sizes(), (std::vector<int64_t>{2304, 768}));
  EXPECT_EQ(p["h.11.mlp.c_fc.weight"].sizes(), (std::vector<int64_t>{3072, 768}));
  EXPECT_FALSE(p.contains("lm_head.weight"));  // tied: the head is wte
  // nanoGPT's init: residual projections at 0.02 / sqrt(2 * 12) = 0.00408.
  EXPECT_NEAR(p["h.0.attn.c_proj.weight"].std().item<double>(), 0.02 / std::sqrt(24.0), 2e-4);
  EXPECT_NEAR(p["h.0.attn.c_attn.weight"].std().item<double>(), 0.02, 2e-4);
  torch::NoGradGuard no_grad;
  auto out = model->forward({torch::randint(0, 50257, {2, 8}, torch::kLong), {}});
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 8, 50304}));
}

TEST(Gpt2, NamedSizesAndUntiedCount) {
  knlp::Gpt2Settings g;
  g.size = "gpt2-xl";
  auto xl = knlp::gpt2_shape(g);
  EXPECT_EQ(xl.n_layer, 48);
  EXPECT_EQ(xl.n_head, 25);
  EXPECT_EQ(xl.n_embd, 1600);
  g.size = "gpt3";
  EXPECT_THROW(knlp::gpt2_shape(g), knlp::Error);
  // Untying adds a V x C head: 64 * 32 more parameters than the tied model.
  EXPECT_EQ(make(tiny(0.0, false))->num_params() - make(tiny())->num_params(), 64 * 32);
}

TEST(Gpt2, ALaterTokenNeverChangesEarlierLogits) {
  auto model = make(tiny());
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 64, {1, 12}, torch::kLong);
  auto changed = ids.clone();
  changed[0][6] = (ids[0][6].item<int64_t>() + 1) % 64;
  auto a = model->forward({ids, {}}).logits, b = model->forward({changed, {}}).logits;
  // fp32 CPU; the masked terms contribute exact zeros, so 1e-6 is rounding only.
  EXPECT_LT(max_diff(a.narrow(1, 0, 6), b.narrow(1, 0, 6)), 1e-6);
  EXPECT_GT(max_diff(a.narrow(1, 6, 6), b.narrow(1, 6, 6)), 1e-3);  // the input matters
}

TEST(Gpt2, OverfitsOneBatch) {
  auto model = make(tiny(), 2);
  model->train();
  auto x = torch::randint(0, 64, {4, 16}, torch::kLong);
  auto y = torch::randint(0, 64, {4, 16}, torch::kLong);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int i = 0; i < 200; ++i) {
    opt.zero_grad();
    auto loss = model->forward({x, y}).loss;
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_NEAR(first, std::log(64.0), 0.3);  // uniform at init
  EXPECT_LT(last, 0.05);                    // 64 random targets memorised
}

TEST(Gpt2, CachedDecodeEqualsFullForward) {
  auto model = make(tiny());
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 64, {2, 14}, torch::kLong);
  auto full = model->forward({ids, {}}).logits;  // (2, 14, V)
  knlp::CacheSpec spec;
  spec.batch = 2;
  auto cache = model->new_cache(spec);
  // A 5-token prefill (causal), a 3-token chunk after it (masked), then one at a time.
  std::vector<torch::Tensor> parts = {model->forward_cached(ids.narrow(1, 0, 5), cache),
                                      model->forward_cached(ids.narrow(1, 5, 3), cache)};
  for (int64_t t = 8; t < 14; ++t) parts.push_back(model->forward_cached(ids.narrow(1, t, 1), cache));
  auto cached = torch::cat(parts, 1);
  EXPECT_EQ(cache.length, 14);
  // Same math, different SDPA kernels (causal, masked, single query): fp32 rounding.
  EXPECT_LT(max_diff(cached, full), 1e-5);
  // Dense K and V for 2 rows, 2 heads, 16 positions, 16 channels, fp32, per layer.
  EXPECT_EQ(cache.layers[0]->bytes(), 2 * 2 * 2 * 16 * 16 * 4);
  EXPECT_THROW(model->forward_cached(ids.narrow(1, 0, 3), cache), knlp::Error);  // 17 > 16
}

TEST(Gpt2, GenerateFollowsALearnedCycleAndNeverSamplesPadding) {
  // Each id of a 16-cycle determines the next; teach it, then decode past the block.
  auto model = make(tiny(), 3);
  model->train();
  auto cycle = torch::randperm(64, torch::kLong).narrow(0, 0, 16);
  auto seq = cycle.repeat({3});  // (48)
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-2));
  for (int i = 0; i < 150; ++i) {
    auto start = torch::randint(0, 31, {8}, torch::kLong);
    std::vector<torch::Tensor> xs, ys;
    for (int b = 0; b < 8; ++b) {
      xs.push_back(seq.narrow(0, start[b].item<int64_t>(), 16));
      ys.push_back(seq.narrow(0, start[b].item<int64_t>() + 1, 16));
    }
    opt.zero_grad();
    model->forward({torch::stack(xs), torch::stack(ys)}).loss.backward();
    opt.step();
  }
  std::vector<int32_t> prompt;
  for (int i = 0; i < 3; ++i) prompt.push_back(static_cast<int32_t>(cycle[i].item<int64_t>()));
  knlp::SampleOptions o;
  o.temperature = 0;
  o.max_new_tokens = 40;  // 3 + 40 > block 16: the context is cut in half twice
  auto out = knlp::generate(*model, prompt, o);
  ASSERT_EQ(out.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(out[i], cycle[(3 + i) % 16].item<int64_t>()) << i;

  o.temperature = 1.0;
  o.top_k = 0;
  o.vocab_limit = 20;  // as if ids 20..63 were vocabulary padding
  o.seed = 9;
  for (int32_t id : knlp::generate(*model, prompt, o)) EXPECT_LT(id, 20);
  o.stop_token = static_cast<int32_t>(cycle[3].item<int64_t>());
  o.temperature = 0;
  o.vocab_limit = 0;
  EXPECT_EQ(knlp::generate(*model, prompt, o).size(), 1u);  // stops at end of text
}

TEST(Gpt2, SafetensorsRoundTripWithHuggingFaceLayout) {
  auto dir = knlp::test::temp_dir("gpt2-st");
  for (bool tied : {true, false}) {
    auto a = make(tiny(0.0, tied), 4), b = make(tiny(0.0, tied), 5);
    const auto path = dir / (tied ? "tied.safetensors" : "untied.safetensors");
    knlp::save_weights(*a, path);
    auto st = knlp::read_safetensors(path);
    auto pa = a->named_parameters();
    // HF's Conv1D layout: block linear weights are stored (in, out).
    EXPECT_TRUE(st.tensors.at("h.1.attn.c_attn.weight").equal(pa["h.1.attn.c_attn.weight"].t()));
    EXPECT_TRUE(st.tensors.at("wte.weight").equal(pa["wte.weight"]));
    EXPECT_EQ(st.tensors.count("lm_head.weight"), tied ? 0u : 1u);
    EXPECT_EQ(st.metadata.at("n_head"), "2");
    auto shape = knlp::weights_shape(path, {});
    EXPECT_EQ(shape.n_layer, 2);
    EXPECT_EQ(shape.n_head, 2);
    EXPECT_EQ(shape.n_embd, 32);
    EXPECT_EQ(shape.block_size, 16);
    EXPECT_EQ(shape.vocab_size, 64);
    EXPECT_EQ(shape.weight_tying, tied);

    torch::NoGradGuard no_grad;
    auto ids = torch::randint(0, 64, {1, 10}, torch::kLong);
    EXPECT_GT(max_diff(a->forward({ids, {}}).logits, b->forward({ids, {}}).logits), 1e-3);
    knlp::load_weights(*b, path);
    EXPECT_TRUE(a->forward({ids, {}}).logits.equal(b->forward({ids, {}}).logits));
  }
  // A model of another width refuses the file, naming the tensor.
  auto wide = tiny();
  wide.gpt2.n_embd = 48;
  auto c = make(wide);
  try {
    knlp::load_weights(*c, dir / "tied.safetensors");
    FAIL() << "loaded weights of the wrong shape";
  } catch (const knlp::Error& e) {
    EXPECT_NE(e.message().find("in the file"), std::string::npos) << e.message();
  }
  std::filesystem::remove_all(dir);
}
