// CUDA kernels of the deformable im2col and its gradient (the GPU half of the two ops
// of deformable_conv_op.cc, with the same semantics; see reference.py).
//
// This file includes no header, so it compiles unchanged with NVRTC (what the op
// library uses: deformable_conv_gpu.cc loads the image, gpu.py compiles it), with
// nvcc, with CuPy's RawModule (tools/deformable_gpu_check.py) and, for the CPU
// tests, as C++ with tests/ops/cuda_emulation.h.
//
// Layout is channels-last, as everywhere in tfdeeplab: input [N, H, W, C], offsets
// [N, Ho, Wo, 2 * G * K] ((dy, dx) of tap k of group g at 2 * (g * K + k)), mask
// [N, Ho, Wo, G * K], columns [count, K * C] with column tap * C + c.
//
// Work item: one (pixel, tap, group) sample of group_channels channels, handled by
// `lanes` consecutive threads (a power of two up to 32): the sampling position, its
// four corners and weights are computed once per item and shared by the channels,
// and each lane takes channels lane, lane + lanes, ... so the lanes of a warp read
// and write consecutive channels (coalesced). Items run (group, tap, pixel) fastest
// first, so consecutive items write consecutive column memory.
//
// The gradient scatters into the input gradient with atomic adds (into a float32
// buffer for half and bfloat16, converted at the end by convert_*), and reduces the
// offset and mask gradients over the item's lanes with warp shuffles; lane 0 writes
// them. Arithmetic is in float32 for half, bfloat16 and float32, in float64 for
// float64.

typedef long long i64;

// The geometry of one call; every field is 64 bits, so the layout is the same in
// every compiler (deformable_conv_gpu.cc and the tools' harness fill it in this order).
struct Geometry {
  i64 batch, height, width, channels;
  i64 out_height, out_width;
  i64 kernel_h, kernel_w, taps;
  i64 stride, padding, dilation;
  i64 groups, group_channels;
  i64 use_mask;  // 0 or 1
  i64 start;     // first output pixel of the block (flattened [N, Ho, Wo])
  i64 count;     // pixels in the block
  i64 lanes;     // threads per item: a power of two, at most 32
};

// 16-bit storage types (their bits); conversions below.
struct half_t {
  unsigned short bits;
};
struct bf16_t {
  unsigned short bits;
};

template <typename T>
struct Accumulate {
  typedef float type;
};
template <>
struct Accumulate<double> {
  typedef double type;
};

__device__ __forceinline__ unsigned int float_bits(float value) {
  return __float_as_uint(value);
}
__device__ __forceinline__ float bits_float(unsigned int bits) {
  return __uint_as_float(bits);
}

// IEEE half <-> float, rounding to nearest even: one PTX instruction on a GPU, the
// same rounding in integer arithmetic elsewhere (the CPU tests, nvcc's host pass).
__device__ __forceinline__ float half_bits_to_float(unsigned short h) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  const unsigned int sign = static_cast<unsigned int>(h & 0x8000u) << 16;
  unsigned int exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return bits_float(sign);
    exponent = 1;  // a subnormal: normalise it
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3ffu;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
#endif
}

__device__ __forceinline__ unsigned short float_to_half_bits(float f) {
#if defined(__CUDA_ARCH__)
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  const unsigned int bits = float_bits(f);
  const unsigned int sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<unsigned short>(sign | 0x7e00u);
  if (magnitude >= 0x477ff000u) return static_cast<unsigned short>(sign | 0x7c00u);
  if (magnitude <= 0x33000000u) return static_cast<unsigned short>(sign);
  unsigned int kept, rest, half;
  if (magnitude < 0x38800000u) {  // a half subnormal
    const unsigned int shift = 126u - (magnitude >> 23);
    const unsigned int mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    kept = mantissa >> shift;
    rest = mantissa & ((1u << shift) - 1u);
    half = 1u << (shift - 1u);
  } else {
    kept = (magnitude - 0x38000000u) >> 13;
    rest = magnitude & 0x1fffu;
    half = 0x1000u;
  }
  if (rest > half || (rest == half && (kept & 1u))) ++kept;
  return static_cast<unsigned short>(sign | kept);
#endif
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ double to_float(double v) { return v; }
__device__ __forceinline__ float to_float(bf16_t v) {
  return bits_float(static_cast<unsigned int>(v.bits) << 16);
}
__device__ __forceinline__ float to_float(half_t v) { return half_bits_to_float(v.bits); }

template <typename T>
__device__ __forceinline__ T from_float(typename Accumulate<T>::type v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ double from_float<double>(double v) {
  return v;
}
template <>
__device__ __forceinline__ bf16_t from_float<bf16_t>(float v) {
  // Round to nearest even; NaN stays a (quiet) NaN.
  const unsigned int bits = float_bits(v);
  bf16_t out;
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    out.bits = static_cast<unsigned short>((bits >> 16) | 0x40u);
  } else {
    out.bits = static_cast<unsigned short>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
  return out;
}
template <>
__device__ __forceinline__ half_t from_float<half_t>(float v) {
  half_t out;
  out.bits = float_to_half_bits(v);
  return out;
}

template <typename A>
__device__ __forceinline__ A quiet_nan();
template <>
__device__ __forceinline__ float quiet_nan<float>() {
  return bits_float(0x7fc00000u);
}
template <>
__device__ __forceinline__ double quiet_nan<double>() {
  return __longlong_as_double(0x7ff8000000000000ll);
}

// Finite without a math header: inf - inf and NaN - NaN are NaN, and NaN != NaN.
template <typename A>
__device__ __forceinline__ bool finite(A v) {
  const A zero = v - v;
  return zero == zero;
}

__device__ __forceinline__ float floor_of(float v) { return floorf(v); }
__device__ __forceinline__ double floor_of(double v) { return floor(v); }

// One bilinear sample (SPEC §2): four corners (element offsets into the image at
// channel 0) and weights; a corner outside the image has weight 0 and offset 0.
template <typename A>
struct Sample {
  i64 corner[4];
  A weight[4];
  A fy, fx;
  bool inside[4];
  bool any;
};

// Returns false for a non-finite position (the sample is then NaN).
template <typename A>
__device__ __forceinline__ bool bilinear_sample(A y, A x, const Geometry& g,
                                                Sample<A>* s) {
  for (int k = 0; k < 4; ++k) {
    s->corner[k] = 0;
    s->weight[k] = A(0);
    s->inside[k] = false;
  }
  s->fy = s->fx = A(0);
  s->any = false;
  if (!finite(y) || !finite(x)) return false;
  // Every corner outside: 0. Exactly -1 takes the general path (its position
  // gradient is the right-hand one, as in the reference).
  if (y < A(-1) || y >= A(g.height) || x < A(-1) || x >= A(g.width)) return true;
  const A fy0 = floor_of(y), fx0 = floor_of(x);
  const i64 y0 = static_cast<i64>(fy0), x0 = static_cast<i64>(fx0);
  s->fy = y - fy0;
  s->fx = x - fx0;
  const A wy[2] = {A(1) - s->fy, s->fy};
  const A wx[2] = {A(1) - s->fx, s->fx};
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const int k = dy * 2 + dx;
      const i64 yy = y0 + dy, xx = x0 + dx;
      const bool inside = yy >= 0 && yy < g.height && xx >= 0 && xx < g.width;
      s->inside[k] = inside;
      s->weight[k] = inside ? wy[dy] * wx[dx] : A(0);
      s->corner[k] = inside ? (yy * g.width + xx) * g.channels : 0;
      s->any = s->any || inside;
    }
  }
  return true;
}

// Which item and lane this thread is, and the item's pixel, group and tap.
struct Item {
  i64 index, local, pixel, image, group, tap;
  int lane;
  bool active;
};

__device__ __forceinline__ Item item_of_thread(const Geometry& g) {
  Item item;
  const i64 thread =
      static_cast<i64>(blockIdx.x) * static_cast<i64>(blockDim.x) + threadIdx.x;
  item.index = thread / g.lanes;
  item.lane = static_cast<int>(thread % g.lanes);
  item.active = item.index < g.count * g.taps * g.groups;
  const i64 index = item.active ? item.index : 0;
  item.group = index % g.groups;
  item.tap = (index / g.groups) % g.taps;
  item.local = index / (g.groups * g.taps);
  item.pixel = g.start + item.local;
  item.image = item.pixel / (g.out_height * g.out_width);
  return item;
}

// The item's sample position (before and after its offset) and its mask value.
template <typename T, typename A>
__device__ __forceinline__ bool item_sample(const Item& item, const T* offsets,
                                            const T* mask, const Geometry& g,
                                            Sample<A>* s, A* m) {
  const i64 out_pixels = g.out_height * g.out_width;
  const i64 ho = (item.pixel % out_pixels) / g.out_width;
  const i64 wo = item.pixel % g.out_width;
  const i64 index = item.group * g.taps + item.tap;
  const T* pixel_offsets = offsets + item.pixel * 2 * g.groups * g.taps;
  const A y = A(ho * g.stride - g.padding + (item.tap / g.kernel_w) * g.dilation) +
              A(to_float(pixel_offsets[2 * index]));
  const A x = A(wo * g.stride - g.padding + (item.tap % g.kernel_w) * g.dilation) +
              A(to_float(pixel_offsets[2 * index + 1]));
  *m = g.use_mask ? A(to_float(mask[item.pixel * g.groups * g.taps + index])) : A(1);
  return bilinear_sample(y, x, g, s) && finite(*m);
}

template <typename T>
__device__ __forceinline__ void im2col(const T* __restrict__ input,
                                       const T* __restrict__ offsets,
                                       const T* __restrict__ mask,
                                       T* __restrict__ columns, const Geometry& g) {
  typedef typename Accumulate<T>::type A;
  const Item item = item_of_thread(g);
  if (!item.active) return;  // no shuffles here, so lanes may leave early
  Sample<A> s;
  A m;
  const bool ok = item_sample(item, offsets, mask, g, &s, &m);
  const i64 c0 = item.group * g.group_channels;
  T* out = columns + item.local * g.taps * g.channels + item.tap * g.channels + c0;
  const T* image = input + item.image * g.height * g.width * g.channels + c0;
  const A w0 = s.weight[0] * m, w1 = s.weight[1] * m;
  const A w2 = s.weight[2] * m, w3 = s.weight[3] * m;
  for (i64 k = item.lane; k < g.group_channels; k += g.lanes) {
    A value;
    if (!ok) {
      value = quiet_nan<A>();
    } else if (!s.any) {
      value = A(0);
    } else {
      value = w0 * A(to_float(image[s.corner[0] + k])) +
              w1 * A(to_float(image[s.corner[1] + k])) +
              w2 * A(to_float(image[s.corner[2] + k])) +
              w3 * A(to_float(image[s.corner[3] + k]));
    }
    out[k] = from_float<T>(value);
  }
}

// Sum over the item's lanes (they are consecutive threads of one warp; every thread
// of the warp calls this, active or not).
template <typename A>
__device__ __forceinline__ A lanes_sum(A value, int lanes) {
  for (int step = lanes / 2; step > 0; step /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, step, lanes);
  }
  return value;
}

template <typename T>
__device__ __forceinline__ void im2col_grad(
    const T* __restrict__ input, const T* __restrict__ offsets,
    const T* __restrict__ mask, const T* __restrict__ grad_columns,
    typename Accumulate<T>::type* __restrict__ grad_input, T* __restrict__ grad_offsets,
    T* __restrict__ grad_mask, const Geometry& g) {
  typedef typename Accumulate<T>::type A;
  const Item item = item_of_thread(g);
  Sample<A> s;
  A m = A(0);
  const bool ok = item.active && item_sample(item, offsets, mask, g, &s, &m);
  const i64 c0 = item.group * g.group_channels;
  const i64 image_offset = item.image * g.height * g.width * g.channels + c0;
  A value_sum = A(0), dy_sum = A(0), dx_sum = A(0);
  if (item.active && !ok) {
    // NaN in, NaN out, at pixel 0 of the image (where the reference's clamped
    // gather puts it): the run is diverging and will stop on it.
    for (i64 k = item.lane; k < g.group_channels; k += g.lanes) {
      atomicAdd(grad_input + image_offset + k, quiet_nan<A>());
    }
  } else if (ok && s.any) {
    const T* image = input + image_offset;
    A* image_grad = grad_input + image_offset;
    const T* grad = grad_columns + item.local * g.taps * g.channels +
                    item.tap * g.channels + c0;
    // An outside corner's value counts as 0 in the position gradient.
    const A in0 = A(s.inside[0]), in1 = A(s.inside[1]);
    const A in2 = A(s.inside[2]), in3 = A(s.inside[3]);
    for (i64 k = item.lane; k < g.group_channels; k += g.lanes) {
      const A gk = A(to_float(grad[k]));
      const A a = in0 * A(to_float(image[s.corner[0] + k]));
      const A b = in1 * A(to_float(image[s.corner[1] + k]));
      const A c = in2 * A(to_float(image[s.corner[2] + k]));
      const A d = in3 * A(to_float(image[s.corner[3] + k]));
      value_sum += gk * (s.weight[0] * a + s.weight[1] * b + s.weight[2] * c +
                         s.weight[3] * d);
      dy_sum += gk * ((A(1) - s.fx) * (c - a) + s.fx * (d - b));
      dx_sum += gk * ((A(1) - s.fy) * (b - a) + s.fy * (d - c));
      const A scaled = gk * m;
      for (int corner = 0; corner < 4; ++corner) {
        if (s.inside[corner]) {
          atomicAdd(image_grad + s.corner[corner] + k, s.weight[corner] * scaled);
        }
      }
    }
  }
  const int lanes = static_cast<int>(g.lanes);
  value_sum = lanes_sum(value_sum, lanes);
  dy_sum = lanes_sum(dy_sum, lanes);
  dx_sum = lanes_sum(dx_sum, lanes);
  if (!item.active || item.lane != 0) return;
  const i64 index = item.pixel * g.groups * g.taps + item.group * g.taps + item.tap;
  if (!ok) {
    grad_offsets[2 * index] = grad_offsets[2 * index + 1] = from_float<T>(quiet_nan<A>());
    if (g.use_mask) grad_mask[index] = from_float<T>(quiet_nan<A>());
  } else if (s.any) {
    grad_offsets[2 * index] = from_float<T>(dy_sum * m);
    grad_offsets[2 * index + 1] = from_float<T>(dx_sum * m);
    if (g.use_mask) grad_mask[index] = from_float<T>(value_sum);
  }
}

// The entry points, one per storage type: f32, f64, f16 (half), bf16 (bfloat16).
#define TFDEEPLAB_DEFORMABLE_KERNELS(T, SUFFIX)                                    \
  extern "C" __global__ void deformable_im2col_##SUFFIX(                           \
      const T* input, const T* offsets, const T* mask, T* columns, Geometry g) {   \
    im2col<T>(input, offsets, mask, columns, g);                                   \
  }                                                                                \
  extern "C" __global__ void deformable_im2col_grad_##SUFFIX(                      \
      const T* input, const T* offsets, const T* mask, const T* grad_columns,      \
      Accumulate<T>::type* grad_input, T* grad_offsets, T* grad_mask, Geometry g) { \
    im2col_grad<T>(input, offsets, mask, grad_columns, grad_input, grad_offsets,   \
                   grad_mask, g);                                                  \
  }

TFDEEPLAB_DEFORMABLE_KERNELS(float, f32)
TFDEEPLAB_DEFORMABLE_KERNELS(double, f64)
TFDEEPLAB_DEFORMABLE_KERNELS(half_t, f16)
TFDEEPLAB_DEFORMABLE_KERNELS(bf16_t, bf16)
#undef TFDEEPLAB_DEFORMABLE_KERNELS

// The float32 input-gradient buffer of the 16-bit types, converted into the output.
#define TFDEEPLAB_CONVERT_KERNEL(T, SUFFIX)                                        \
  extern "C" __global__ void deformable_convert_##SUFFIX(const float* from, T* to, \
                                                         i64 size) {               \
    const i64 i =                                                                  \
        static_cast<i64>(blockIdx.x) * static_cast<i64>(blockDim.x) + threadIdx.x; \
    if (i < size) to[i] = from_float<T>(from[i]);                                  \
  }

TFDEEPLAB_CONVERT_KERNEL(half_t, f16)
TFDEEPLAB_CONVERT_KERNEL(bf16_t, bf16)
#undef TFDEEPLAB_CONVERT_KERNEL
