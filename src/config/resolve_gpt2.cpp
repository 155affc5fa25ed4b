// config/resolve_gpt2.cpp - the GPT-2 symbols (Kconfig.gpt2) to typed settings.
#include <fmt/format.h>

#include "config/config.h"
#include "util/check.h"

namespace knlp {

namespace {

// The float in a string symbol, checked to lie in [lo, hi].
double float_in(const Config& cfg, const char* sym, double lo, double hi) {
  const double v = cfg.get_float(sym);
  KNLP_CHECK_INPUT(v >= lo && v <= hi, fmt::format("CONFIG_{}", sym),
                   "{} is out of range; accepted: {}..{}", v, lo, hi);
  return v;
}

Gpt2Settings resolve_shape(const Config& cfg) {
  Gpt2Settings g;
  g.size = cfg.get_string("GPT2_MODEL_NAME");
  if (g.size == "custom") {
    g.n_layer = cfg.get_int("GPT2_N_LAYER");
    g.n_head = cfg.get_int("GPT2_N_HEAD");
    g.n_embd = cfg.get_int("GPT2_N_EMBD");
    KNLP_CHECK_INPUT(g.n_embd % g.n_head == 0, "CONFIG_GPT2_N_HEAD",
                     "{} heads do not divide the width {} (CONFIG_GPT2_N_EMBD)", g.n_head,
                     g.n_embd);
  }
  g.block_size = cfg.get_int("GPT2_BLOCK_SIZE");
  g.vocab_size = cfg.get_int("GPT2_VOCAB_SIZE");
  g.dropout = float_in(cfg, "GPT2_DROPOUT", 0.0, 0.99);
  g.bias = cfg.get_bool("GPT2_BIAS");
  g.weight_tying = cfg.get_bool("GPT2_WEIGHT_TYING");
  return g;
}

// The language-model task's own settings, and its part of the loop's: steps,
// time budget, warmup and decay, accumulation, logging, mixed precision.
LmSettings resolve_lm(const Config& cfg, TrainSettings& t, double lr) {
  LmSettings l;
  t.max_steps = cfg.get_int("GPT2_MAX_ITERS");
  t.max_time_s = cfg.get_int("GPT2_MAX_TIME");
  t.gradient_accumulation = cfg.get_int("GPT2_GRADIENT_ACCUMULATION");
  t.warmup_steps = cfg.get_int("GPT2_WARMUP_STEPS");
  // An optimizer with its own cosine (AdamWAdv's ADV_COSINE_*) has set it already.
  if (t.lr_schedule != "cosine" && cfg.get_bool("GPT2_DECAY_LR")) {
    t.lr_schedule = "cosine";
    t.lr_min = float_in(cfg, "GPT2_MIN_LR", 0.0, lr);
  }
  t.log_interval = cfg.get_int("GPT2_LOG_INTERVAL");
  if (cfg.get_bool("MIXED_PRECISION")) {
    t.amp_dtype = cfg.get_string("GPT2_AMP_DTYPE");
    KNLP_CHECK_INPUT(t.amp_dtype == "bfloat16", "CONFIG_GPT2_AMP_DTYPE",
                     "'{}' is not supported (float16 needs a gradient scaler); accepted: "
                     "bfloat16, or CONFIG_MIXED_PRECISION=n for fp32",
                     t.amp_dtype);
  }
  l.eval_interval = cfg.get_int("GPT2_EVAL_INTERVAL");
  l.eval_samples = cfg.get_int("GPT2_EVAL_SAMPLES");
  l.tf32 = cfg.get_bool("GPT2_TF32_ALLOWED");
  l.init_from = cfg.get_string("GPT2_INIT_FROM");
  return l;
}

GenerateSettings resolve_generate(const Config& cfg) {
  GenerateSettings g;
  g.temperature = float_in(cfg, "GPT2_GENERATION_TEMPERATURE", 0.0, 100.0);
  g.top_k = cfg.get_int("GPT2_GENERATION_TOP_K");
  g.max_new_tokens = cfg.get_int("GPT2_GENERATION_MAX_TOKENS");
  return g;
}

}  // namespace

void resolve_gpt2(const Config& cfg, RunSettings& s) {
  s.model.gpt2 = resolve_shape(cfg);
  resolve_attention(cfg, s.model.gpt2);
  s.lm = resolve_lm(cfg, s.train, s.optim.lr);
  s.generate = resolve_generate(cfg);
  s.data.tokens = s.data.dataset == "custom" ? std::filesystem::path(
                                                   cfg.get_string("GPT2_CUSTOM_DATASET_PATH"))
                                             : s.data.dir / s.data.dataset;
}

}  // namespace knlp
