// kv/kv.h - the quantized KV cache: formats, packing, fused decode attention.
//
// A KV cache row (one token, one KV head, head_dim channels) is stored in one
// of four formats, chosen apart for K and V (KvSpec, e.g. K8/V4): fp32, bf16,
// int8 (absmax/127 per 32 channels) or int4 (absmax/7 per 32 channels, two
// channels a byte); scales are FP16 (layout: kv/kernels.h). Decoding reads the
// packed rows once and dequantizes in registers (CPU: decode_cpu.cpp, CUDA and
// HIP: kernels/); kv_ref holds the plain scalar code every kernel is checked
// against.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kv/kernels.h"  // KvFormat, kv::kGroup, kv::DecodeArgs

namespace knlp {

// ---------------------------------------------------------------------------
// Formats

struct KvFormatInfo {
  std::string_view name;  // fp32, bf16, int8, int4
  KvFormat format;
  int bits;               // per channel, scales excluded
  double max_q;           // largest quantized magnitude (127, 7); 0 for float formats
};

// The row of the format table for f.
const KvFormatInfo& kv_format_info(KvFormat f);

// The K and V formats of one cache.
struct KvSpec {
  KvFormat k = KvFormat::kInt8;
  KvFormat v = KvFormat::kInt4;
};

// Parses "fp32", "bf16", "int8", "int4" (both K and V) or "k<bits>v<bits>" with
// bits 32, 16, 8 or 4 ("k8v4"); throws Error (exit 2) naming `subject` and
// listing what is accepted.
KvSpec kv_spec_from_name(std::string_view name, std::string_view subject = "--kv");

// "int4" when K and V agree, else "k8v4"; kv_spec_from_name(kv_spec_name(s)) == s.
std::string kv_spec_name(KvSpec spec);

// Bytes one token costs in one KV head for format f: the row plus its scales.
int64_t kv_bytes_per_row(KvFormat f, int64_t head_dim);

// ---------------------------------------------------------------------------
// Quantization (torch ops, on the tensors' device)

// A tensor (..., head_dim) in format f: data is (..., row bytes) as float,
// bfloat16, int8 or uint8 (int4, two channels a byte); scales (..., head_dim/32)
// are at::Half for int8/int4 and undefined otherwise.
struct KvPacked {
  torch::Tensor data;
  torch::Tensor scales;
};

// Packs x (..., D) float, D a multiple of 32: per 32 channels s = absmax/qmax
// rounded to FP16, q = clamp(round_half_away(x / s), -qmax-1, qmax), 0 where s
// is 0. fp32 data may share x's storage. Throws Error when D is not a multiple
// of 32.
KvPacked kv_quantize(const torch::Tensor& x, KvFormat f);

// The float values (..., D) a packed tensor stands for (q * s, or the floats).
torch::Tensor kv_dequantize(const KvPacked& p, KvFormat f);

// Packs int8 values in -8..7 (..., D) into uint8 (..., D/2): channel 2i in the
// low nibble, 2i+1 in the high one, each stored as q + 8.
torch::Tensor kv_pack_int4(const torch::Tensor& q);

// The inverse of kv_pack_int4: uint8 (..., D/2) to int8 (..., D) in -8..7.
torch::Tensor kv_unpack_int4(const torch::Tensor& packed);

// ---------------------------------------------------------------------------
// Decode attention over packed K and V

// Fused decode attention: q (B, H, Tq, D) float; k, v packed (B, Hkv, cap, .)
// with the first `length` tokens valid (Tq <= length <= cap, Hkv divides H).
// Query i attends to tokens [0, length - Tq + i], softmax scale 1/sqrt(D).
// Returns (B, H, Tq, D) float on q's device: the CPU kernel for CPU tensors,
// the CUDA kernel for CUDA tensors. D must be 32, 64, 128 or 256. Throws Error
// on a shape or device mismatch, or for CUDA tensors in a build without CUDA.
torch::Tensor kv_decode(const torch::Tensor& q, const KvPacked& k, const KvPacked& v,
                        KvSpec spec, int64_t length);

// The same attention, unfused: dequantize K and V into new float tensors, then
// masked softmax(q k^T / sqrt(D)) v with torch ops. The baseline the fused
// kernels are measured against, and the reference path of generation.
torch::Tensor kv_decode_unfused(const torch::Tensor& q, const KvPacked& k, const KvPacked& v,
                                KvSpec spec, int64_t length);

// The instruction set the CPU kernel uses: avx512vnni, avx512, avx2 or x86-64.
const char* kv_cpu_isa();

// The instruction sets the CPU kernel can use on this machine, widest first.
std::vector<std::string> kv_cpu_isas();

// Makes the CPU kernel use isa, one of kv_cpu_isas() (tests and the benchmark
// compare them); throws Error (exit 2) listing them otherwise.
void kv_set_cpu_isa(const std::string& isa);

// Whether this binary carries the CUDA kernel (nvcc matched torch's CUDA).
bool kv_cuda_built();

// ---------------------------------------------------------------------------
// The cache of one attention layer

class KvCache {
 public:
  // Room for `capacity` tokens of `batch` sequences, `kv_heads` heads of
  // head_dim channels, stored as spec says, on device. Throws Error (exit 2)
  // when head_dim is not a multiple of 32.
  KvCache(int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim, KvSpec spec,
          torch::Device device = torch::kCPU);

  // Quantizes and stores new tokens k, v (B, Hkv, Tn, D) after the cached ones.
  // Throws Error (exit 1) when they do not fit or their shape differs.
  void append(const torch::Tensor& k, const torch::Tensor& v);

  // Attention of q (B, H, Tq, D) over the cache, the last Tq cached tokens being
  // the queries' own (kv_decode); fused, or through kv_decode_unfused.
  torch::Tensor attend(const torch::Tensor& q) const;
  torch::Tensor attend_unfused(const torch::Tensor& q) const;

  // Forgets every token (the storage stays).
  void clear() { length_ = 0; }

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  KvSpec spec() const { return spec_; }
  // Bytes one token of one sequence takes, K and V of every head, scales included.
  int64_t bytes_per_token() const;
  const KvPacked& keys() const { return k_; }
  const KvPacked& values() const { return v_; }

 private:
  int64_t batch_, kv_heads_, capacity_, head_dim_, length_ = 0;
  KvSpec spec_;
  KvPacked k_, v_;
};

// ---------------------------------------------------------------------------
// The scalar reference: plain loops on the CPU, no vector code, no torch ops.

namespace kv_ref {

// kv_quantize, one element at a time.
KvPacked quantize(const torch::Tensor& x, KvFormat f);

// kv_dequantize, one element at a time.
torch::Tensor dequantize(const KvPacked& p, KvFormat f);

// Attention as kv_decode describes it, over float k, v (B, Hkv, >= length, D),
// accumulated in double: the check for every decode kernel.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t length);

}  // namespace kv_ref

// ---------------------------------------------------------------------------
// `knlp bench decode`

struct DecodeBenchOptions {
  bool quick = false;             // three small shapes, for a smoke run
  int64_t threads = 0;            // 0: LibTorch's default
  std::string device = "cpu";     // cpu | cuda
  double max_cache_gib = 2.0;     // skip shapes whose fp32 cache (K + V) is larger
  double max_unfused_gib = 0.5;   // time the unfused int4 path only up to this fp32 size
  std::string isa;                // CPU kernel instruction set; empty: the widest
  std::vector<int64_t> batches;   // only these batch sizes of the grid; empty: all
  std::vector<int64_t> contexts;  // only these context lengths of the grid; empty: all
};

// Measures copy bandwidth, then per shape and format: checks the fused kernel
// against kv_ref, times it (median and min ms) and reports bytes, GB/s and the
// ratios the JSON document in docs/int4-kv.md describes. Logs a table as it goes.
nlohmann::json run_decode_bench(const DecodeBenchOptions& options);

}  // namespace knlp
