// Deformable im2col and its gradient: the sampling half of a deformable convolution.
//
// TfdeeplabDeformableIm2col writes, for the output pixels p in [start, start + count)
// of the flattened [N, Ho, Wo] grid, the columns a convolution multiplies with the
// kernel flattened to [kh * kw * C, O]: columns[p - start, tap * C + c] is input
// channel c sampled bilinearly at tap `tap` of pixel p, moved by that tap's offset of
// c's deformable group and multiplied by its mask (DCN v2) when there is one. The
// GEMM with the kernel is TensorFlow's own matmul (see kernel.py), one block of
// pixels at a time, so memory stays bounded.
//
// TfdeeplabDeformableIm2colGrad takes the gradient of those columns and returns the
// gradients of the input, the offsets and the mask (full size; only the block's
// pixels contribute).
//
// Semantics are those of reference.py (MSRA DCN, DCNv2, torchvision):
// - tap (i, j) of output pixel (ho, wo) samples at
//   y = ho * stride - padding + i * dilation + dy, x likewise with dx, where (dy, dx)
//   are offsets channels 2 * (g * K + tap) and 2 * (g * K + tap) + 1;
// - a bilinear corner outside the image contributes 0, so a sample at y <= -1,
//   y >= H, x <= -1 or x >= W is 0;
// - a non-finite offset or mask makes the sample NaN (a diverging run stops on NaN
//   instead of reading memory out of range).
//
// Work is spread over TensorFlow's CPU thread pool: the columns and the offset and
// mask gradients by pixel, the input gradient (a scatter) by channel range, so no
// two threads ever add to the same element.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "deformable_conv_geometry.h"

namespace tfdeeplab {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

REGISTER_OP("TfdeeplabDeformableIm2col")
    .Input("input: T")     // [N, H, W, C]
    .Input("offsets: T")   // [N, Ho, Wo, 2 * G * kh * kw]
    .Input("mask: T")      // [N, Ho, Wo, G * kh * kw], or any shape without use_mask
    .Input("start: int64")  // first pixel of the block in the flattened [N, Ho, Wo]
    .Input("count: int64")  // pixels in the block
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("kernel_size: list(int)")  // [kh, kw]
    .Attr("stride: int >= 1")
    .Attr("padding: int >= 0")
    .Attr("dilation: int >= 1")
    .Attr("deformable_groups: int >= 1")
    .Attr("use_mask: bool")
    .Output("columns: T")  // [count, kh * kw * C]
    .SetShapeFn([](InferenceContext* c) {
      std::vector<int> kernel_size;
      TF_RETURN_IF_ERROR(c->GetAttr("kernel_size", &kernel_size));
      ShapeHandle input;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &input));
      DimensionHandle width;
      TF_RETURN_IF_ERROR(
          c->Multiply(c->Dim(input, 3), kernel_size[0] * kernel_size[1], &width));
      c->set_output(0, c->Matrix(c->UnknownDim(), width));
      return Status();
    });

REGISTER_OP("TfdeeplabDeformableIm2colGrad")
    .Input("input: T")
    .Input("offsets: T")
    .Input("mask: T")
    .Input("grad_columns: T")  // [count, kh * kw * C]
    .Input("start: int64")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("kernel_size: list(int)")
    .Attr("stride: int >= 1")
    .Attr("padding: int >= 0")
    .Attr("dilation: int >= 1")
    .Attr("deformable_groups: int >= 1")
    .Attr("use_mask: bool")
    .Output("grad_input: T")    // like input
    .Output("grad_offsets: T")  // like offsets
    .Output("grad_mask: T")     // like mask
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(1));
      c->set_output(2, c->input(2));
      return Status();
    });

namespace {

// One bilinear sample: four corner element offsets (into the image's [H, W, C] data,
// at channel 0 of the group) and their weights; outside corners have weight 0 and a
// safe offset. `nan` marks a non-finite position.
template <typename T>
struct Sample {
  int64_t corner[4];
  T weight[4];
  T fy, fx;  // fractional parts, for the position gradient
  bool inside[4];
  bool nan;
  bool any;  // some corner inside
};

template <typename T>
inline Sample<T> BilinearSample(T y, T x, const Geometry& g) {
  Sample<T> s{};
  if (!std::isfinite(y) || !std::isfinite(x)) {
    s.nan = true;
    return s;
  }
  // Every corner outside: the sample is 0. At exactly -1 the sample is 0 too (its
  // inside corner has weight 0) but, as in the reference, its position gradient is
  // the right-hand one, so -1 takes the general path (MSRA's and torchvision's
  // kernels return 0 there; with zero offsets and padding == dilation, border taps
  // sit exactly at -1).
  if (y < T(-1) || y >= T(g.height) || x < T(-1) || x >= T(g.width)) {
    return s;
  }
  const T fy0 = std::floor(y), fx0 = std::floor(x);
  const int64_t y0 = static_cast<int64_t>(fy0), x0 = static_cast<int64_t>(fx0);
  s.fy = y - fy0;
  s.fx = x - fx0;
  const T wy[2] = {T(1) - s.fy, s.fy};
  const T wx[2] = {T(1) - s.fx, s.fx};
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const int corner = dy * 2 + dx;
      const int64_t yy = y0 + dy, xx = x0 + dx;
      const bool inside = yy >= 0 && yy < g.height && xx >= 0 && xx < g.width;
      s.inside[corner] = inside;
      s.weight[corner] = inside ? wy[dy] * wx[dx] : T(0);
      s.corner[corner] = inside ? (yy * g.width + xx) * g.channels : 0;
      s.any = s.any || inside;
    }
  }
  return s;
}

// out[k] = wa * a[k] + wb * b[k] + wc * c[k] + wd * d[k]: one bilinear sample of
// `count` channels (restrict: the output never overlaps the image, so it vectorises).
template <typename T>
inline void Blend(const T* __restrict__ a, const T* __restrict__ b,
                  const T* __restrict__ c, const T* __restrict__ d, T wa, T wb, T wc,
                  T wd, int64_t count, T* __restrict__ out) {
  for (int64_t k = 0; k < count; ++k) {
    out[k] = wa * a[k] + wb * b[k] + wc * c[k] + wd * d[k];
  }
}

// out[k] += w * grad[k] (the gradient never overlaps the input gradient).
template <typename T>
inline void AddScaled(const T* __restrict__ grad, T w, int64_t count,
                      T* __restrict__ out) {
  for (int64_t k = 0; k < count; ++k) out[k] += w * grad[k];
}

// Sample position of tap `tap` of pixel (ho, wo), before the offset.
inline void TapOrigin(const Geometry& g, int64_t ho, int64_t wo, int tap, int64_t* y,
                      int64_t* x) {
  *y = ho * g.stride - g.padding + (tap / g.kernel_w) * g.dilation;
  *x = wo * g.stride - g.padding + (tap % g.kernel_w) * g.dilation;
}

}  // namespace

template <typename T>
class DeformableIm2colOp : public DeformableOpBase {
 public:
  using DeformableOpBase::DeformableOpBase;

  void Compute(OpKernelContext* context) override {
    Geometry g;
    int64_t start, count;
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, ForwardBlock(context, &g, &start, &count, &output));
    const int64_t row = g.taps * g.channels;
    const T* input = context->input(0).flat<T>().data();
    const T* offsets = context->input(1).flat<T>().data();
    const T* mask = g.use_mask ? context->input(2).flat<T>().data() : nullptr;
    T* columns = output->flat<T>().data();
    const int64_t image_size = g.height * g.width * g.channels;
    const int64_t out_pixels = g.out_height * g.out_width;

    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t local = begin; local < end; ++local) {
        const int64_t p = start + local;
        const int64_t n = p / out_pixels;
        const int64_t ho = (p % out_pixels) / g.out_width;
        const int64_t wo = p % g.out_width;
        const T* image = input + n * image_size;
        const T* pixel_offsets = offsets + p * 2 * g.groups * g.taps;
        T* out_row = columns + local * row;
        for (int group = 0; group < g.groups; ++group) {
          const int64_t c0 = group * g.group_channels;
          for (int tap = 0; tap < g.taps; ++tap) {
            const int index = group * g.taps + tap;
            int64_t oy, ox;
            TapOrigin(g, ho, wo, tap, &oy, &ox);
            const T y = T(oy) + pixel_offsets[2 * index];
            const T x = T(ox) + pixel_offsets[2 * index + 1];
            const Sample<T> s = BilinearSample(y, x, g);
            const T m = mask ? mask[p * g.groups * g.taps + index] : T(1);
            T* out = out_row + tap * g.channels + c0;
            if (s.nan || !std::isfinite(m)) {
              std::fill(out, out + g.group_channels,
                        std::numeric_limits<T>::quiet_NaN());
              continue;
            }
            if (!s.any) {
              std::fill(out, out + g.group_channels, T(0));
              continue;
            }
            Blend(image + s.corner[0] + c0, image + s.corner[1] + c0,
                  image + s.corner[2] + c0, image + s.corner[3] + c0,
                  s.weight[0] * m, s.weight[1] * m, s.weight[2] * m, s.weight[3] * m,
                  g.group_channels, out);
          }
        }
      }
    };
    auto* workers = context->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(workers->num_threads, workers->workers, count,
                        /*cost_per_unit=*/row * 8, work);
  }
};

template <typename T>
class DeformableIm2colGradOp : public DeformableOpBase {
 public:
  using DeformableOpBase::DeformableOpBase;

  void Compute(OpKernelContext* context) override {
    Geometry g;
    int64_t start, count;
    Tensor* outputs[3];
    OP_REQUIRES_OK(context, BackwardBlock(context, &g, &start, &count, outputs));
    Tensor* grad_input_tensor = outputs[0];
    Tensor* grad_offsets_tensor = outputs[1];
    Tensor* grad_mask_tensor = outputs[2];
    const Tensor& grad_columns_tensor = context->input(3);
    const int64_t row = g.taps * g.channels;
    grad_input_tensor->flat<T>().setZero();
    grad_offsets_tensor->flat<T>().setZero();
    grad_mask_tensor->flat<T>().setZero();

    const T* input = context->input(0).flat<T>().data();
    const T* offsets = context->input(1).flat<T>().data();
    const T* mask = g.use_mask ? context->input(2).flat<T>().data() : nullptr;
    const T* grad_columns = grad_columns_tensor.flat<T>().data();
    T* grad_input = grad_input_tensor->flat<T>().data();
    T* grad_offsets = grad_offsets_tensor->flat<T>().data();
    T* grad_mask = g.use_mask ? grad_mask_tensor->flat<T>().data() : nullptr;
    const int64_t image_size = g.height * g.width * g.channels;
    const int64_t out_pixels = g.out_height * g.out_width;
    auto* workers = context->device()->tensorflow_cpu_worker_threads();

    // The sample of tap `index` of pixel p, its mask, and whether it is finite.
    auto sample_of = [&](int64_t p, int index, T* m) {
      const int64_t ho = (p % out_pixels) / g.out_width;
      const int64_t wo = p % g.out_width;
      int64_t oy, ox;
      TapOrigin(g, ho, wo, index % g.taps, &oy, &ox);
      const T* pixel_offsets = offsets + p * 2 * g.groups * g.taps;
      *m = mask ? mask[p * g.groups * g.taps + index] : T(1);
      return BilinearSample(T(oy) + pixel_offsets[2 * index],
                            T(ox) + pixel_offsets[2 * index + 1], g);
    };

    // Offsets and mask: each pixel's own entries, a reduction over channels.
    auto position_work = [&](int64_t begin, int64_t end) {
      for (int64_t local = begin; local < end; ++local) {
        const int64_t p = start + local;
        const T* image = input + (p / out_pixels) * image_size;
        const T* grad_row = grad_columns + local * row;
        for (int group = 0; group < g.groups; ++group) {
          const int64_t c0 = group * g.group_channels;
          for (int tap = 0; tap < g.taps; ++tap) {
            const int index = group * g.taps + tap;
            T m;
            const Sample<T> s = sample_of(p, index, &m);
            T* grad_offset = grad_offsets + p * 2 * g.groups * g.taps + 2 * index;
            if (s.nan || !std::isfinite(m)) {
              const T nan = std::numeric_limits<T>::quiet_NaN();
              grad_offset[0] = grad_offset[1] = nan;
              if (grad_mask) grad_mask[p * g.groups * g.taps + index] = nan;
              continue;
            }
            if (!s.any) continue;
            const T* grad = grad_row + tap * g.channels + c0;
            const T* v[4];
            for (int corner = 0; corner < 4; ++corner) {
              v[corner] = image + s.corner[corner] + c0;
            }
            // Outside corners have weight 0 but still a (safe) pointer; their value
            // must count as 0 in the position gradient, hence the factors.
            const T in[4] = {T(s.inside[0]), T(s.inside[1]), T(s.inside[2]),
                             T(s.inside[3])};
            T value_sum = 0, dy_sum = 0, dx_sum = 0;
            for (int64_t k = 0; k < g.group_channels; ++k) {
              const T a = in[0] * v[0][k], b = in[1] * v[1][k];
              const T c = in[2] * v[2][k], d = in[3] * v[3][k];
              const T value = s.weight[0] * a + s.weight[1] * b + s.weight[2] * c +
                              s.weight[3] * d;
              const T d_dy = (T(1) - s.fx) * (c - a) + s.fx * (d - b);
              const T d_dx = (T(1) - s.fy) * (b - a) + s.fy * (d - c);
              value_sum += grad[k] * value;
              dy_sum += grad[k] * d_dy;
              dx_sum += grad[k] * d_dx;
            }
            grad_offset[0] = dy_sum * m;
            grad_offset[1] = dx_sum * m;
            if (grad_mask) grad_mask[p * g.groups * g.taps + index] = value_sum;
          }
        }
      }
    };
    ::tensorflow::Shard(workers->num_threads, workers->workers, count,
                        /*cost_per_unit=*/row * 12, position_work);

    // Input: a scatter, split by channel range so no two threads add to one element.
    const int64_t min_chunk = 16;
    const int64_t chunks =
        std::max<int64_t>(1, std::min<int64_t>(workers->num_threads * 2,
                                               g.channels / min_chunk));
    auto input_work = [&](int64_t begin, int64_t end) {
      for (int64_t chunk = begin; chunk < end; ++chunk) {
        const int64_t c_begin = g.channels * chunk / chunks;
        const int64_t c_end = g.channels * (chunk + 1) / chunks;
        for (int64_t local = 0; local < count; ++local) {
          const int64_t p = start + local;
          T* image_grad = grad_input + (p / out_pixels) * image_size;
          const T* grad_row = grad_columns + local * row;
          for (int group = 0; group < g.groups; ++group) {
            const int64_t lo = std::max(c_begin, group * g.group_channels);
            const int64_t hi = std::min(c_end, (group + 1) * g.group_channels);
            if (lo >= hi) continue;
            for (int tap = 0; tap < g.taps; ++tap) {
              T m;
              const Sample<T> s = sample_of(p, group * g.taps + tap, &m);
              if (s.nan || !std::isfinite(m)) {
                // NaN in, NaN out (at pixel 0, where the reference's clamped
                // gather puts it): the run is diverging and will stop on it.
                std::fill(image_grad + lo, image_grad + hi,
                          std::numeric_limits<T>::quiet_NaN());
                continue;
              }
              if (!s.any) continue;
              const T* grad = grad_row + tap * g.channels;
              for (int corner = 0; corner < 4; ++corner) {
                if (!s.inside[corner]) continue;
                AddScaled(grad + lo, s.weight[corner] * m, hi - lo,
                          image_grad + s.corner[corner] + lo);
              }
            }
          }
        }
      }
    };
    ::tensorflow::Shard(workers->num_threads, workers->workers, chunks,
                        /*cost_per_unit=*/count * row * 8 / chunks + 1, input_work);
  }
};

#define REGISTER(T)                                                             \
  REGISTER_KERNEL_BUILDER(                                                      \
      Name("TfdeeplabDeformableIm2col").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
      DeformableIm2colOp<T>);                                                   \
  REGISTER_KERNEL_BUILDER(Name("TfdeeplabDeformableIm2colGrad")                 \
                              .Device(DEVICE_CPU)                               \
                              .TypeConstraint<T>("T"),                          \
                          DeformableIm2colGradOp<T>);

REGISTER(float);
REGISTER(double);
#undef REGISTER

}  // namespace tfdeeplab
