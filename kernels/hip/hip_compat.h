// kernels/hip/hip_compat.h - the few CUDA names kernels/cuda/int4_decode.cu
// uses, mapped onto HIP, so that hipcc builds that same file unchanged.
#pragma once

#include <hip/hip_runtime.h>

#define cudaStream_t hipStream_t
#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaGetLastError hipGetLastError
#define cudaGetErrorString hipGetErrorString

// ROCm before 6.2 has only the mask-less shuffle; width 32 keeps the CUDA
// warp's 32 lanes together inside a 64-lane wavefront.
#define __shfl_xor_sync(mask, var, lane_mask, width) __shfl_xor(var, lane_mask, width)
