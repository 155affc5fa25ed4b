// kv/decode.cpp - decode attention over packed K/V: the checked entry point of
// the fused kernels (CPU threads over batch x heads x queries, or CUDA), the
// unfused torch path, and the per-layer cache that feeds them.
#include <ATen/Parallel.h>
#include <fmt/ranges.h>

#include <cmath>

#include "kv/cuda.h"
#include "kv/kv.h"
#include "util/check.h"

namespace knlp {

namespace {

std::string shape(const torch::Tensor& t) { return fmt::format("({})", fmt::join(t.sizes(), ", ")); }

constexpr torch::ScalarType kDataTypes[] = {torch::kFloat, torch::kBFloat16, torch::kInt8,
                                             torch::kUInt8};

// Checks one packed tensor against the shape (B, Hkv, >= length, row) its
// format asks for; returns its capacity (dim 2).
int64_t check_packed(const KvPacked& p, KvFormat f, const torch::Tensor& q, int64_t length,
                     const char* what) {
  const int64_t D = q.size(3), cols = f == KvFormat::kInt4 ? D / 2 : D;
  const auto& d = p.data;
  KNLP_CHECK(d.dim() == 4 && d.size(0) == q.size(0) && d.size(3) == cols && d.size(2) >= length &&
                 q.size(1) % d.size(1) == 0 && d.is_contiguous(),
             "kv", "{} cache {} does not fit q {} (want contiguous (B, Hkv | H, >= {}, {}))", what,
             shape(d), shape(q), length, cols);
  KNLP_CHECK(d.scalar_type() == kDataTypes[static_cast<int>(f)] && d.device() == q.device(), "kv",
             "{} cache is {} on {}, format {} wants {} on {}", what, c10::toString(d.scalar_type()),
             d.device().str(), kv_format_info(f).name, c10::toString(kDataTypes[static_cast<int>(f)]),
             q.device().str());
  if (kv::has_scales(f))
    KNLP_CHECK(p.scales.defined() && p.scales.scalar_type() == torch::kHalf &&
                   p.scales.is_contiguous() && p.scales.device() == q.device() &&
                   p.scales.sizes() == torch::IntArrayRef({d.size(0), d.size(1), d.size(2),
                                                           D / kv::kGroup}),
               "kv", "{} scales must be contiguous Half (B, Hkv, {}, {}) on {}", what, d.size(2),
               D / kv::kGroup, q.device().str());
  return d.size(2);
}

const uint16_t* scale_ptr(const KvPacked& p, KvFormat f) {
  return kv::has_scales(f) ? static_cast<const uint16_t*>(p.scales.data_ptr()) : nullptr;
}

}  // namespace

const char* kv_cpu_isa() { return kv::decode_cpu_isa(); }

std::vector<std::string> kv_cpu_isas() { return kv::decode_cpu_isas(); }

void kv_set_cpu_isa(const std::string& isa) {
  KNLP_CHECK_INPUT(kv::set_decode_cpu_isa(isa), "--isa",
                   "'{}' is not an instruction set of this CPU; accepted: {}", isa,
                   fmt::join(kv::decode_cpu_isas(), ", "));
}

bool kv_cuda_built() { return kv::kCudaBuilt; }

torch::Tensor kv_decode(const torch::Tensor& q, const KvPacked& k, const KvPacked& v,
                        KvSpec spec, int64_t length) {
  KNLP_CHECK(q.dim() == 4 && q.scalar_type() == torch::kFloat, "kv",
             "q must be float (B, H, Tq, D), got {} {}", c10::toString(q.scalar_type()), shape(q));
  const int64_t D = q.size(3);
  KNLP_CHECK(D == 32 || D == 64 || D == 128 || D == 256, "kv",
             "head_dim {} has no fused kernel; accepted: 32, 64, 128, 256", D);
  KNLP_CHECK(q.size(2) >= 1 && q.size(2) <= length, "kv", "{} queries over {} cached tokens",
             q.size(2), length);
  const int64_t cap = check_packed(k, spec.k, q, length, "K");
  KNLP_CHECK(check_packed(v, spec.v, q, length, "V") == cap && v.data.size(1) == k.data.size(1),
             "kv", "K {} and V {} caches differ in shape", shape(k.data), shape(v.data));
  auto qc = q.contiguous();
  auto out = torch::empty_like(qc);  // (B, H, Tq, D)
  const kv::DecodeArgs a{qc.data_ptr<float>(), k.data.data_ptr(), scale_ptr(k, spec.k),
                         v.data.data_ptr(),    scale_ptr(v, spec.v), out.data_ptr<float>(),
                         q.size(0),            q.size(1),           k.data.size(1),
                         q.size(2),            length,              cap,
                         D,                    spec.k,              spec.v,
                         static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)))};
  if (q.is_cuda()) {
    kv::decode_cuda(a, q.get_device());
    return out;
  }
  at::parallel_for(0, a.batch * a.heads * a.queries, 1,
                   [&](int64_t begin, int64_t end) { kv::decode_cpu_rows(a, begin, end); });
  return out;
}

torch::Tensor kv_decode_unfused(const torch::Tensor& q, const KvPacked& k, const KvPacked& v,
                                KvSpec spec, int64_t length) {
  auto first = [length](const torch::Tensor& t) { return t.defined() ? t.narrow(2, 0, length) : t; };
  auto K = kv_dequantize({first(k.data), first(k.scales)}, spec.k);  // (B, Hkv, T, D)
  auto V = kv_dequantize({first(v.data), first(v.scales)}, spec.v);  // (B, Hkv, T, D)
  const int64_t Tq = q.size(2);
  std::optional<torch::Tensor> mask;
  if (Tq > 1) {  // query i sees tokens [0, length - Tq + i]
    auto t = torch::arange(length, q.options().dtype(torch::kLong));
    auto last = torch::arange(Tq, t.options()) + (length - Tq);
    mask = t.unsqueeze(0).le(last.unsqueeze(1));  // (Tq, T)
  }
  return at::scaled_dot_product_attention(q, K, V, mask, 0.0, false, std::nullopt,
                                          /*enable_gqa=*/K.size(1) != q.size(1));
}

// ---------------------------------------------------------------------------
// KvCache

KvCache::KvCache(int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim, KvSpec spec,
                 torch::Device device)
    : batch_(batch), kv_heads_(kv_heads), capacity_(capacity), head_dim_(head_dim), spec_(spec) {
  KNLP_CHECK_INPUT(head_dim % kv::kGroup == 0, "kv",
                   "head_dim {} is not a multiple of {}; the quantized cache needs whole groups",
                   head_dim, kv::kGroup);
  auto make = [&](KvFormat f) {
    const int64_t cols = f == KvFormat::kInt4 ? head_dim / 2 : head_dim;
    auto opts = torch::TensorOptions().device(device);
    KvPacked p{torch::zeros({batch, kv_heads, capacity, cols}, opts.dtype(kDataTypes[static_cast<int>(f)])),
               {}};
    if (kv::has_scales(f))
      p.scales = torch::zeros({batch, kv_heads, capacity, head_dim / kv::kGroup}, opts.dtype(torch::kHalf));
    return p;
  };
  k_ = make(spec.k);
  v_ = make(spec.v);
}

void KvCache::append(const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t n = k.dim() == 4 ? k.size(2) : 0;
  const std::vector<int64_t> want{batch_, kv_heads_, n, head_dim_};
  KNLP_CHECK(k.sizes() == torch::IntArrayRef(want) && v.sizes() == torch::IntArrayRef(want), "kv",
             "append of k {} and v {} to a cache of (B {}, Hkv {}, T, D {})", shape(k), shape(v),
             batch_, kv_heads_, head_dim_);
  KNLP_CHECK(length_ + n <= capacity_, "kv", "{} cached + {} new tokens exceed the capacity {}",
             length_, n, capacity_);
  auto store = [&](KvPacked& dst, const torch::Tensor& x, KvFormat f) {
    auto p = kv_quantize(x, f);
    dst.data.narrow(2, length_, n).copy_(p.data);
    if (kv::has_scales(f)) dst.scales.narrow(2, length_, n).copy_(p.scales);
  };
  store(k_, k, spec_.k);
  store(v_, v, spec_.v);
  length_ += n;
}

torch::Tensor KvCache::attend(const torch::Tensor& q) const {
  return kv_decode(q, k_, v_, spec_, length_);
}

torch::Tensor KvCache::attend_unfused(const torch::Tensor& q) const {
  return kv_decode_unfused(q, k_, v_, spec_, length_);
}

int64_t KvCache::bytes_per_token() const {
  return kv_heads_ * (kv_bytes_per_row(spec_.k, head_dim_) + kv_bytes_per_row(spec_.v, head_dim_));
}

}  // namespace knlp
