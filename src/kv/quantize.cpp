// kv/quantize.cpp - the format table, K/V spec names, and packing with torch ops.
//
// Symmetric per-group quantization (reference §6.1): for every 32 channels of
// a row, s = absmax / qmax rounded to FP16, q = round_half_away(x / s) clamped
// to [-qmax - 1, qmax]; int4 stores q + 8 in a nibble, channel 2i low. The
// scale used for q is the rounded FP16 one, so |x - q s| <= s / 2 holds for
// every element whose group scale is a normal FP16 number. (The Python
// original also clips outliers to 10x the mean magnitude before taking the
// absmax; that breaks the s / 2 bound, so it is left out here.)
#include <fmt/format.h>

#include "kv/kv.h"
#include "util/check.h"
#include "util/registry.h"  // find_row, accepted_names

namespace knlp {

namespace {

// Indexed by KvFormat's value.
constexpr KvFormatInfo kFormats[] = {
    {"fp32", KvFormat::kFp32, 32, 0},
    {"bf16", KvFormat::kBf16, 16, 0},
    {"int8", KvFormat::kInt8, 8, 127},
    {"int4", KvFormat::kInt4, 4, 7},
};

const KvFormatInfo* format_by_bits(int bits) {
  for (const auto& f : kFormats)
    if (f.bits == bits) return &f;
  return nullptr;
}


// round(y) with halves away from zero, exactly: y - trunc(y) is exact in float.
torch::Tensor round_half_away(const torch::Tensor& y) {
  auto t = y.trunc();
  return t + torch::sign(y) * (y - t).abs().ge(0.5).to(y.scalar_type());
}

}  // namespace

const KvFormatInfo& kv_format_info(KvFormat f) { return kFormats[static_cast<int>(f)]; }

KvSpec kv_spec_from_name(std::string_view name, std::string_view subject) {
  if (const auto* f = find_row(kFormats, name)) return {f->format, f->format};
  int k = 0, v = 0, used = 0;
  const std::string s(name);
  if (std::sscanf(s.c_str(), "k%dv%d%n", &k, &v, &used) == 2 && used == static_cast<int>(s.size()))
    if (const auto *fk = format_by_bits(k), *fv = format_by_bits(v); fk && fv)
      return {fk->format, fv->format};
  raise(__FILE__, __LINE__, subject,
        fmt::format("unknown KV cache format '{}'; accepted: {}, or k<bits>v<bits> with bits "
                    "32, 16, 8 or 4 (k8v4)",
                    name, accepted_names(kFormats)),
        ExitCode::kBadInput);
}

std::string kv_spec_name(KvSpec spec) {
  if (spec.k == spec.v) return std::string(kv_format_info(spec.k).name);
  return fmt::format("k{}v{}", kv_format_info(spec.k).bits, kv_format_info(spec.v).bits);
}

int64_t kv_bytes_per_row(KvFormat f, int64_t head_dim) {
  return kv::row_bytes(f, head_dim) + (kv::has_scales(f) ? 2 * head_dim / kv::kGroup : 0);
}

KvPacked kv_quantize(const torch::Tensor& x, KvFormat f) {
  const int64_t D = x.size(-1);
  KNLP_CHECK(D % kv::kGroup == 0, "kv", "head_dim {} is not a multiple of {}", D, kv::kGroup);
  auto xf = x.to(torch::kFloat).contiguous();
  if (f == KvFormat::kFp32) return {xf, {}};
  if (f == KvFormat::kBf16) return {xf.to(torch::kBFloat16), {}};
  const double qmax = kv_format_info(f).max_q;
  auto g = xf.unflatten(-1, {D / kv::kGroup, kv::kGroup});              // (..., G, 32)
  auto scales = (g.abs().amax(-1) / qmax).clamp_max(65504.).to(torch::kHalf);  // (..., G)
  auto s = scales.to(torch::kFloat).unsqueeze(-1);                       // (..., G, 1)
  auto q = torch::where(s > 0, round_half_away(g / s), torch::zeros_like(g));
  q = q.clamp(-qmax - 1, qmax).to(torch::kInt8).flatten(-2);            // (..., D)
  return {f == KvFormat::kInt4 ? kv_pack_int4(q) : q, scales};
}

torch::Tensor kv_dequantize(const KvPacked& p, KvFormat f) {
  if (!kv::has_scales(f)) return p.data.to(torch::kFloat);
  auto q = f == KvFormat::kInt4 ? kv_unpack_int4(p.data) : p.data;     // (..., D) int8
  auto g = q.to(torch::kFloat).unflatten(-1, {-1, kv::kGroup});         // (..., G, 32)
  return (g * p.scales.to(torch::kFloat).unsqueeze(-1)).flatten(-2);    // (..., D)
}

torch::Tensor kv_pack_int4(const torch::Tensor& q) {
  auto n = (q.to(torch::kInt16) + 8).to(torch::kUInt8).unflatten(-1, {-1, 2});  // (..., D/2, 2)
  return n.select(-1, 0).bitwise_or(n.select(-1, 1).bitwise_left_shift(4));     // (..., D/2)
}

torch::Tensor kv_unpack_int4(const torch::Tensor& packed) {
  auto lo = packed.bitwise_and(15), hi = packed.bitwise_right_shift(4);  // (..., D/2) each
  return (torch::stack({lo, hi}, -1).flatten(-2).to(torch::kInt8) - 8);  // (..., D)
}

}  // namespace knlp
