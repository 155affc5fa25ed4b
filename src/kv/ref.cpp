// kv/ref.cpp - the scalar reference: quantize, dequantize and attention as
// plain loops, one element at a time, for the tests to check every kernel
// (and the torch-op packing) against. Slow on purpose: nothing clever here.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <vector>

#include "kv/kv.h"
#include "util/check.h"

namespace knlp::kv_ref {

namespace {

// One row of D channels in format f: data (row bytes) and scales (D/32 halves).
void quantize_row(const float* x, int64_t D, KvFormat f, uint8_t* data, c10::Half* scales) {
  const double qmax = kv_format_info(f).max_q;
  for (int64_t g = 0; g < D / kv::kGroup; g++) {
    float amax = 0.f;
    for (int64_t c = g * kv::kGroup; c < (g + 1) * kv::kGroup; c++) amax = std::max(amax, std::fabs(x[c]));
    const c10::Half s_half(std::min(amax / static_cast<float>(qmax), 65504.f));
    const float s = s_half;
    scales[g] = s_half;
    for (int64_t c = g * kv::kGroup; c < (g + 1) * kv::kGroup; c++) {
      const float q = s > 0 ? std::round(x[c] / s) : 0.f;
      const int v = static_cast<int>(std::min<double>(std::max<double>(q, -qmax - 1), qmax));
      if (f == KvFormat::kInt8)
        reinterpret_cast<int8_t*>(data)[c] = static_cast<int8_t>(v);
      else if (c % 2 == 0)
        data[c / 2] = static_cast<uint8_t>(v + 8);
      else
        data[c / 2] |= static_cast<uint8_t>((v + 8) << 4);
    }
  }
}

float dequantize_one(const uint8_t* data, const c10::Half* scales, KvFormat f, int64_t c) {
  switch (f) {
    case KvFormat::kFp32:
      return reinterpret_cast<const float*>(data)[c];
    case KvFormat::kBf16:
      return reinterpret_cast<const c10::BFloat16*>(data)[c];
    case KvFormat::kInt8:
      return static_cast<float>(reinterpret_cast<const int8_t*>(data)[c]) *
             static_cast<float>(scales[c / kv::kGroup]);
    case KvFormat::kInt4:
      return static_cast<float>(((c % 2 ? data[c / 2] >> 4 : data[c / 2] & 15)) - 8) *
             static_cast<float>(scales[c / kv::kGroup]);
  }
  return 0.f;
}

torch::ScalarType data_type(KvFormat f) {
  constexpr torch::ScalarType kTypes[] = {torch::kFloat, torch::kBFloat16, torch::kInt8,
                                          torch::kUInt8};
  return kTypes[static_cast<int>(f)];
}

}  // namespace

KvPacked quantize(const torch::Tensor& x, KvFormat f) {
  const int64_t D = x.size(-1), G = D / kv::kGroup;
  KNLP_CHECK(D % kv::kGroup == 0, "kv", "head_dim {} is not a multiple of {}", D, kv::kGroup);
  auto xf = x.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t rows = xf.numel() / D, rb = kv::row_bytes(f, D);
  auto shape = xf.sizes().vec();
  shape.back() = f == KvFormat::kInt4 ? D / 2 : D;
  KvPacked p{torch::zeros(shape, data_type(f)), {}};
  if (kv::has_scales(f)) {
    shape.back() = G;
    p.scales = torch::zeros(shape, torch::kHalf);
  }
  auto* data = static_cast<uint8_t*>(p.data.data_ptr());
  const float* src = xf.data_ptr<float>();
  for (int64_t r = 0; r < rows; r++) {
    const float* row = src + r * D;
    if (f == KvFormat::kFp32)
      for (int64_t c = 0; c < D; c++) reinterpret_cast<float*>(data)[r * D + c] = row[c];
    else if (f == KvFormat::kBf16)
      for (int64_t c = 0; c < D; c++) reinterpret_cast<c10::BFloat16*>(data)[r * D + c] = row[c];
    else
      quantize_row(row, D, f, data + r * rb, p.scales.data_ptr<c10::Half>() + r * G);
  }
  return p;
}

torch::Tensor dequantize(const KvPacked& p, KvFormat f) {
  auto data = p.data.to(torch::kCPU).contiguous();
  auto scales = kv::has_scales(f) ? p.scales.to(torch::kCPU).contiguous() : torch::Tensor();
  const int64_t D = f == KvFormat::kInt4 ? data.size(-1) * 2 : data.size(-1);
  const int64_t rows = data.numel() / data.size(-1), G = D / kv::kGroup;
  auto shape = data.sizes().vec();
  shape.back() = D;
  auto out = torch::empty(shape, torch::kFloat);
  const auto* bytes = static_cast<const uint8_t*>(data.data_ptr());
  const c10::Half* s = scales.defined() ? scales.data_ptr<c10::Half>() : nullptr;
  float* o = out.data_ptr<float>();
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < D; c++)
      o[r * D + c] = dequantize_one(bytes + r * kv::row_bytes(f, D), s ? s + r * G : nullptr, f, c);
  return out;
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t length) {
  auto qc = q.to(torch::kCPU, torch::kFloat).contiguous();
  auto kc = k.to(torch::kCPU, torch::kFloat).contiguous();
  auto vc = v.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t B = qc.size(0), H = qc.size(1), Tq = qc.size(2), D = qc.size(3);
  const int64_t Hkv = kc.size(1), cap = kc.size(2), rep = H / Hkv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  auto out = torch::empty_like(qc);
  const float *Q = qc.data_ptr<float>(), *K = kc.data_ptr<float>(), *V = vc.data_ptr<float>();
  float* O = out.data_ptr<float>();
  std::vector<double> w(length), acc(D);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < Tq; i++) {
        const float* qr = Q + ((b * H + h) * Tq + i) * D;
        const int64_t base = (b * Hkv + h / rep) * cap, n = length - Tq + 1 + i;
        double m = -INFINITY, l = 0;
        for (int64_t t = 0; t < n; t++) {
          double s = 0;
          for (int64_t c = 0; c < D; c++) s += static_cast<double>(qr[c]) * K[(base + t) * D + c];
          w[t] = s * scale;
          m = std::max(m, w[t]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < n; t++) {
          const double p = std::exp(w[t] - m);
          l += p;
          for (int64_t c = 0; c < D; c++) acc[c] += p * V[(base + t) * D + c];
        }
        for (int64_t c = 0; c < D; c++) O[((b * H + h) * Tq + i) * D + c] = static_cast<float>(acc[c] / l);
      }
  return out;
}

}  // namespace knlp::kv_ref
