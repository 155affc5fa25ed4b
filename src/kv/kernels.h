// kv/kernels.h - private to kv/: what the fused decode kernels take.
//
// Free of torch headers, so that nvcc and hipcc compile kernels/ quickly and
// the CPU kernel can be read on its own. The packed layout (reference §6.1):
// per token x per KV head, a row of head_dim channels stored as
//   fp32  head_dim floats                     bf16  head_dim bfloat16
//   int8  head_dim int8, q = round(x/s), s = absmax/127 per 32 channels
//   int4  head_dim/2 bytes, q + 8 in a nibble (channel 2i low, 2i+1 high),
//         s = absmax/7 per 32 channels
// and, for int8 and int4, head_dim/32 FP16 scales per row in a second tensor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define KNLP_HOST_DEVICE __host__ __device__
#else
#define KNLP_HOST_DEVICE
#endif

namespace knlp {

// How one cached K or V row is stored; the value indexes kv.cpp's format table.
enum class KvFormat : uint8_t { kFp32 = 0, kBf16 = 1, kInt8 = 2, kInt4 = 3 };

namespace kv {

constexpr int64_t kGroup = 32;  // channels sharing one scale

// Bytes of one row of head_dim channels, scales excluded.
KNLP_HOST_DEVICE constexpr int64_t row_bytes(KvFormat f, int64_t head_dim) {
  return f == KvFormat::kFp32   ? 4 * head_dim
         : f == KvFormat::kBf16 ? 2 * head_dim
         : f == KvFormat::kInt8 ? head_dim
                                : head_dim / 2;
}

// Whether rows of this format carry FP16 scales (one per kGroup channels).
KNLP_HOST_DEVICE constexpr bool has_scales(KvFormat f) {
  return f == KvFormat::kInt8 || f == KvFormat::kInt4;
}

// FP16 bits to float; exact for every finite half (scales are finite, >= 0).
KNLP_HOST_DEVICE inline float half_bits_to_float(uint16_t h) {
  union {
    uint32_t u;
    float f;
  } x;
  x.u = static_cast<uint32_t>(h & 0x7fffu) << 13;
  x.f *= 0x1p112f;  // rebias the exponent; also right for subnormal halves
  x.u |= static_cast<uint32_t>(h & 0x8000u) << 16;
  return x.f;
}

// One fused decode attention call: every query row (b, h, i) attends to the
// first length - queries + 1 + i cached tokens of KV head h / (heads / kv_heads).
struct DecodeArgs {
  const float* q;             // (B, H, Tq, D)
  const void* k;              // (B, Hkv, capacity, row_bytes(k_format, D))
  const uint16_t* k_scales;   // (B, Hkv, capacity, D/32) FP16 bits; null unless int
  const void* v;              // (B, Hkv, capacity, row_bytes(v_format, D))
  const uint16_t* v_scales;   // (B, Hkv, capacity, D/32)
  float* out;                 // (B, H, Tq, D)
  int64_t batch, heads, kv_heads, queries, length, capacity, head_dim;
  KvFormat k_format, v_format;
  float scale;                // softmax scale, 1/sqrt(D) for GPT-2
};

// CPU kernel (decode_cpu.cpp): query rows [begin, end) of the B*H*Tq rows.
// head_dim must be 32, 64, 128 or 256 (checked by the caller).
void decode_cpu_rows(const DecodeArgs& a, int64_t begin, int64_t end);

// The instruction set decode_cpu_rows runs with: the widest this CPU has
// (avx512vnni, avx512, avx2, x86-64) unless set_decode_cpu_isa chose another.
const char* decode_cpu_isa();

// The instruction sets decode_cpu_rows can use on this CPU, widest first.
std::vector<std::string> decode_cpu_isas();

// Makes decode_cpu_rows use the named set from now on; false if it is not one
// of decode_cpu_isas().
bool set_decode_cpu_isa(std::string_view name);

// GPU kernel (kernels/cuda/int4_decode.cu, also built by hipcc): launches on
// stream (a cudaStream_t / hipStream_t, null for the default one); returns
// nullptr on success, else the runtime's error string.
const char* decode_gpu_launch(const DecodeArgs& a, void* stream);

}  // namespace kv
}  // namespace knlp
