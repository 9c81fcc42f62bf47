// GPU kernels of TfdeeplabDeformableIm2col and TfdeeplabDeformableIm2colGrad.
//
// This file is compiled by g++ with the rest of the op library: it needs no CUDA
// toolkit and links no CUDA library, so the same library loads on machines without
// a GPU. The CUDA kernels themselves (deformable_conv_kernels.cu) are compiled by
// NVRTC in Python (gpu.py) for the architecture of each GPU found, and handed to
// this library as device images through TfdeeplabDeformableRegisterImage. On the
// first launch in a CUDA context the image of that context's device is loaded with
// the driver API (libcuda.so.1, opened with dlopen), and every launch goes on
// TensorFlow's own stream of the op, so it is ordered with the surrounding ops.
//
// start and count (the pixel block) stay in host memory; the outputs are allocated
// by TensorFlow on the GPU. The input gradient is an atomic scatter: it is zeroed
// first, and for half and bfloat16 it accumulates in a float32 buffer that a last
// kernel converts.

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "deformable_conv_geometry.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/types.h"
#include "third_party/gpus/cuda/include/cuda.h"
#include "xla/stream_executor/stream.h"

namespace tfdeeplab {

using ::tensorflow::DEVICE_GPU;
using ::tensorflow::errors::Internal;
using ::tensorflow::errors::Unavailable;

namespace {

// deformable_conv_kernels.cu's Geometry: eighteen 64-bit fields in this order.
struct CudaGeometry {
  int64_t batch, height, width, channels;
  int64_t out_height, out_width;
  int64_t kernel_h, kernel_w, taps;
  int64_t stride, padding, dilation;
  int64_t groups, group_channels;
  int64_t use_mask, start, count, lanes;
};
static_assert(sizeof(CudaGeometry) == 18 * 8, "CudaGeometry must match the .cu file");

// Threads per item: the group's channels rounded up to a power of two, at most 32.
int64_t LanesFor(int64_t group_channels) {
  int64_t lanes = 1;
  while (lanes < group_channels && lanes < 32) lanes *= 2;
  return lanes;
}

CudaGeometry ToCuda(const Geometry& g, int64_t start, int64_t count) {
  return CudaGeometry{g.batch,    g.height,   g.width,    g.channels,
                      g.out_height, g.out_width, g.kernel_h, g.kernel_w,
                      g.taps,     g.stride,   g.padding,  g.dilation,
                      g.groups,   g.group_channels, g.use_mask ? 1 : 0,
                      start,      count,      LanesFor(g.group_channels)};
}

// The driver functions this file uses, looked up by their exact (versioned) names.
struct Driver {
  CUresult (*get_error_string)(CUresult, const char**) = nullptr;
  CUresult (*stream_get_ctx)(CUstream, CUcontext*) = nullptr;
  CUresult (*ctx_push_current)(CUcontext) = nullptr;
  CUresult (*ctx_pop_current)(CUcontext*) = nullptr;
  CUresult (*ctx_get_device)(CUdevice*) = nullptr;
  CUresult (*device_get_attribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
  CUresult (*module_load_data)(CUmodule*, const void*) = nullptr;
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*launch_kernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                            unsigned, unsigned, unsigned, CUstream, void**,
                            void**) = nullptr;
  CUresult (*memset_d8_async)(CUdeviceptr, unsigned char, size_t,
                              CUstream) = nullptr;
  std::string problem;  // why the driver cannot be used; empty when it can

  std::string Describe(CUresult result) const {
    const char* text = nullptr;
    if (get_error_string == nullptr || get_error_string(result, &text) != CUDA_SUCCESS ||
        text == nullptr) {
      return "CUDA error " + std::to_string(static_cast<int>(result));
    }
    return text;
  }
};

template <typename F>
bool Resolve(void* library, const char* name, F* function, std::string* problem) {
  *function = reinterpret_cast<F>(dlsym(library, name));
  if (*function == nullptr && problem->empty()) {
    *problem = std::string("the CUDA driver has no ") + name;
  }
  return *function != nullptr;
}

const Driver& TheDriver() {
  static const Driver* driver = [] {
    auto* d = new Driver;
    void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char* why = dlerror();
      d->problem = std::string("cannot open libcuda.so.1: ") + (why ? why : "?");
      return d;
    }
    Resolve(library, "cuGetErrorString", &d->get_error_string, &d->problem);
    Resolve(library, "cuStreamGetCtx", &d->stream_get_ctx, &d->problem);
    Resolve(library, "cuCtxPushCurrent_v2", &d->ctx_push_current, &d->problem);
    Resolve(library, "cuCtxPopCurrent_v2", &d->ctx_pop_current, &d->problem);
    Resolve(library, "cuCtxGetDevice", &d->ctx_get_device, &d->problem);
    Resolve(library, "cuDeviceGetAttribute", &d->device_get_attribute, &d->problem);
    Resolve(library, "cuModuleLoadData", &d->module_load_data, &d->problem);
    Resolve(library, "cuModuleGetFunction", &d->module_get_function, &d->problem);
    Resolve(library, "cuLaunchKernel", &d->launch_kernel, &d->problem);
    Resolve(library, "cuMemsetD8Async", &d->memset_d8_async, &d->problem);
    return d;
  }();
  return *driver;
}

// Device images by architecture (10 * major + minor), and what each context
// loaded from them. Images are registered from Python before the first launch.
struct ModuleRegistry {
  std::mutex mutex;
  std::map<int, std::string> images;
  std::map<CUcontext, CUmodule> modules;
  std::map<std::pair<CUcontext, std::string>, CUfunction> functions;
};

ModuleRegistry& Registry() {
  static auto* registry = new ModuleRegistry;
  return *registry;
}

std::string Registered() {
  std::string names;
  for (const auto& entry : Registry().images) {
    names += (names.empty() ? "sm_" : ", sm_") + std::to_string(entry.first);
  }
  return names.empty() ? "none" : names;
}

// Pushes the CUDA context of a stream for the scope, and launches in it.
class StreamScope {
 public:
  explicit StreamScope(OpKernelContext* context) {
    auto* device_context = context->op_device_context();
    auto* stream = device_context ? device_context->stream() : nullptr;
    stream_ = stream ? static_cast<CUstream>(stream->platform_specific_handle().stream)
                     : nullptr;
    if (stream_ == nullptr) {
      status_ = Internal("deformable_conv GPU kernel: the op has no CUDA stream");
      return;
    }
    const Driver& driver = TheDriver();
    if (!driver.problem.empty()) {
      status_ = Unavailable("deformable_conv GPU kernel: ", driver.problem);
      return;
    }
    if (!Check(driver.stream_get_ctx(stream_, &context_), "cuStreamGetCtx") ||
        !Check(driver.ctx_push_current(context_), "cuCtxPushCurrent")) {
      return;
    }
    pushed_ = true;
  }

  ~StreamScope() {
    if (pushed_) {
      CUcontext popped;
      TheDriver().ctx_pop_current(&popped);
    }
  }

  const Status& status() const { return status_; }

  // Sets `bytes` bytes at `data` to zero, on the stream.
  Status Zero(void* data, size_t bytes) {
    if (!status_.ok() || bytes == 0) return status_;
    Check(TheDriver().memset_d8_async(reinterpret_cast<CUdeviceptr>(data), 0, bytes,
                                      stream_),
          "cuMemsetD8Async");
    return status_;
  }

  // Launches kernel `name` over `threads` threads (1-D, 256 per block).
  Status Launch(const std::string& name, int64_t threads, void** arguments) {
    if (!status_.ok() || threads == 0) return status_;
    CUfunction function = nullptr;
    status_ = Function(name, &function);
    if (!status_.ok()) return status_;
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (threads + kBlock - 1) / kBlock;
    if (blocks > 0x7fffffff) {
      status_ = InvalidArgument("deformable_conv GPU kernel: ", threads,
                                " threads are more than one launch takes");
      return status_;
    }
    Check(TheDriver().launch_kernel(function, static_cast<unsigned>(blocks), 1, 1,
                                    kBlock, 1, 1, 0, stream_, arguments, nullptr),
          ("launching " + name).c_str());
    return status_;
  }

 private:
  bool Check(CUresult result, const char* what) {
    if (result == CUDA_SUCCESS) return true;
    status_ = Internal("deformable_conv GPU kernel: ", what, " failed: ",
                       TheDriver().Describe(result));
    return false;
  }

  Status Function(const std::string& name, CUfunction* function) {
    const Driver& driver = TheDriver();
    ModuleRegistry& registry = Registry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    const auto key = std::make_pair(context_, name);
    auto found = registry.functions.find(key);
    if (found != registry.functions.end()) {
      *function = found->second;
      return Status();
    }
    auto module = registry.modules.find(context_);
    if (module == registry.modules.end()) {
      CUdevice device;
      int major = 0, minor = 0;
      if (!Check(driver.ctx_get_device(&device), "cuCtxGetDevice") ||
          !Check(driver.device_get_attribute(
                     &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                 "cuDeviceGetAttribute") ||
          !Check(driver.device_get_attribute(
                     &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                 "cuDeviceGetAttribute")) {
        return status_;
      }
      const int arch = major * 10 + minor;
      auto image = registry.images.find(arch);
      if (image == registry.images.end()) {
        return Unavailable("deformable_conv GPU kernel: no CUDA image for sm_", arch,
                           " (registered: ", Registered(), ")");
      }
      CUmodule loaded;
      if (!Check(driver.module_load_data(&loaded, image->second.data()),
                 ("loading the sm_" + std::to_string(arch) + " image").c_str())) {
        return status_;
      }
      module = registry.modules.emplace(context_, loaded).first;
    }
    if (!Check(driver.module_get_function(function, module->second, name.c_str()),
               ("finding kernel " + name).c_str())) {
      return status_;
    }
    registry.functions.emplace(key, *function);
    return Status();
  }

  CUstream stream_ = nullptr;
  CUcontext context_ = nullptr;
  bool pushed_ = false;
  Status status_;
};

// The kernels' type suffix and whether the input gradient needs a float32 buffer.
template <typename T>
struct CudaType;
template <>
struct CudaType<float> {
  static constexpr const char* suffix = "f32";
  static constexpr bool buffered = false;
};
template <>
struct CudaType<double> {
  static constexpr const char* suffix = "f64";
  static constexpr bool buffered = false;
};
template <>
struct CudaType<Eigen::half> {
  static constexpr const char* suffix = "f16";
  static constexpr bool buffered = true;
};
template <>
struct CudaType<Eigen::bfloat16> {
  static constexpr const char* suffix = "bf16";
  static constexpr bool buffered = true;
};

template <typename T>
const void* DataOf(const Tensor& tensor) {
  return tensor.NumElements() ? tensor.flat<T>().data() : nullptr;
}

template <typename T>
void* MutableDataOf(Tensor* tensor) {
  return tensor->NumElements() ? tensor->flat<T>().data() : nullptr;
}

}  // namespace

template <typename T>
class DeformableIm2colGpuOp : public DeformableOpBase {
 public:
  using DeformableOpBase::DeformableOpBase;

  void Compute(OpKernelContext* context) override {
    Geometry g;
    int64_t start, count;
    Tensor* output = nullptr;
    OP_REQUIRES_OK(context, ForwardBlock(context, &g, &start, &count, &output));
    if (output->NumElements() == 0) return;
    CudaGeometry geometry = ToCuda(g, start, count);
    const void* input = DataOf<T>(context->input(0));
    const void* offsets = DataOf<T>(context->input(1));
    const void* mask = g.use_mask ? DataOf<T>(context->input(2)) : nullptr;
    void* columns = MutableDataOf<T>(output);
    void* arguments[] = {&input, &offsets, &mask, &columns, &geometry};
    StreamScope scope(context);
    OP_REQUIRES_OK(context, scope.status());
    OP_REQUIRES_OK(context,
                   scope.Launch(std::string("deformable_im2col_") + CudaType<T>::suffix,
                                count * g.taps * g.groups * geometry.lanes, arguments));
  }
};

template <typename T>
class DeformableIm2colGradGpuOp : public DeformableOpBase {
 public:
  using DeformableOpBase::DeformableOpBase;

  void Compute(OpKernelContext* context) override {
    Geometry g;
    int64_t start, count;
    Tensor* outputs[3];
    OP_REQUIRES_OK(context, BackwardBlock(context, &g, &start, &count, outputs));
    Tensor *grad_input = outputs[0], *grad_offsets = outputs[1], *grad_mask = outputs[2];
    const Tensor& grad_columns = context->input(3);
    Tensor buffer;  // the float32 accumulator of the 16-bit types
    Tensor* accumulator = grad_input;
    if (CudaType<T>::buffered) {
      OP_REQUIRES_OK(context, context->allocate_temp(::tensorflow::DT_FLOAT,
                                                     grad_input->shape(), &buffer));
      accumulator = &buffer;
    }
    const size_t accumulator_bytes = accumulator->TotalBytes();

    StreamScope scope(context);
    OP_REQUIRES_OK(context, scope.status());
    OP_REQUIRES_OK(context, scope.Zero(accumulator->data(), accumulator_bytes));
    OP_REQUIRES_OK(context, scope.Zero(grad_offsets->data(), grad_offsets->TotalBytes()));
    OP_REQUIRES_OK(context, scope.Zero(grad_mask->data(), grad_mask->TotalBytes()));

    CudaGeometry geometry = ToCuda(g, start, count);
    const void* input = DataOf<T>(context->input(0));
    const void* offsets = DataOf<T>(context->input(1));
    const void* mask = g.use_mask ? DataOf<T>(context->input(2)) : nullptr;
    const void* upstream = DataOf<T>(grad_columns);
    void* input_grad = accumulator->NumElements() ? accumulator->data() : nullptr;
    void* offsets_grad = MutableDataOf<T>(grad_offsets);
    void* mask_grad = g.use_mask ? MutableDataOf<T>(grad_mask) : nullptr;
    void* arguments[] = {&input,      &offsets,      &mask,      &upstream,
                         &input_grad, &offsets_grad, &mask_grad, &geometry};
    const std::string suffix = CudaType<T>::suffix;
    // Whole warps (every lane takes part in the shuffles): 256 threads per block.
    OP_REQUIRES_OK(context, scope.Launch("deformable_im2col_grad_" + suffix,
                                         count * g.taps * g.groups * geometry.lanes,
                                         arguments));
    if (CudaType<T>::buffered && grad_input->NumElements() > 0) {
      const void* from = buffer.data();
      void* to = MutableDataOf<T>(grad_input);
      int64_t size = grad_input->NumElements();
      void* convert_arguments[] = {&from, &to, &size};
      OP_REQUIRES_OK(context, scope.Launch("deformable_convert_" + suffix, size,
                                           convert_arguments));
    }
  }
};

#define REGISTER_GPU(T)                                            \
  REGISTER_KERNEL_BUILDER(Name("TfdeeplabDeformableIm2col")        \
                              .Device(DEVICE_GPU)                  \
                              .TypeConstraint<T>("T")              \
                              .HostMemory("start")                 \
                              .HostMemory("count"),                \
                          DeformableIm2colGpuOp<T>);               \
  REGISTER_KERNEL_BUILDER(Name("TfdeeplabDeformableIm2colGrad")    \
                              .Device(DEVICE_GPU)                  \
                              .TypeConstraint<T>("T")              \
                              .HostMemory("start"),                \
                          DeformableIm2colGradGpuOp<T>);

REGISTER_GPU(float);
REGISTER_GPU(double);
REGISTER_GPU(Eigen::half);
REGISTER_GPU(Eigen::bfloat16);
#undef REGISTER_GPU

}  // namespace tfdeeplab

// Hands the library the device image (cubin, or PTX the driver compiles) for GPUs
// of architecture `arch` (10 * major + minor); gpu.py calls it through ctypes before
// the first launch. Returns 0, or 1 for an empty image. A context that already
// loaded an image keeps it.
extern "C" int TfdeeplabDeformableRegisterImage(int arch, const char* data,
                                                size_t size) {
  if (data == nullptr || size == 0) return 1;
  auto& registry = tfdeeplab::Registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  // A PTX image must end in a NUL for cuModuleLoadData; a cubin ignores it.
  registry.images[arch] = std::string(data, size) + '\0';
  return 0;
}

// The architectures registered so far, for the guard's messages ("sm_80, sm_90").
extern "C" int TfdeeplabDeformableRegisteredImages(char* out, size_t size) {
  auto& registry = tfdeeplab::Registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  const std::string names = tfdeeplab::Registered();
  if (out != nullptr && size > 0) {
    const size_t length = std::min(size - 1, names.size());
    names.copy(out, length);
    out[length] = '\0';
  }
  return static_cast<int>(names.size());
}
