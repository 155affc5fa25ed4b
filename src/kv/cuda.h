// kv/cuda.h - private to kv/: the CUDA side of kv_decode, or its stub.
//
// KNLP_KV_CUDA is 1 when CMake (kernels/kernels.cmake) built
// kernels/cuda/int4_decode.cu and kv/decode_cuda.cpp into knlp_core; with 0,
// calls land in the stub below, which says how to get the kernel.
#pragma once

#include "generated/kernels_built.h"
#include "kv/kernels.h"
#include "util/check.h"

namespace knlp::kv {

#if KNLP_KV_CUDA
constexpr bool kCudaBuilt = true;

// Runs the fused decode kernel on the current stream of CUDA device `device`.
// Throws Error (exit 1) with the CUDA runtime's message when the launch fails.
void decode_cuda(const DecodeArgs& a, int device);
#else
constexpr bool kCudaBuilt = false;

inline void decode_cuda(const DecodeArgs&, int) {
  KNLP_CHECK(false, "CONFIG_KV_CUDA",
             "this knlp was built without the CUDA decode kernel (needs nvcc with torch's CUDA "
             "major version); decode on the CPU or rebuild with nvcc");
}
#endif

}  // namespace knlp::kv
