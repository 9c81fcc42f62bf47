// Just enough of CUDA for g++ to compile deformable_conv_kernels.cu as plain C++
// and run its kernels on the CPU, one thread after another (tests only).
//
// cuda_emulation_launch.cc sets the thread indices and calls each kernel once per
// thread of the grid. Atomic adds are plain adds (one thread at a time). A warp
// shuffle cannot be emulated thread by thread, so the launcher runs the gradient
// with one lane per item, where the kernels never shuffle; a shuffle reached
// anyway aborts.

#include <cmath>
#include <cstdlib>
#include <cstring>

#define __global__
#define __device__
#define __forceinline__ inline

struct EmulatedIndex {
  unsigned int x;
};
static EmulatedIndex threadIdx, blockIdx, blockDim;

inline unsigned int __float_as_uint(float value) {
  unsigned int bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
inline float __uint_as_float(unsigned int bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
inline double __longlong_as_double(long long bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
#include <math.h>  // floor and floorf, as CUDA has them

template <typename A>
inline A atomicAdd(A* address, A value) {
  const A old = *address;
  *address = old + value;
  return old;
}

template <typename A>
inline A __shfl_xor_sync(unsigned int, A, int, int) {
  std::abort();
}
