// config/resolve_attention.cpp - the attention and MLP variant of GPT-2
// (Kconfig.attention) to Gpt2Settings. A knob absent from the .config (its
// variant not chosen) keeps the default of Gpt2Settings.
#include <cmath>

#include "config/config.h"
#include "util/check.h"

namespace knlp {

void resolve_attention(const Config& cfg, Gpt2Settings& g) {
  g.attention = cfg.get_string("GPT2_ATTENTION", g.attention);
  g.mlp = cfg.get_string("GPT2_MLP", g.mlp);
  g.ra_layers = cfg.get_int("GPT2_KNLP_RA_LAYERS", g.ra_layers);
  g.ra_heads = cfg.get_int("GPT2_KNLP_RA_HEADS", g.ra_heads);
  g.ra_recip_dim = cfg.get_int("GPT2_RA_RECIP_DIM", g.ra_recip_dim);
  g.mla_latent = cfg.get_int("MLA_D_LATENT", g.mla_latent);
  const double ratio = cfg.get_float("MLA_COMPRESSION_RATIO", 0.5);
  KNLP_CHECK_INPUT(ratio > 0.0 && ratio <= 1.0, "CONFIG_MLA_COMPRESSION_RATIO",
                   "{} is out of range; accepted: above 0 and up to 1", ratio);
  g.kvsplice_dim = std::max<int64_t>(1, std::llround(ratio * static_cast<double>(g.mla_latent)));
  g.kvsplice_layers = cfg.get_int("MLA_KV_FIM_LAYERS", g.kvsplice_layers);
  g.rmlp_dim = cfg.get_int("GPT2_RMLP_DIM", g.rmlp_dim);
  g.ratio = cfg.get_bool("GPT2_RATIO");
}

}  // namespace knlp
