// The quantized KV cache: packing by hand, quantization error bounds, torch ops
// against the scalar reference, every decode kernel against reference
// attention over the dequantized values, the cache append path, spec names
// and the Kconfig symbols. CUDA tests skip (and say so) without a GPU.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <set>

#include "config/config.h"
#include "kv/kv.h"
#include "util/check.h"

using knlp::KvCache;
using knlp::KvFormat;
using knlp::KvPacked;
using knlp::KvSpec;

namespace {

constexpr KvFormat kAllFormats[] = {KvFormat::kFp32, KvFormat::kBf16, KvFormat::kInt8,
                                    KvFormat::kInt4};

// |got - ref| <= atol + rtol |ref| everywhere; prints the max diff.
bool close(const char* name, const torch::Tensor& got, const torch::Tensor& ref, double atol,
           double rtol) {
  auto diff = (got.cpu().to(torch::kFloat) - ref.cpu().to(torch::kFloat)).abs();
  const bool ok = diff.le(atol + rtol * ref.cpu().abs()).all().item<bool>();
  std::printf("%-28s %s max_diff %.3e\n", name, ok ? "OK" : "NOT OK", diff.max().item<double>());
  return ok;
}

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         a.cpu().contiguous().view(torch::kByte).equal(b.cpu().contiguous().view(torch::kByte));
}

// The first cap tokens of a random (B, Hkv, cap, D) cache with a few rows of
// zeros and outliers, so empty groups and wide ranges are covered.
torch::Tensor random_cache(int64_t B, int64_t Hkv, int64_t cap, int64_t D) {
  auto x = torch::randn({B, Hkv, cap, D});
  x.index_put_({0, 0, 0}, 0.f);
  if (cap > 1) x.index_put_({0, 0, 1, 3}, 40.f);
  return x;
}

// Fused decode for spec over a fresh cache, checked against kv_ref attention
// over kv_ref-dequantized rows: the fp32 kernel sums in another order than
// the double-precision reference, so 1e-5 covers rounding and nothing else.
bool decode_matches_reference(KvSpec spec, int64_t B, int64_t H, int64_t Hkv, int64_t Tq,
                              int64_t T, int64_t cap, int64_t D, const char* name) {
  auto k = random_cache(B, Hkv, cap, D), v = random_cache(B, Hkv, cap, D);
  auto q = torch::randn({B, H, Tq, D});
  const KvPacked pk = knlp::kv_quantize(k, spec.k), pv = knlp::kv_quantize(v, spec.v);
  auto got = knlp::kv_decode(q, pk, pv, spec, T);
  auto ref = knlp::kv_ref::attention(q, knlp::kv_ref::dequantize(pk, spec.k),
                                     knlp::kv_ref::dequantize(pv, spec.v), T);
  return close(name, got, ref, 1e-5, 1e-5);
}

}  // namespace

TEST(KvPack, Int4NibblesOfMinus8To7AreExact) {
  auto q = torch::arange(-8, 8, torch::kInt8).repeat({2});  // (32): -8..7 twice
  auto packed = knlp::kv_pack_int4(q);
  ASSERT_EQ(packed.scalar_type(), torch::kUInt8);
  ASSERT_EQ(packed.size(0), 16);
  // byte i = (q[2i] + 8) | (q[2i+1] + 8) << 4: 0x10, 0x32, 0x54, ..., 0xfe
  for (int i = 0; i < 8; i++) {
    EXPECT_EQ(packed[i].item<int>(), (2 * i) | ((2 * i + 1) << 4)) << "byte " << i;
    EXPECT_EQ(packed[i + 8].item<int>(), packed[i].item<int>());
  }
  EXPECT_TRUE(knlp::kv_unpack_int4(packed).equal(q));
}

TEST(KvPack, EveryByteRoundTrips) {
  auto bytes = torch::arange(0, 256, torch::kInt32).to(torch::kUInt8).view({8, 32});
  auto q = knlp::kv_unpack_int4(bytes);  // (8, 64)
  EXPECT_GE(q.min().item<int>(), -8);
  EXPECT_LE(q.max().item<int>(), 7);
  EXPECT_TRUE(knlp::kv_pack_int4(q).equal(bytes));
}

TEST(KvQuantize, Int4GroupWorkedByHand) {
  // absmax 1.75 -> s = 0.25 (exact in FP16); x / s = 7, -3.5, 0.5, -0.5, 1.2, 0...
  auto x = torch::zeros({32});
  x[0] = 1.75f;
  x[1] = -0.875f;
  x[2] = 0.125f;
  x[3] = -0.125f;
  x[4] = 0.3f;
  auto p = knlp::kv_quantize(x, KvFormat::kInt4);
  EXPECT_EQ(p.scales.item<float>(), 0.25f);
  // q = 7, -4, 1, -1, 1, 0 (halves away from zero): bytes 0x4f, 0x79, 0x89, then 0x88
  EXPECT_EQ(p.data[0].item<int>(), 0x4f);
  EXPECT_EQ(p.data[1].item<int>(), 0x79);
  EXPECT_EQ(p.data[2].item<int>(), 0x89);
  EXPECT_EQ(p.data[3].item<int>(), 0x88);
  auto back = knlp::kv_dequantize(p, KvFormat::kInt4);
  EXPECT_FLOAT_EQ(back[1].item<float>(), -1.f);
  EXPECT_FLOAT_EQ(back[4].item<float>(), 0.25f);
}

TEST(KvQuantize, Int8GroupWorkedByHand) {
  // absmax 63.5 -> s = 0.5; 0.25 / s = 0.5 -> 1, -0.75 / s = -1.5 -> -2
  auto x = torch::zeros({32});
  x[0] = 63.5f;
  x[1] = 0.25f;
  x[2] = -0.75f;
  auto p = knlp::kv_quantize(x, KvFormat::kInt8);
  EXPECT_EQ(p.scales.item<float>(), 0.5f);
  EXPECT_EQ(p.data[0].item<int>(), 127);
  EXPECT_EQ(p.data[1].item<int>(), 1);
  EXPECT_EQ(p.data[2].item<int>(), -2);
}

// Every element within half a step of its group's FP16 scale, and the scale
// absmax/qmax rounded to FP16 - computed here group by group.
TEST(KvQuantize, ErrorWithinHalfAStep) {
  torch::manual_seed(1);
  auto x = torch::randn({3, 5, 128}) * 3;
  for (KvFormat f : {KvFormat::kInt8, KvFormat::kInt4}) {
    const double qmax = knlp::kv_format_info(f).max_q;
    auto p = knlp::kv_quantize(x, f);
    auto groups = x.view({3, 5, 4, 32});
    auto want = (groups.abs().amax(-1) / qmax).to(torch::kHalf);
    EXPECT_TRUE(same_bits(p.scales, want)) << knlp::kv_format_info(f).name;
    auto s = p.scales.to(torch::kFloat).unsqueeze(-1);                       // (3, 5, 4, 1)
    auto err = (knlp::kv_dequantize(p, f).view({3, 5, 4, 32}) - groups).abs();
    EXPECT_TRUE(err.le(s / 2).all().item<bool>()) << knlp::kv_format_info(f).name;
    EXPECT_GT(err.max().item<double>(), 0.0);  // it does quantize
  }
  auto bf = knlp::kv_dequantize(knlp::kv_quantize(x, KvFormat::kBf16), KvFormat::kBf16);
  EXPECT_TRUE((bf - x).abs().le(x.abs() * std::ldexp(1.0, -8)).all().item<bool>());
}

TEST(KvQuantize, TorchOpsEqualTheScalarReferenceBitForBit) {
  torch::manual_seed(2);
  auto x = random_cache(2, 3, 9, 64);
  x.index_put_({1, 2, 4}, 1e-3f);  // a group of equal values
  for (KvFormat f : kAllFormats) {
    const auto name = knlp::kv_format_info(f).name;
    auto p = knlp::kv_quantize(x, f), r = knlp::kv_ref::quantize(x, f);
    EXPECT_TRUE(same_bits(p.data, r.data)) << name;
    EXPECT_EQ(p.scales.defined(), r.scales.defined()) << name;
    if (r.scales.defined()) {
      EXPECT_TRUE(same_bits(p.scales, r.scales)) << name;
    }
    EXPECT_TRUE(same_bits(knlp::kv_dequantize(p, f), knlp::kv_ref::dequantize(r, f))) << name;
  }
}

TEST(KvQuantize, HeadDimMustBeWholeGroups) {
  EXPECT_THROW(knlp::kv_quantize(torch::zeros({2, 48}), KvFormat::kInt4), knlp::Error);
}

TEST(KvReference, UniformWeightsAverageTheValues) {
  // q = 0: every score is 0, so each output is the mean of the visible rows.
  auto q = torch::zeros({1, 1, 2, 32});
  auto k = torch::randn({1, 1, 3, 32});
  auto v = torch::arange(96, torch::kFloat).view({1, 1, 3, 32});
  auto out = knlp::kv_ref::attention(q, k, v, 3);
  // query 0 sees tokens 0, 1; query 1 sees 0, 1, 2
  EXPECT_FLOAT_EQ(out[0][0][0][0].item<float>(), 16.f);
  EXPECT_FLOAT_EQ(out[0][0][1][5].item<float>(), 37.f);
}

TEST(KvReference, EqualsTorchSoftmaxAttention) {
  torch::manual_seed(3);
  auto q = torch::randn({2, 4, 1, 64}), k = torch::randn({2, 2, 20, 64}),
       v = torch::randn({2, 2, 20, 64});
  auto kk = k.narrow(2, 0, 13).repeat_interleave(2, 1), vv = v.narrow(2, 0, 13).repeat_interleave(2, 1);
  auto w = torch::softmax(torch::matmul(q, kk.transpose(-2, -1)) / 8.0, -1);  // (2, 4, 1, 13)
  EXPECT_TRUE(close("ref vs torch", knlp::kv_ref::attention(q, k, v, 13), torch::matmul(w, vv),
                    1e-5, 1e-5));
}

// Every K/V pair on every instruction set this CPU runs, with T not a
// multiple of the 16-token tile.
TEST(KvDecode, FusedCpuEqualsReferenceForEveryFormatPair) {
  torch::manual_seed(4);
  const auto isas = knlp::kv_cpu_isas();
  for (const auto& isa : isas) {
    knlp::kv_set_cpu_isa(isa);
    for (KvFormat kf : kAllFormats)
      for (KvFormat vf : kAllFormats) {
        const KvSpec spec{kf, vf};
        const auto name = isa + " " + knlp::kv_spec_name(spec);
        EXPECT_TRUE(decode_matches_reference(spec, 2, 3, 3, 1, 37, 40, 64, name.c_str()));
      }
  }
  knlp::kv_set_cpu_isa(isas.front());
}

TEST(KvDecode, FusedCpuEqualsReferenceOverShapes) {
  torch::manual_seed(5);
  struct Case {
    int64_t B, H, Hkv, Tq, T, cap, D;
    const char* name;
  };
  const Case cases[] = {
      {1, 2, 2, 1, 1, 1, 32, "one token, D 32"},
      {1, 2, 2, 1, 16, 16, 64, "one full tile"},
      {2, 3, 3, 1, 100, 130, 64, "T 100 of cap 130"},
      {1, 4, 2, 1, 33, 33, 128, "GQA 4/2, D 128"},
      {2, 2, 1, 5, 21, 24, 256, "5 queries, MQA, D 256"},
      {1, 12, 12, 1, 1000, 1000, 64, "12 heads, T 1000"},
  };
  for (const auto& isa : knlp::kv_cpu_isas()) {
    knlp::kv_set_cpu_isa(isa);
    for (const auto& c : cases)
      for (const char* spec : {"int4", "k8v4", "fp32"}) {
        const auto name = isa + " " + spec + " " + c.name;
        EXPECT_TRUE(decode_matches_reference(knlp::kv_spec_from_name(spec), c.B, c.H, c.Hkv, c.Tq,
                                             c.T, c.cap, c.D, name.c_str()));
      }
  }
  knlp::kv_set_cpu_isa(knlp::kv_cpu_isas().front());
}

TEST(KvDecode, UnfusedEqualsFused) {
  torch::manual_seed(6);
  auto k = torch::randn({2, 2, 30, 64}), v = torch::randn({2, 2, 30, 64});
  auto q = torch::randn({2, 4, 3, 64});
  const KvSpec spec = knlp::kv_spec_from_name("int4");
  auto pk = knlp::kv_quantize(k, spec.k), pv = knlp::kv_quantize(v, spec.v);
  EXPECT_TRUE(close("unfused vs fused", knlp::kv_decode_unfused(q, pk, pv, spec, 27),
                    knlp::kv_decode(q, pk, pv, spec, 27), 1e-5, 1e-5));
}

// at::parallel_for is an inline `#pragma omp parallel` in ATen's headers: in
// code built without OpenMP it runs every row on one thread, and so would the
// fused decode, whatever torch::set_num_threads says (CMakeLists.txt).
TEST(KvDecode, ParallelForInKnlpCodeUsesEveryThread) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  std::mutex mutex;
  std::set<int> threads;
  at::parallel_for(0, 2, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mutex);
    threads.insert(at::get_thread_num());
  });
  at::set_num_threads(before);
  EXPECT_EQ(threads, (std::set<int>{0, 1}));
}

TEST(KvDecode, RejectsWhatItCannotRun) {
  const KvSpec spec = knlp::kv_spec_from_name("int4");
  auto pk = knlp::kv_quantize(torch::randn({1, 2, 8, 96}), spec.k);
  EXPECT_THROW(knlp::kv_decode(torch::randn({1, 2, 1, 96}), pk, pk, spec, 8), knlp::Error);
  auto p64 = knlp::kv_quantize(torch::randn({1, 2, 8, 64}), spec.k);
  EXPECT_THROW(knlp::kv_decode(torch::randn({1, 2, 1, 64}), p64, p64, spec, 9), knlp::Error);
  EXPECT_THROW(knlp::kv_decode(torch::randn({1, 3, 1, 64}), p64, p64, spec, 8), knlp::Error);
  EXPECT_THROW(knlp::kv_set_cpu_isa("avx1024"), knlp::Error);
}

TEST(KvCache, AppendStoresWhatQuantizeMakes) {
  torch::manual_seed(7);
  const KvSpec spec = knlp::kv_spec_from_name("k8v4");
  KvCache cache(2, 2, 40, 64, spec);
  auto k = torch::randn({2, 2, 33, 64}), v = torch::randn({2, 2, 33, 64});
  cache.append(k.narrow(2, 0, 30), v.narrow(2, 0, 30));  // a prompt
  for (int64_t t = 30; t < 33; t++)                      // then one token a step
    cache.append(k.narrow(2, t, 1), v.narrow(2, t, 1));
  ASSERT_EQ(cache.length(), 33);
  auto want_k = knlp::kv_quantize(k, spec.k), want_v = knlp::kv_quantize(v, spec.v);
  EXPECT_TRUE(same_bits(cache.keys().data.narrow(2, 0, 33), want_k.data));
  EXPECT_TRUE(same_bits(cache.keys().scales.narrow(2, 0, 33), want_k.scales));
  EXPECT_TRUE(same_bits(cache.values().data.narrow(2, 0, 33), want_v.data));
  auto q = torch::randn({2, 4, 1, 64});
  auto ref = knlp::kv_ref::attention(q, knlp::kv_ref::dequantize(want_k, spec.k),
                                     knlp::kv_ref::dequantize(want_v, spec.v), 33);
  EXPECT_TRUE(close("cache attend", cache.attend(q), ref, 1e-5, 1e-5));
  EXPECT_TRUE(close("cache attend_unfused", cache.attend_unfused(q), ref, 1e-5, 1e-5));
  // K: 64 int8 + 2 scales x 2 bytes = 68; V: 32 + 4 = 36; two heads
  EXPECT_EQ(cache.bytes_per_token(), 2 * (68 + 36));
  EXPECT_THROW(cache.append(k.narrow(2, 0, 8), v.narrow(2, 0, 8)), knlp::Error);  // 41 > 40
  EXPECT_THROW(cache.append(k.narrow(1, 0, 1), v.narrow(1, 0, 1)), knlp::Error);  // 1 head
  cache.clear();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_THROW(KvCache(1, 1, 4, 48, spec), knlp::Error);
}

TEST(KvSpec, NamesRoundTripAndBadNamesAreRejected) {
  struct Case {
    const char* name;
    KvFormat k, v;
  };
  const Case cases[] = {{"fp32", KvFormat::kFp32, KvFormat::kFp32},
                        {"bf16", KvFormat::kBf16, KvFormat::kBf16},
                        {"int8", KvFormat::kInt8, KvFormat::kInt8},
                        {"int4", KvFormat::kInt4, KvFormat::kInt4},
                        {"k8v4", KvFormat::kInt8, KvFormat::kInt4},
                        {"k16v4", KvFormat::kBf16, KvFormat::kInt4},
                        {"k32v8", KvFormat::kFp32, KvFormat::kInt8}};
  for (const auto& c : cases) {
    const KvSpec s = knlp::kv_spec_from_name(c.name);
    EXPECT_EQ(s.k, c.k) << c.name;
    EXPECT_EQ(s.v, c.v) << c.name;
    const KvSpec back = knlp::kv_spec_from_name(knlp::kv_spec_name(s));
    EXPECT_TRUE(back.k == s.k && back.v == s.v) << c.name;
  }
  EXPECT_EQ(knlp::kv_spec_name({KvFormat::kInt8, KvFormat::kInt4}), "k8v4");
  for (const char* bad : {"int3", "k8v3", "k8v4x", "K8/V4", ""}) {
    try {
      knlp::kv_spec_from_name(bad, "--kv");
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const knlp::Error& e) {
      EXPECT_EQ(e.code(), knlp::ExitCode::kBadInput);
      EXPECT_EQ(e.subject(), "--kv");
      EXPECT_NE(e.message().find("accepted: fp32, bf16, int8, int4"), std::string::npos);
    }
  }
}

TEST(KvConfig, SymbolsResolveAndOldConfigsGetDefaults) {
  auto cfg = knlp::Config::parse(
      "CONFIG_KV_K_FORMAT=\"bf16\"\nCONFIG_KV_V_FORMAT=\"int8\"\n# CONFIG_KV_FUSED is not set\n",
      "kv.config");
  const auto kv = knlp::resolve_kv(cfg);
  EXPECT_EQ(kv.k_format, "bf16");
  EXPECT_EQ(kv.v_format, "int8");
  EXPECT_FALSE(kv.fused);
  const auto old = knlp::resolve_kv(knlp::Config::parse("CONFIG_NUM_EPOCHS=1\n", "old.config"));
  EXPECT_EQ(old.k_format, "int8");
  EXPECT_EQ(old.v_format, "int4");
  EXPECT_TRUE(old.fused);
  auto bad = knlp::Config::parse("CONFIG_KV_V_FORMAT=\"int2\"\n", "bad.config");
  try {
    knlp::resolve_kv(bad);
    ADD_FAILURE() << "no error";
  } catch (const knlp::Error& e) {
    EXPECT_EQ(e.subject(), "CONFIG_KV_V_FORMAT");
  }
}

// ---------------------------------------------------------------------------
// CUDA: the kernel against the reference, where there is a GPU to run it.

namespace {

void skip_without_cuda() {
  if (!knlp::kv_cuda_built()) GTEST_SKIP() << "SKIP: knlp was built without the CUDA kernel";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "SKIP: no CUDA device";
}

}  // namespace

TEST(KvCuda, KernelEqualsReferenceForEveryFormatPair) {
  skip_without_cuda();
  if (testing::Test::IsSkipped()) return;
  torch::manual_seed(8);
  const torch::Device gpu(torch::kCUDA);
  for (int64_t D : {32, 64, 128, 256})
    for (KvFormat kf : kAllFormats)
      for (KvFormat vf : kAllFormats) {
        const KvSpec spec{kf, vf};
        auto k = random_cache(2, 2, 77, D), v = random_cache(2, 2, 77, D);
        auto q = torch::randn({2, 4, 3, D});
        auto pk = knlp::kv_quantize(k.to(gpu), kf), pv = knlp::kv_quantize(v.to(gpu), vf);
        auto got = knlp::kv_decode(q.to(gpu), pk, pv, spec, 70);
        auto ref = knlp::kv_ref::attention(q, knlp::kv_ref::dequantize(pk, kf),
                                           knlp::kv_ref::dequantize(pv, vf), 70);
        // The GPU sums in another order and uses exp2f (2 ulp): 1e-5 as on the CPU.
        const auto name = "cuda D " + std::to_string(D) + " " + knlp::kv_spec_name(spec);
        EXPECT_TRUE(close(name.c_str(), got, ref, 1e-5, 1e-5));
      }
}

TEST(KvCuda, CacheOnTheGpuMatchesTheCpuCache) {
  skip_without_cuda();
  if (testing::Test::IsSkipped()) return;
  torch::manual_seed(9);
  const KvSpec spec = knlp::kv_spec_from_name("int4");
  KvCache gpu(1, 4, 300, 64, spec, torch::kCUDA), cpu(1, 4, 300, 64, spec);
  auto k = torch::randn({1, 4, 257, 64}), v = torch::randn({1, 4, 257, 64});
  gpu.append(k.cuda(), v.cuda());
  cpu.append(k, v);
  EXPECT_TRUE(same_bits(gpu.keys().data, cpu.keys().data));
  EXPECT_TRUE(same_bits(gpu.values().scales, cpu.values().scales));
  auto q = torch::randn({1, 4, 1, 64});
  EXPECT_TRUE(close("cuda cache vs cpu cache", gpu.attend(q.cuda()), cpu.attend(q), 1e-5, 1e-5));
}
