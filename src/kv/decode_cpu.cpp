// kv/decode_cpu.cpp - the fused CPU decode kernel, built for four instruction sets.
//
// decode_cpu.inc holds the kernel once, written against a vector type V of
// 16 floats. This file defines V four times - AVX-512 (one zmm; int4 values
// looked up from whole dwords), AVX-512 with VNNI (also integer scores for
// int4 keys), AVX2 + FMA + F16C (two ymm) and
// plain C++ (an array the compiler vectorizes as it can) - and includes the
// kernel under each, with `#pragma GCC target` on the x86 ones; the widest
// set this CPU runs is chosen once. So the binary runs on any x86-64
// machine and needs no -march flag.
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kv/kernels.h"
#include "util/registry.h"  // find_row, row_names

#define KV_INLINE inline __attribute__((always_inline))

// GCC 12 takes the `__m512 __Y = __Y;` of its own intrinsic headers (an
// undefined vector on purpose) for an uninitialized read once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace knlp::kv {

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")
namespace avx512 {

struct V {
  using F = __m512;
  static KV_INLINE F zero() { return _mm512_setzero_ps(); }
  static KV_INLINE F splat(float x) { return _mm512_set1_ps(x); }
  static KV_INLINE F load(const void* p) { return _mm512_loadu_ps(p); }
  static KV_INLINE void store(float* p, F x) { _mm512_storeu_ps(p, x); }
  static KV_INLINE F add(F a, F b) { return _mm512_add_ps(a, b); }
  static KV_INLINE F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static KV_INLINE F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static KV_INLINE F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static KV_INLINE float sum(F x) { return _mm512_reduce_add_ps(x); }
  static KV_INLINE float max(F x) { return _mm512_reduce_max_ps(x); }
  static KV_INLINE F half(const void* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
  }
  static KV_INLINE F bf16(const void* p) {
    const __m512i x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
  }
  static KV_INLINE F int8(const void* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))));
  }
  // 16 bytes to the 16 even (low nibble) and 16 odd channels, q - 8 each:
  // vpermps looks the value up with the index's low 4 bits.
  static KV_INLINE void int4(const void* p, F& even, F& odd) {
    const __m512 values = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i x = _mm512_cvtepu8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p)));
    even = _mm512_permutexvar_ps(x, values);
    odd = _mm512_permutexvar_ps(_mm512_srli_epi32(x, 4), values);
  }
  // 2^x for x <= 0: n = round(x), 2^(x-n) by its degree-7 Taylor series
  // (relative error < 1e-8 on [-1/2, 1/2]), times 2^n by vscalefps.
  static KV_INLINE F exp2(F x) {
    x = _mm512_max_ps(x, splat(-126.f));
    const F n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const F f = sub(x, n);
    F p = splat(1.525273380405984e-05f);
    p = fma(p, f, splat(1.5403530393381606e-04f));
    p = fma(p, f, splat(1.3333558146428443e-03f));
    p = fma(p, f, splat(9.618129107628477e-03f));
    p = fma(p, f, splat(5.550410866482158e-02f));
    p = fma(p, f, splat(2.402265069591007e-01f));
    p = fma(p, f, splat(6.931471805599453e-01f));
    p = fma(p, f, splat(1.f));
    return _mm512_scalef_ps(p, n);
  }
  // One round of the sums below: two shuffles of a and b, added. kLo and kHi
  // pick whole 128-bit blocks (vshuff32x4) or lanes within blocks (vshufps).
  enum Pick { kBlocks, kInBlocks };
  template <Pick P, int kLo, int kHi>
  static KV_INLINE F add_picked(F a, F b) {
    if constexpr (P == kBlocks)
      return add(_mm512_shuffle_f32x4(a, b, kLo), _mm512_shuffle_f32x4(a, b, kHi));
    else
      return add(_mm512_shuffle_ps(a, b, kLo), _mm512_shuffle_ps(a, b, kHi));
  }
  // The sums of t[0..16) as one vector, in order: each round adds the two
  // halves of every token's partial sums and packs two vectors' tokens into
  // one (16 partials of 1 token, 8 of 2, 4 of 4, 2 of 8, 1 of 16). sum8 and
  // sum4 start from the second and third round.
  static KV_INLINE F sum16(const F* t) {
    F u[8];
    for (int j = 0; j < 8; j++) u[j] = add_picked<kBlocks, 0x44, 0xee>(t[2 * j], t[2 * j + 1]);
    return sum8(u);
  }
  // u[j] holds tokens 2j (lanes 0..7) and 2j+1 (lanes 8..15), 8 partials each.
  static KV_INLINE F sum8(const F* u) {
    F w[4];
    for (int j = 0; j < 4; j++) w[j] = add_picked<kBlocks, 0x88, 0xdd>(u[2 * j], u[2 * j + 1]);
    return sum4(w);
  }
  // w[j] holds tokens 4j..4j+3, one per 128-bit block, 4 partials each.
  static KV_INLINE F sum4(const F* w) {
    F x[2];
    for (int j = 0; j < 2; j++) x[j] = add_picked<kInBlocks, 0x44, 0xee>(w[2 * j], w[2 * j + 1]);
    // x[j], block b: tokens 8j+b (lanes 0, 1) and 8j+4+b (lanes 2, 3).
    const F y = add_picked<kInBlocks, 0x88, 0xdd>(x[0], x[1]);
    // y, block b: tokens b, 4+b, 8+b, 12+b.
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), y);
  }
  static constexpr bool kVnni = false;

  // int4 values a tile at a time, with fewer shuffles than int4() takes per
  // row (a vpmovzxbd and two vpermps per 16 bytes: the shuffle unit, not
  // memory, limits the value side). The tile's rows are read as one stream of
  // 64-byte chunks of 16 dwords, and vpermps, which reads only the low 4 bits
  // of each index lane, looks up nibble k of every dword after a shift by 4k:
  // one shuffle per 16 channels, no widening. Nibble k of dword d of a row is
  // channel 8d + k. A chunk spans 4 scale groups (16 bytes each), so its
  // weights are 4 consecutive p s, each spread over 4 lanes. For head_dim <=
  // 128 (G <= 4: a chunk holds 16 / 4G whole rows).
  //
  // Accumulator layout: vector k, lane d holds channel 8d + k, d < 4G; the
  // sums of a chunk's rows are folded into lanes [0, 4G) at the end.
  static constexpr bool kNibbleLookup = true;

  template <int G>
  static KV_INLINE void accum_int4(F* acc_mem, const float* ws, const uint8_t* rows, int n) {
    static_assert(G <= 4, "one chunk holds one or more rows");
    constexpr int kRowsPerChunk = 16 / (4 * G);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const F values = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    F acc[8];
    for (F& a : acc) a = zero();
    const int bytes = n * 16 * G, chunks = (bytes + 63) / 64;
    for (int c = 0; c < chunks; c++) {
      const int left = bytes - 64 * c;
      const __m512i x = left >= 64 ? _mm512_loadu_si512(rows + 64 * c)
                                   : _mm512_maskz_loadu_epi8(~0ull >> (64 - left), rows + 64 * c);
      const F w = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_loadu_ps(ws + 4 * c)));
#pragma GCC unroll 8
      for (int k = 0; k < 8; k++) {
        const __m512i index = k == 0 ? x : _mm512_srli_epi32(x, 4 * k);
        acc[k] = fma(w, _mm512_permutexvar_ps(index, values), acc[k]);
      }
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
      F t = acc[k];
      if (kRowsPerChunk >= 2) t = add(t, _mm512_shuffle_f32x4(t, t, 0x4e));  // + lane d + 8
      if (kRowsPerChunk == 4) t = add(t, _mm512_shuffle_f32x4(t, t, 0xb1));  // + lane d + 4
      acc_mem[k] = add(acc_mem[k], t);
    }
  }
};

#include "kv/decode_cpu.inc"
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")
namespace avx512vnni {

// AVX-512 with VNNI: the scores of int4 keys as integer dot products. q is
// rounded once per query row to a 21-bit integer per channel, relative to
// its largest channel, and split into three signed 7-bit pieces; vpdpbusd
// multiplies 64 nibbles (as unsigned bytes) by 64 pieces and sums them in
// fours, exactly; Horner's scheme over the pieces gives q . (k + 8) in
// int32, and one subtraction removes the offset: 13 vector operations for
// two rows of 64 channels where the float path takes 28. Against a double
// reference the output error stays about twice the float path's (5e-7 on
// random data); int8 keys keep the float path, where the same rounding of
// q costs up to 30x its error at large logits.
struct V : avx512::V {
  static constexpr bool kVnni = true;

  // An int4 row of G groups: 16G bytes, 4G 64-byte vectors per 16 rows, and
  // the 64-byte slices one row spans.
  template <int G>
  struct Rows {
    static constexpr int kBytes = 16 * G;
    static constexpr int kVecs = 4 * G;
    static constexpr int kSlices = kBytes < 64 ? 1 : kBytes / 64;
    // state[]: pieces [k][nibble][slice], the offsets [slice], then the unit
    static constexpr int kOffset = 6 * kSlices, kUnit = kOffset + kSlices;
  };

  // The query for score_int, once per row: qv (Row<int4>'s layout: qv[2g]
  // and qv[2g+1] go with the low and high nibbles of bytes 16g..16g+15)
  // rounded to qi = round(q 2^20 / max|q|) = p0 2^14 + p1 2^7 + p2 (each
  // piece in [-64, 64]) as bytes in the order of a row's bytes, q times the
  // stored offset 8, and the value of one unit of qi.
  template <int G>
  static void prepare_int(const F* qv, F* state) {
    using L = Rows<G>;
    alignas(64) int8_t piece[3][2][L::kSlices * 64];
    float qmax = 0.f;
    for (int g = 0; g < 2 * G; g++) {
      const float m = _mm512_reduce_max_ps(_mm512_abs_ps(qv[g]));
      qmax = m > qmax ? m : qmax;
    }
    const F to_int = splat(qmax > 0.f ? 1048576.f / qmax : 0.f);
    for (int g = 0; g < 2 * G; g++) {
      const __m512i qi = _mm512_cvtps_epi32(mul(qv[g], to_int));
      const __m512i p0 = _mm512_srai_epi32(_mm512_add_epi32(qi, _mm512_set1_epi32(1 << 13)), 14);
      const __m512i r0 = _mm512_sub_epi32(qi, _mm512_slli_epi32(p0, 14));
      const __m512i p1 = _mm512_srai_epi32(_mm512_add_epi32(r0, _mm512_set1_epi32(1 << 6)), 7);
      const __m512i p2 = _mm512_sub_epi32(r0, _mm512_slli_epi32(p1, 7));
      const __m512i ps[3] = {p0, p1, p2};
      for (int k = 0; k < 3; k++)
        for (int at = 16 * (g / 2); at < L::kSlices * 64; at += L::kBytes)  // each copy of the row
          _mm_store_si128(reinterpret_cast<__m128i*>(&piece[k][g % 2][at]),
                          _mm512_cvtepi32_epi8(ps[k]));
    }
    auto* v = reinterpret_cast<__m512i*>(state);
    for (int k = 0; k < 3; k++)
      for (int e = 0; e < 2; e++)
        for (int i = 0; i < L::kSlices; i++)
          v[(2 * k + e) * L::kSlices + i] = _mm512_load_si512(&piece[k][e][64 * i]);
    for (int i = 0; i < L::kSlices; i++)
      v[L::kOffset + i] = dot_int<G>(state, _mm512_set1_epi8(static_cast<char>(0x88)), i);
    state[L::kUnit] = splat(qmax / 1048576.f);
  }

  // qi . x for the 64 bytes x of slice i of a row, in int32 lanes of 4
  // bytes (8 channels) each: Horner's scheme over the pieces, exact in int32
  // (|qi . x| < 8 * 2^20 * 15 < 2^31).
  template <int G>
  static KV_INLINE __m512i dot_int(const F* state, __m512i x, int i) {
    using L = Rows<G>;
    const auto* pv = reinterpret_cast<const __m512i*>(state);
    const __m512i nib = _mm512_set1_epi8(0x0f);
    const __m512i lo = _mm512_and_si512(x, nib), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < 3; k++) {
      if (k) acc = _mm512_slli_epi32(acc, 7);
      acc = _mm512_dpbusd_epi32(acc, lo, pv[2 * k * L::kSlices + i]);
      acc = _mm512_dpbusd_epi32(acc, hi, pv[(2 * k + 1) * L::kSlices + i]);
    }
    return acc;
  }

  // Scores of the n <= Tile int4 rows at rows (contiguous) into s[0, Tile):
  // sc holds their float scales (0 past n), state the prepared query.
  template <int G, int Tile>
  static void score_int(const F* state, const uint8_t* rows, const float* sc, int n, float* s) {
    using L = Rows<G>;
    // Lane l of a 64-byte vector goes with its scale l / 4 (16 bytes a group).
    const __m512i scale_lane = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const auto* offset = reinterpret_cast<const __m512i*>(state) + L::kOffset;
    for (int j0 = 0; j0 < Tile; j0 += 16) {
      if (j0 >= n) {
        store(s + j0, zero());
        continue;
      }
      F t[L::kVecs];
      for (int z = 0; z < L::kVecs; z++) {
        const int at = j0 * L::kBytes + 64 * z;  // byte offset in the tile
        const int left = n * L::kBytes - at;
        const __m512i x = left >= 64 ? _mm512_loadu_si512(rows + at)
                          : left > 0 ? _mm512_maskz_loadu_epi8(~0ull >> (64 - left), rows + at)
                                     : _mm512_setzero_si512();
        const int i = z % L::kSlices;
        const __m512i qk = _mm512_sub_epi32(dot_int<G>(state, x, i), offset[i]);
        const __m512 s4 = _mm512_castps128_ps512(_mm_loadu_ps(sc + at / 16));
        t[z] = mul(_mm512_cvtepi32_ps(qk), _mm512_permutexvar_ps(scale_lane, s4));
      }
      store(s + j0, mul(state[L::kUnit], sum_rows<L::kVecs>(t)));
    }
  }

  // The 16 row sums of Z vectors of partial sums: Z = 16 has one row a
  // vector, 8 two (sum8), 4 four (sum4), 32 spreads a row over 2.
  template <int Z>
  static KV_INLINE F sum_rows(F* t) {
    if constexpr (Z == 4) {
      return sum4(t);
    } else if constexpr (Z == 8) {
      return sum8(t);
    } else {
      F u[16];
      for (int j = 0; j < 16; j++) {
        u[j] = t[j * (Z / 16)];
        for (int i = 1; i < Z / 16; i++) u[j] = add(u[j], t[j * (Z / 16) + i]);
      }
      return sum16(u);
    }
  }
};

#include "kv/decode_cpu.inc"
}  // namespace avx512vnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {

struct V {
  struct F {
    __m256 lo, hi;
  };
  static KV_INLINE F zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static KV_INLINE F splat(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static KV_INLINE F load(const void* p) {
    const auto* f = static_cast<const float*>(p);
    return {_mm256_loadu_ps(f), _mm256_loadu_ps(f + 8)};
  }
  static KV_INLINE void store(float* p, F x) {
    _mm256_storeu_ps(p, x.lo);
    _mm256_storeu_ps(p + 8, x.hi);
  }
  static KV_INLINE F add(F a, F b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static KV_INLINE F sub(F a, F b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  static KV_INLINE F mul(F a, F b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static KV_INLINE F fma(F a, F b, F c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  static KV_INLINE float sum(F x) {
    const __m256 s = _mm256_add_ps(x.lo, x.hi);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    return _mm_cvtss_f32(_mm_add_ss(r, _mm_movehdup_ps(r)));
  }
  static KV_INLINE float max(F x) {
    const __m256 s = _mm256_max_ps(x.lo, x.hi);
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    return _mm_cvtss_f32(_mm_max_ss(r, _mm_movehdup_ps(r)));
  }
  static KV_INLINE __m128i load128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
  }
  static KV_INLINE F half(const void* p) {
    const auto* h = static_cast<const uint16_t*>(p);
    return {_mm256_cvtph_ps(load128(h)), _mm256_cvtph_ps(load128(h + 8))};
  }
  static KV_INLINE __m256 bf16_8(__m128i x) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x), 16));
  }
  static KV_INLINE F bf16(const void* p) {
    const auto* h = static_cast<const uint16_t*>(p);
    return {bf16_8(load128(h)), bf16_8(load128(h + 8))};
  }
  static KV_INLINE __m256 s8_8(__m128i x) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(x)); }
  static KV_INLINE F int8(const void* p) {
    const __m128i x = load128(p);
    return {s8_8(x), s8_8(_mm_srli_si128(x, 8))};
  }
  // 16 bytes to the 16 even (low nibble) and 16 odd channels, q - 8 each.
  static KV_INLINE void int4(const void* p, F& even, F& odd) {
    const __m128i b = load128(p), mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(b, mask), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), mask), eight);
    even = {s8_8(lo), s8_8(_mm_srli_si128(lo, 8))};
    odd = {s8_8(hi), s8_8(_mm_srli_si128(hi, 8))};
  }
  // 2^x for x <= 0, as in the AVX-512 V; 2^n built in the exponent bits.
  static KV_INLINE __m256 exp2_8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-126.f));
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(1.525273380405984e-05f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.5403530393381606e-04f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618129107628477e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550410866482158e-02f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402265069591007e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931471805599453e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.f));
    const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
  }
  static KV_INLINE F exp2(F x) { return {exp2_8(x.lo), exp2_8(x.hi)}; }
  // The sums of 8 vectors of 8, in order (hadd tree, then fold the halves).
  static KV_INLINE __m256 sum8(const __m256* u) {
    const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(u[0], u[1]), _mm256_hadd_ps(u[2], u[3]));
    const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(u[4], u[5]), _mm256_hadd_ps(u[6], u[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  }
  static KV_INLINE F sum16(const F* t) {
    __m256 u[16];
    for (int j = 0; j < 16; j++) u[j] = _mm256_add_ps(t[j].lo, t[j].hi);
    return {sum8(u), sum8(u + 8)};
  }
  static constexpr bool kVnni = false;
  static constexpr bool kNibbleLookup = false;
};

#include "kv/decode_cpu.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif

namespace base {

struct V {
  struct F {
    float v[16];
  };
  static KV_INLINE F zero() { return {}; }
  static KV_INLINE F splat(float x) {
    F r;
    for (float& e : r.v) e = x;
    return r;
  }
  static KV_INLINE F load(const void* p) {
    F r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static KV_INLINE void store(float* p, F x) { std::memcpy(p, x.v, sizeof x.v); }
  static KV_INLINE F add(F a, F b) {
    for (int i = 0; i < 16; i++) a.v[i] += b.v[i];
    return a;
  }
  static KV_INLINE F sub(F a, F b) {
    for (int i = 0; i < 16; i++) a.v[i] -= b.v[i];
    return a;
  }
  static KV_INLINE F mul(F a, F b) {
    for (int i = 0; i < 16; i++) a.v[i] *= b.v[i];
    return a;
  }
  static KV_INLINE F fma(F a, F b, F c) {
    for (int i = 0; i < 16; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
  }
  static KV_INLINE float sum(F x) {
    float s = 0.f;
    for (float e : x.v) s += e;
    return s;
  }
  static KV_INLINE float max(F x) {
    float m = x.v[0];
    for (float e : x.v) m = e > m ? e : m;
    return m;
  }
  static KV_INLINE F half(const void* p) {
    F r;
    for (int i = 0; i < 16; i++) r.v[i] = half_bits_to_float(static_cast<const uint16_t*>(p)[i]);
    return r;
  }
  static KV_INLINE F bf16(const void* p) {
    F r;
    for (int i = 0; i < 16; i++) {
      const uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
      std::memcpy(&r.v[i], &bits, 4);
    }
    return r;
  }
  static KV_INLINE F int8(const void* p) {
    F r;
    for (int i = 0; i < 16; i++) r.v[i] = static_cast<const int8_t*>(p)[i];
    return r;
  }
  static KV_INLINE void int4(const void* p, F& even, F& odd) {
    for (int i = 0; i < 16; i++) {
      const uint8_t b = static_cast<const uint8_t*>(p)[i];
      even.v[i] = static_cast<float>((b & 15) - 8);
      odd.v[i] = static_cast<float>((b >> 4) - 8);
    }
  }
  static KV_INLINE F exp2(F x) {
    for (float& e : x.v) e = exp2f(e);
    return x;
  }
  static KV_INLINE F sum16(const F* t) {
    F r;
    for (int j = 0; j < 16; j++) r.v[j] = sum(t[j]);
    return r;
  }
  static constexpr bool kVnni = false;
  static constexpr bool kNibbleLookup = false;
};

#include "kv/decode_cpu.inc"
}  // namespace base

namespace {

using RowsFn = void (*)(const DecodeArgs&, int64_t, int64_t);

struct Isa {
  const char* name;
  RowsFn rows;
};

// The instruction sets this CPU runs, widest first.
std::vector<Isa> runnable_isas() {
  std::vector<Isa> isas;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (avx512 && __builtin_cpu_supports("avx512vnni"))
    isas.push_back({"avx512vnni", avx512vnni::decode_rows});
  if (avx512) isas.push_back({"avx512", avx512::decode_rows});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    isas.push_back({"avx2", avx2::decode_rows});
  isas.push_back({"x86-64", base::decode_rows});
#else
  isas.push_back({"generic", base::decode_rows});
#endif
  return isas;
}

const std::vector<Isa>& isas() {
  static const std::vector<Isa> all = runnable_isas();
  return all;
}

std::atomic<const Isa*> current{nullptr};

const Isa& isa() {
  const Isa* i = current.load(std::memory_order_relaxed);
  return i ? *i : isas().front();
}

}  // namespace

void decode_cpu_rows(const DecodeArgs& a, int64_t begin, int64_t end) { isa().rows(a, begin, end); }

const char* decode_cpu_isa() { return isa().name; }

std::vector<std::string> decode_cpu_isas() { return row_names(isas()); }

bool set_decode_cpu_isa(std::string_view name) {
  const Isa* i = find_row(isas(), name);
  if (i) current.store(i, std::memory_order_relaxed);
  return i != nullptr;
}

}  // namespace knlp::kv
