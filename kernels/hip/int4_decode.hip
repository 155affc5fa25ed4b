// kernels/hip/int4_decode.hip - the CUDA decode kernel, built by hipcc.
#include "hip_compat.h"

#include "../cuda/int4_decode.cu"
