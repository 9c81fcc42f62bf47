// CropResample: one pass from a decoded uint8 image window to a normalised float crop.
//
// For every crop pixel (i, j): sample the window at (rows[i], cols[j]) bilinearly (or
// at the nearest integer), clamping sample coordinates to the window as
// tf.image.resize does at the border; where valid_rows[i] && valid_cols[j] is false,
// use pad_value instead (the crop shows padding there); then reorder channels and
// subtract the mean. The pure-TensorFlow reference is in
// tfdeeplab/data/crop_sampler.py (_resample_reference).

#include <algorithm>
#include <cmath>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tfdeeplab {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;
using ::tensorflow::shape_inference::InferenceContext;

REGISTER_OP("TfdeeplabCropResample")
    .Input("window: uint8")       // [h, w, 3]
    .Input("rows: float")         // [crop_h] source row of each crop row, window coords
    .Input("cols: float")         // [crop_w] source column of each crop column
    .Input("valid_rows: bool")    // [crop_h]
    .Input("valid_cols: bool")    // [crop_w]
    .Input("mean: float")         // [3], in output channel order
    .Attr("bilinear: bool = true")
    .Attr("reverse_channels: bool = true")
    .Attr("pad_value: float = 255.0")
    .Output("crop: float")        // [crop_h, crop_w, 3]
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->MakeShape({c->Dim(c->input(1), 0), c->Dim(c->input(2), 0), 3}));
      return Status();
    });

namespace {

struct Tap {
  int low;
  int high;
  float weight;  // of `high`
};

// Source taps along one axis, clamped like tf.image.resize (half-pixel) at the border.
void PlanAxis(const float* coords, int count, int size, bool bilinear, Tap* taps) {
  for (int i = 0; i < count; ++i) {
    if (bilinear) {
      const float floor = std::floor(coords[i]);
      const int base = static_cast<int>(floor);
      taps[i] = {std::clamp(base, 0, size - 1), std::clamp(base + 1, 0, size - 1),
                 coords[i] - floor};
    } else {
      const int index = static_cast<int>(std::floor(coords[i] + 0.5f));
      taps[i] = {std::clamp(index, 0, size - 1), std::clamp(index, 0, size - 1), 0.0f};
    }
  }
}

}  // namespace

class CropResampleOp : public OpKernel {
 public:
  explicit CropResampleOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bilinear", &bilinear_));
    OP_REQUIRES_OK(context, context->GetAttr("reverse_channels", &reverse_channels_));
    OP_REQUIRES_OK(context, context->GetAttr("pad_value", &pad_value_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& window = context->input(0);
    const Tensor& rows = context->input(1);
    const Tensor& cols = context->input(2);
    const Tensor& valid_rows = context->input(3);
    const Tensor& valid_cols = context->input(4);
    const Tensor& mean = context->input(5);
    OP_REQUIRES(context, window.dims() == 3 && window.dim_size(2) == 3,
                InvalidArgument("window must be [h, w, 3], got ", window.shape().DebugString()));
    OP_REQUIRES(context, window.dim_size(0) > 0 && window.dim_size(1) > 0,
                InvalidArgument("window must not be empty"));
    OP_REQUIRES(context, rows.dims() == 1 && cols.dims() == 1 &&
                             valid_rows.NumElements() == rows.NumElements() &&
                             valid_cols.NumElements() == cols.NumElements(),
                InvalidArgument("rows/cols and their validity must be vectors of one length"));
    OP_REQUIRES(context, mean.NumElements() == 3, InvalidArgument("mean must have 3 values"));

    const int height = static_cast<int>(window.dim_size(0));
    const int width = static_cast<int>(window.dim_size(1));
    const int crop_height = static_cast<int>(rows.NumElements());
    const int crop_width = static_cast<int>(cols.NumElements());
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(
                                0, TensorShape({crop_height, crop_width, 3}), &output));

    std::vector<Tap> row_taps(crop_height), col_taps(crop_width);
    PlanAxis(rows.flat<float>().data(), crop_height, height, bilinear_, row_taps.data());
    PlanAxis(cols.flat<float>().data(), crop_width, width, bilinear_, col_taps.data());

    const uint8_t* source = window.flat<uint8_t>().data();
    const bool* row_ok = valid_rows.flat<bool>().data();
    const bool* col_ok = valid_cols.flat<bool>().data();
    const float* mean_values = mean.flat<float>().data();
    float* out = output->flat<float>().data();
    // Output channel k reads source channel order[k].
    const int order[3] = {reverse_channels_ ? 2 : 0, 1, reverse_channels_ ? 0 : 2};
    const int stride = width * 3;

    for (int i = 0; i < crop_height; ++i) {
      const Tap& r = row_taps[i];
      const uint8_t* top = source + r.low * stride;
      const uint8_t* bottom = source + r.high * stride;
      const float wy = r.weight;
      float* line = out + static_cast<int64_t>(i) * crop_width * 3;
      for (int j = 0; j < crop_width; ++j) {
        float* pixel = line + j * 3;
        if (!row_ok[i] || !col_ok[j]) {
          for (int k = 0; k < 3; ++k) pixel[k] = pad_value_ - mean_values[k];
          continue;
        }
        const Tap& c = col_taps[j];
        const float wx = c.weight;
        for (int k = 0; k < 3; ++k) {
          const int channel = order[k];
          const float top_left = top[c.low * 3 + channel];
          const float top_right = top[c.high * 3 + channel];
          const float bottom_left = bottom[c.low * 3 + channel];
          const float bottom_right = bottom[c.high * 3 + channel];
          const float upper = top_left + (top_right - top_left) * wx;
          const float lower = bottom_left + (bottom_right - bottom_left) * wx;
          pixel[k] = upper + (lower - upper) * wy - mean_values[k];
        }
      }
    }
  }

 private:
  bool bilinear_;
  bool reverse_channels_;
  float pad_value_;
};

REGISTER_KERNEL_BUILDER(Name("TfdeeplabCropResample").Device(DEVICE_CPU), CropResampleOp);

}  // namespace tfdeeplab
