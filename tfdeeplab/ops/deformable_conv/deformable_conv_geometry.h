// The geometry and attributes the CPU (deformable_conv_op.cc) and GPU
// (deformable_conv_gpu.cc) kernels of the deformable im2col ops share, checked once
// per call in one place.

#ifndef TFDEEPLAB_OPS_DEFORMABLE_CONV_GEOMETRY_H_
#define TFDEEPLAB_OPS_DEFORMABLE_CONV_GEOMETRY_H_

#include <cstdint>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"

namespace tfdeeplab {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;

// The geometry both kernels share, checked once per call.
struct Geometry {
  int64_t batch, height, width, channels;
  int64_t out_height, out_width;
  int kernel_h, kernel_w, taps, stride, padding, dilation, groups;
  int64_t group_channels;
  bool use_mask;
};

inline Status ReadGeometry(OpKernelContext* context,
                           const std::vector<int>& kernel_size, int stride,
                           int padding, int dilation, int groups, bool use_mask,
                           Geometry* g) {
  const Tensor& input = context->input(0);
  const Tensor& offsets = context->input(1);
  const Tensor& mask = context->input(2);
  if (input.dims() != 4) {
    return InvalidArgument("input must be [N, H, W, C], got ",
                           input.shape().DebugString());
  }
  if (kernel_size.size() != 2 || kernel_size[0] < 1 || kernel_size[1] < 1) {
    return InvalidArgument("kernel_size must be two positive ints");
  }
  g->batch = input.dim_size(0);
  g->height = input.dim_size(1);
  g->width = input.dim_size(2);
  g->channels = input.dim_size(3);
  g->kernel_h = kernel_size[0];
  g->kernel_w = kernel_size[1];
  g->taps = g->kernel_h * g->kernel_w;
  g->stride = stride;
  g->padding = padding;
  g->dilation = dilation;
  g->groups = groups;
  g->use_mask = use_mask;
  if (g->channels % groups != 0) {
    return InvalidArgument("channels ", g->channels,
                           " are not divisible by deformable_groups ", groups);
  }
  g->group_channels = g->channels / groups;
  g->out_height =
      (g->height + 2 * padding - dilation * (g->kernel_h - 1) - 1) / stride + 1;
  g->out_width = (g->width + 2 * padding - dilation * (g->kernel_w - 1) - 1) / stride + 1;
  const TensorShape expected_offsets(
      {g->batch, g->out_height, g->out_width, 2 * int64_t{groups} * g->taps});
  if (offsets.shape() != expected_offsets) {
    return InvalidArgument("offsets must be ", expected_offsets.DebugString(),
                           " for input ", input.shape().DebugString(), ", got ",
                           offsets.shape().DebugString());
  }
  if (use_mask) {
    const TensorShape expected_mask(
        {g->batch, g->out_height, g->out_width, int64_t{groups} * g->taps});
    if (mask.shape() != expected_mask) {
      return InvalidArgument("mask must be ", expected_mask.DebugString(), ", got ",
                             mask.shape().DebugString());
    }
  }
  return Status();
}

// Reads the op's attributes once at construction.
class DeformableOpBase : public OpKernel {
 public:
  explicit DeformableOpBase(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("kernel_size", &kernel_size_));
    OP_REQUIRES_OK(context, context->GetAttr("stride", &stride_));
    OP_REQUIRES_OK(context, context->GetAttr("padding", &padding_));
    OP_REQUIRES_OK(context, context->GetAttr("dilation", &dilation_));
    OP_REQUIRES_OK(context, context->GetAttr("deformable_groups", &groups_));
    OP_REQUIRES_OK(context, context->GetAttr("use_mask", &use_mask_));
  }

 protected:
  Status Geometry_(OpKernelContext* context, Geometry* g) const {
    return ReadGeometry(context, kernel_size_, stride_, padding_, dilation_, groups_,
                        use_mask_, g);
  }

  // The block [start, start + count) of pixels, checked against the grid.
  static Status Block(const Geometry& g, int64_t start, int64_t count) {
    const int64_t pixels = g.batch * g.out_height * g.out_width;
    if (start < 0 || count < 0 || start + count > pixels) {
      return InvalidArgument("pixel block [", start, ", ", start + count,
                             ") is outside the ", pixels, " output pixels");
    }
    return Status();
  }

  // The gradient op's block: grad_columns (input 3) must be [count, K * C] for the
  // block starting at pixel `start` (input 4); allocates the three gradients,
  // shaped like input, offsets and mask (not zeroed).
  static Status GradientBlock(OpKernelContext* context, const Geometry& g,
                              int64_t* start, int64_t* count, Tensor* outputs[3]) {
    const Tensor& grad_columns = context->input(3);
    const int64_t row = g.taps * g.channels;
    if (grad_columns.dims() != 2 || grad_columns.dim_size(1) != row) {
      return InvalidArgument("grad_columns must be [count, ", row, "], got ",
                             grad_columns.shape().DebugString());
    }
    *count = grad_columns.dim_size(0);
    *start = context->input(4).scalar<int64_t>()();
    TF_RETURN_IF_ERROR(Block(g, *start, *count));
    for (int i = 0; i < 3; ++i) {
      TF_RETURN_IF_ERROR(
          context->allocate_output(i, context->input(i).shape(), &outputs[i]));
    }
    return Status();
  }

  // Every forward Compute's start: the geometry, the block [start, start + count)
  // of pixels (inputs 3 and 4) checked, its columns [count, K * C] allocated.
  Status ForwardBlock(OpKernelContext* context, Geometry* g, int64_t* start,
                      int64_t* count, Tensor** columns) const {
    TF_RETURN_IF_ERROR(Geometry_(context, g));
    *start = context->input(3).scalar<int64_t>()();
    *count = context->input(4).scalar<int64_t>()();
    TF_RETURN_IF_ERROR(Block(*g, *start, *count));
    return context->allocate_output(0, TensorShape({*count, g->taps * g->channels}),
                                    columns);
  }

  // Every gradient Compute's start: the geometry and `GradientBlock`.
  Status BackwardBlock(OpKernelContext* context, Geometry* g, int64_t* start,
                       int64_t* count, Tensor* outputs[3]) const {
    TF_RETURN_IF_ERROR(Geometry_(context, g));
    return GradientBlock(context, *g, start, count, outputs);
  }

  std::vector<int> kernel_size_;
  int stride_, padding_, dilation_, groups_;
  bool use_mask_;
};


}  // namespace tfdeeplab

#endif  // TFDEEPLAB_OPS_DEFORMABLE_CONV_GEOMETRY_H_
