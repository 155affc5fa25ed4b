// kv/decode_cuda.cpp - torch glue of the CUDA decode kernel: picks the device
// and the current stream, launches kernels/cuda/int4_decode.cu. CMake builds
// this file only together with that kernel (see kv/cuda.h).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kv/cuda.h"

namespace knlp::kv {

void decode_cuda(const DecodeArgs& a, int device) {
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  const char* err = decode_gpu_launch(a, c10::cuda::getCurrentCUDAStream().stream());
  KNLP_CHECK(err == nullptr, "kv", "CUDA decode kernel on cuda:{}: {}", device, err);
}

}  // namespace knlp::kv
