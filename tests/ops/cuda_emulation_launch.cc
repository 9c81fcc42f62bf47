// Runs the kernels of deformable_conv_kernels.cu on the CPU (tests only; see
// cuda_emulation.h): run_<kernel>(arguments..., threads) calls the kernel for each
// of `threads` threads, 256 to a block.

#include "cuda_emulation.h"
#include DEFORMABLE_KERNELS_SOURCE

static void SetThread(long long thread) {
  blockDim.x = 256;
  blockIdx.x = static_cast<unsigned int>(thread / 256);
  threadIdx.x = static_cast<unsigned int>(thread % 256);
}

#define EMULATED(T, SUFFIX)                                                         \
  extern "C" void run_im2col_##SUFFIX(const T* input, const T* offsets,             \
                                      const T* mask, T* columns, Geometry g,        \
                                      long long threads) {                          \
    for (long long t = 0; t < threads; ++t) {                                       \
      SetThread(t);                                                                 \
      deformable_im2col_##SUFFIX(input, offsets, mask, columns, g);                 \
    }                                                                               \
  }                                                                                 \
  extern "C" void run_im2col_grad_##SUFFIX(                                         \
      const T* input, const T* offsets, const T* mask, const T* grad_columns,       \
      Accumulate<T>::type* grad_input, T* grad_offsets, T* grad_mask, Geometry g,   \
      long long threads) {                                                          \
    for (long long t = 0; t < threads; ++t) {                                       \
      SetThread(t);                                                                 \
      deformable_im2col_grad_##SUFFIX(input, offsets, mask, grad_columns,           \
                                      grad_input, grad_offsets, grad_mask, g);      \
    }                                                                               \
  }

EMULATED(float, f32)
EMULATED(double, f64)
EMULATED(half_t, f16)
EMULATED(bf16_t, bf16)

#define EMULATED_CONVERT(T, SUFFIX)                                                 \
  extern "C" void run_convert_##SUFFIX(const float* from, T* to, long long size) {  \
    for (long long t = 0; t < size; ++t) {                                          \
      SetThread(t);                                                                 \
      deformable_convert_##SUFFIX(from, to, size);                                  \
    }                                                                               \
  }

EMULATED_CONVERT(half_t, f16)
EMULATED_CONVERT(bf16_t, bf16)

extern "C" float emulated_half_to_float(unsigned short bits) {
  return half_bits_to_float(bits);
}
