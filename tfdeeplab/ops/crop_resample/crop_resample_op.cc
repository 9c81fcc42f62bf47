// CropResample: one pass from a decoded uint8 image window to a normalised float crop,
// and CropLabels, the matching label crop.
//
// For every crop pixel (i, j): sample the window at (rows[i], cols[j]) bilinearly (or
// at the nearest integer), clamping sample coordinates to the window as
// tf.image.resize does at the border; where valid_rows[i] && valid_cols[j] is false,
// use pad_value instead (the crop shows padding there); then reorder channels and
// subtract the mean. The pure-TensorFlow references are crop_resample_reference and
// crop_labels_reference in tfdeeplab/ops/crop_resample/reference.py.

#include <algorithm>
#include <cmath>
#include <vector>

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

    // Per output element (column, channel): the two source offsets within a row and
    // the weight of the second, channel order folded in; and the value to subtract.
    const int order[3] = {reverse_channels_ ? 2 : 0, 1, reverse_channels_ ? 0 : 2};
    const int row_length = crop_width * 3;
    std::vector<int> first(row_length), second(row_length);
    std::vector<float> weight(row_length), offset(row_length), padded(row_length);
    const float* mean_values = mean.flat<float>().data();
    for (int j = 0; j < crop_width; ++j) {
      for (int k = 0; k < 3; ++k) {
        const int n = j * 3 + k;
        first[n] = col_taps[j].low * 3 + order[k];
        second[n] = col_taps[j].high * 3 + order[k];
        weight[n] = col_taps[j].weight;
        offset[n] = mean_values[k];
        padded[n] = pad_value_ - mean_values[k];
      }
    }

    // Horizontally interpolated source rows, the last two cached: neighbouring output
    // rows share source rows whenever the crop is enlarged.
    const uint8_t* source = window.flat<uint8_t>().data();
    const int stride = width * 3;
    std::vector<float> cache[2] = {std::vector<float>(row_length),
                                   std::vector<float>(row_length)};
    int cached_row[2] = {-1, -1};
    int last_used = 0;
    auto horizontal = [&](int source_row) -> const float* {
      for (int slot = 0; slot < 2; ++slot) {
        if (cached_row[slot] == source_row) {
          last_used = slot;
          return cache[slot].data();
        }
      }
      // Never overwrite the row handed out last: the caller still reads it.
      const int slot = 1 - last_used;
      const uint8_t* line = source + static_cast<int64_t>(source_row) * stride;
      float* buffer = cache[slot].data();
      for (int n = 0; n < row_length; ++n) {
        const float left = line[first[n]];
        buffer[n] = left + (static_cast<float>(line[second[n]]) - left) * weight[n];
      }
      cached_row[slot] = source_row;
      last_used = slot;
      return buffer;
    };

    const bool* row_ok = valid_rows.flat<bool>().data();
    const bool* col_ok = valid_cols.flat<bool>().data();
    float* out = output->flat<float>().data();
    for (int i = 0; i < crop_height; ++i) {
      float* line = out + static_cast<int64_t>(i) * row_length;
      if (!row_ok[i]) {
        std::copy(padded.begin(), padded.end(), line);
        continue;
      }
      const Tap& r = row_taps[i];
      const float* upper = horizontal(r.low);
      const float* lower = horizontal(r.high);
      const float wy = r.weight;
      for (int n = 0; n < row_length; ++n) {
        line[n] = upper[n] + (lower[n] - upper[n]) * wy - offset[n];
      }
      for (int j = 0; j < crop_width; ++j) {
        if (!col_ok[j]) std::copy(&padded[j * 3], &padded[j * 3] + 3, line + j * 3);
      }
    }
  }

 private:
  bool bilinear_;
  bool reverse_channels_;
  float pad_value_;
};

REGISTER_KERNEL_BUILDER(Name("TfdeeplabCropResample").Device(DEVICE_CPU), CropResampleOp);

// CropLabels: the label crop that goes with CropResample's image crop: label[rows[i],
// cols[j]] (nearest source indices), pad_value where the crop shows padding.
REGISTER_OP("TfdeeplabCropLabels")
    .Input("label: uint8")        // [H, W, 1]
    .Input("rows: int32")         // [crop_h] source row of each crop row
    .Input("cols: int32")         // [crop_w]
    .Input("valid_rows: bool")    // [crop_h]
    .Input("valid_cols: bool")    // [crop_w]
    .Attr("pad_value: int = 255")
    .Output("crop: int32")        // [crop_h, crop_w]
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->MakeShape({c->Dim(c->input(1), 0), c->Dim(c->input(2), 0)}));
      return Status();
    });

class CropLabelsOp : public OpKernel {
 public:
  explicit CropLabelsOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("pad_value", &pad_value_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& label = context->input(0);
    const Tensor& rows = context->input(1);
    const Tensor& cols = context->input(2);
    const Tensor& valid_rows = context->input(3);
    const Tensor& valid_cols = context->input(4);
    OP_REQUIRES(context, label.dims() == 3 && label.dim_size(2) == 1,
                InvalidArgument("label must be [H, W, 1], got ", label.shape().DebugString()));
    OP_REQUIRES(context, rows.dims() == 1 && cols.dims() == 1 &&
                             valid_rows.NumElements() == rows.NumElements() &&
                             valid_cols.NumElements() == cols.NumElements(),
                InvalidArgument("rows/cols and their validity must be vectors of one length"));
    const int height = static_cast<int>(label.dim_size(0));
    const int width = static_cast<int>(label.dim_size(1));
    const int crop_height = static_cast<int>(rows.NumElements());
    const int crop_width = static_cast<int>(cols.NumElements());
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({crop_height, crop_width}),
                                                     &output));
    const uint8_t* source = label.flat<uint8_t>().data();
    const int32_t* row_index = rows.flat<int32_t>().data();
    const int32_t* col_index = cols.flat<int32_t>().data();
    const bool* row_ok = valid_rows.flat<bool>().data();
    const bool* col_ok = valid_cols.flat<bool>().data();
    int32_t* out = output->flat<int32_t>().data();
    for (int i = 0; i < crop_height; ++i) {
      int32_t* line = out + static_cast<int64_t>(i) * crop_width;
      const int r = std::clamp(static_cast<int>(row_index[i]), 0, height - 1);
      const uint8_t* source_line = source + static_cast<int64_t>(r) * width;
      for (int j = 0; j < crop_width; ++j) {
        const int c = std::clamp(static_cast<int>(col_index[j]), 0, width - 1);
        line[j] = row_ok[i] && col_ok[j] ? source_line[c] : pad_value_;
      }
    }
  }

 private:
  int pad_value_;
};

REGISTER_KERNEL_BUILDER(Name("TfdeeplabCropLabels").Device(DEVICE_CPU), CropLabelsOp);

}  // namespace tfdeeplab
