// kernels/cuda/int4_decode.cu - fused decode attention over a packed KV cache.
//
// The CPU kernel's algorithm (src/kv/decode_cpu.inc) on a GPU: one block per
// query row (batch, head, query); its warps take the cached tokens in turn,
// kUnroll at a time. A warp reads a token's packed K row (lane l holds
// channels [l CPL, l CPL + CPL), CPL = head_dim / 32), dequantizes it in
// registers, reduces q . k across the warp, and keeps its own online softmax
// (running max m, sum l, accumulator over V); at the end the warps' states
// merge through shared memory. No dequantized K or V is ever written.
//
// Raw pointers only (kv/kernels.h): no torch headers, so nvcc is quick. The
// same file builds with hipcc through kernels/hip/hip_compat.h.
#if !defined(__HIPCC__)
#include <cuda_runtime.h>
#endif

#include <cmath>

#include "kv/kernels.h"

namespace knlp::kv {

namespace {

constexpr int kWarpSize = 32;  // lanes sharing one row (a 64-wide HIP wavefront runs two)
constexpr int kWarps = 8;      // per block
constexpr int kUnroll = 4;     // tokens a warp has in flight
constexpr int kMaxHeadDim = 256;
constexpr float kLog2e = 1.4426950408889634f;

// Channels [c0, c0 + CPL) of one row, dequantized; c0 is a multiple of CPL, so
// they share one scale.
template <KvFormat F, int CPL>
__device__ __forceinline__ void load_row(const uint8_t* __restrict__ row,
                                         const uint16_t* __restrict__ scales, int c0,
                                         float (&x)[CPL]) {
  const float s = has_scales(F) ? half_bits_to_float(scales[c0 / kGroup]) : 1.f;
#pragma unroll
  for (int j = 0; j < CPL; j++) {
    const int c = c0 + j;
    if constexpr (F == KvFormat::kFp32) {
      x[j] = reinterpret_cast<const float*>(row)[c];
    } else if constexpr (F == KvFormat::kBf16) {
      x[j] = __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[c]) << 16);
    } else if constexpr (F == KvFormat::kInt8) {
      x[j] = static_cast<float>(reinterpret_cast<const int8_t*>(row)[c]) * s;
    } else {
      const uint8_t b = row[c / 2];
      x[j] = static_cast<float>(static_cast<int>(c % 2 ? b >> 4 : b & 15) - 8) * s;
    }
  }
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o, kWarpSize);
  return x;
}

template <KvFormat KF, KvFormat VF, int CPL>
__global__ void __launch_bounds__(kWarps* kWarpSize) decode_kernel(const DecodeArgs a) {
  constexpr int D = CPL * kWarpSize, G = D / kGroup;
  constexpr int64_t kb = row_bytes(KF, D), vb = row_bytes(VF, D);
  const int64_t r = blockIdx.x;
  const int64_t i = r % a.queries, h = (r / a.queries) % a.heads, b = r / (a.queries * a.heads);
  const int64_t n_ctx = a.length - a.queries + 1 + i;
  const int64_t row0 = (b * a.kv_heads + h / (a.heads / a.kv_heads)) * a.capacity;
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize, c0 = lane * CPL;
  const auto* k = static_cast<const uint8_t*>(a.k) + row0 * kb;
  const auto* v = static_cast<const uint8_t*>(a.v) + row0 * vb;
  const uint16_t* ks = has_scales(KF) ? a.k_scales + row0 * G : nullptr;
  const uint16_t* vs = has_scales(VF) ? a.v_scales + row0 * G : nullptr;

  float q[CPL], acc[CPL];
#pragma unroll
  for (int j = 0; j < CPL; j++) {
    q[j] = a.q[r * D + c0 + j] * a.scale * kLog2e;  // softmax in base 2
    acc[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t t0 = warp * kUnroll; t0 < n_ctx; t0 += kWarps * kUnroll) {
    float s[kUnroll], mt = -INFINITY;
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {  // t < n_ctx is the same for the whole warp
      const int64_t t = t0 + u;
      float part = 0.f;
      if (t < n_ctx) {
        float x[CPL];
        load_row<KF, CPL>(k + t * kb, ks + (ks ? t * G : 0), c0, x);
#pragma unroll
        for (int j = 0; j < CPL; j++) part += q[j] * x[j];
      }
      s[u] = t < n_ctx ? warp_sum(part) : -INFINITY;
      mt = fmaxf(mt, s[u]);
    }
    const float mn = fmaxf(m, mt), alpha = exp2f(m - mn);  // alpha = 0 on the first tokens
    l *= alpha;
#pragma unroll
    for (int j = 0; j < CPL; j++) acc[j] *= alpha;
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      const int64_t t = t0 + u;
      if (t < n_ctx) {
        const float p = exp2f(s[u] - mn);
        float x[CPL];
        load_row<VF, CPL>(v + t * vb, vs + (vs ? t * G : 0), c0, x);
        l += p;
#pragma unroll
        for (int j = 0; j < CPL; j++) acc[j] += p * x[j];
      }
    }
    m = mn;
  }

  // Merge the warps: a warp that saw no token has m = -inf and weighs 0.
  __shared__ float sm_m[kWarps], sm_l[kWarps], sm_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < CPL; j++) sm_acc[warp][c0 + j] = acc[j];
  __syncthreads();
  for (int c = threadIdx.x; c < D; c += blockDim.x) {
    float M = -INFINITY, L = 0.f, o = 0.f;
    for (int w = 0; w < kWarps; w++) M = fmaxf(M, sm_m[w]);
    for (int w = 0; w < kWarps; w++) {
      const float e = exp2f(sm_m[w] - M);
      L += sm_l[w] * e;
      o += sm_acc[w][c] * e;
    }
    a.out[r * D + c] = o / L;
  }
}

using Launch = void (*)(const DecodeArgs&, cudaStream_t);

template <KvFormat KF, KvFormat VF, int CPL>
void launch(const DecodeArgs& a, cudaStream_t stream) {
  const auto rows = static_cast<unsigned>(a.batch * a.heads * a.queries);
  decode_kernel<KF, VF, CPL><<<rows, kWarps * kWarpSize, 0, stream>>>(a);
}

// [K format][V format][log2(head_dim / 32)]
template <KvFormat KF, KvFormat VF>
struct ByDim {
  static constexpr Launch fns[4] = {launch<KF, VF, 1>, launch<KF, VF, 2>, launch<KF, VF, 4>,
                                    launch<KF, VF, 8>};
};

template <KvFormat KF>
struct ByV {
  static constexpr const Launch* fns[4] = {
      ByDim<KF, KvFormat::kFp32>::fns, ByDim<KF, KvFormat::kBf16>::fns,
      ByDim<KF, KvFormat::kInt8>::fns, ByDim<KF, KvFormat::kInt4>::fns};
};

constexpr const Launch* const* kLaunch[4] = {ByV<KvFormat::kFp32>::fns, ByV<KvFormat::kBf16>::fns,
                                             ByV<KvFormat::kInt8>::fns, ByV<KvFormat::kInt4>::fns};

}  // namespace

const char* decode_gpu_launch(const DecodeArgs& a, void* stream) {
  const int64_t d = a.head_dim;
  const int di = d == 32 ? 0 : d == 64 ? 1 : d == 128 ? 2 : d == 256 ? 3 : -1;
  if (di < 0) return "head_dim must be 32, 64, 128 or 256";
  kLaunch[static_cast<int>(a.k_format)][static_cast<int>(a.v_format)][di](
      a, static_cast<cudaStream_t>(stream));
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace knlp::kv
