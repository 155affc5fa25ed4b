// config/resolve_kv.cpp - the KV cache symbols (Kconfig.kv) to KvSettings.
//
// The K and V format choices reach .config as the hidden strings KV_K_FORMAT
// and KV_V_FORMAT; the build-time switches (KV_CUDA, KV_HIP) are read by
// CMake, not here.
#include "config/config.h"
#include "util/check.h"
#include "util/registry.h"  // find_row, accepted_names

namespace knlp {

namespace {

// The names of kv/quantize.cpp's format table, which config/ may not include.
void check_format(const std::string& name, const char* symbol) {
  static const char* kFormats[] = {"fp32", "bf16", "int8", "int4"};
  KNLP_CHECK_INPUT(find_row(kFormats, name), symbol, "unknown KV cache format '{}'; accepted: {}",
                   name, accepted_names(kFormats));
}

}  // namespace

KvSettings resolve_kv(const Config& cfg) {
  KvSettings kv;
  kv.k_format = cfg.get_string("KV_K_FORMAT", kv.k_format);
  kv.v_format = cfg.get_string("KV_V_FORMAT", kv.v_format);
  check_format(kv.k_format, "CONFIG_KV_K_FORMAT");
  check_format(kv.v_format, "CONFIG_KV_V_FORMAT");
  kv.fused = cfg.has("KV_FUSED") ? cfg.get_bool("KV_FUSED") : kv.fused;
  return kv;
}

}  // namespace knlp
