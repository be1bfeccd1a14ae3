// nanobind wrappers of the CUDA kernels. Device buffers arrive as integer pointers with their
// shapes (the caller owns them: pycuda, torch or TensorRT bindings); a failed Status becomes
// srstream.errors.KernelError. srstream.engine.kernels checks shapes before calling these, by
// keyword: every argument is named, so a wrapper that passes one in the wrong place fails loudly.
#include <nanobind/nanobind.h>

#include <string>

#include "srstream/kernels_cuda.h"

namespace nb = nanobind;
using namespace nb::literals;
using namespace srstream;

namespace {

void check(const Status& s) {
  if (s.ok) return;
  nb::object error = nb::module_::import_("srstream.errors").attr("KernelError");
  PyErr_SetString(error.ptr(), s.message.c_str());
  throw nb::python_error();
}

template <class T>
T* ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

}  // namespace

NB_MODULE(_native_cuda, m) {
  m.doc() = "sr-stream CUDA frame kernels. Use srstream.engine.kernels, not this module.";
  m.def("device_count", &cuda::device_count);

  m.def("pack_tiles", [](uintptr_t frame, int sample, int h, int w, int c, long long row_stride, int mode,
                         uintptr_t origins, int n, int th, int tw, float gain, float bias, uintptr_t out, int real,
                         uintptr_t stream) {
    const cuda::DeviceFrame f{ptr<void>(frame), static_cast<Sample>(sample), h, w, c, row_stride};
    check(cuda::pack_tiles(f, static_cast<PackMode>(mode), ptr<const int32_t>(origins), n, th, tw, gain, bias,
                           ptr<void>(out), static_cast<Real>(real), stream));
  }, "frame"_a, "sample"_a, "h"_a, "w"_a, "c"_a, "row_stride"_a, "mode"_a, "origins"_a, "n"_a, "th"_a, "tw"_a,
        "gain"_a, "bias"_a, "out"_a, "real"_a, "stream"_a);

  m.def("unpack", [](uintptr_t planes, int real, int c, int h, int w, long long cs, long long rs, uintptr_t frame,
                     int sample, int fc, long long frs, float inv_gain, float inv_bias, uintptr_t stream) {
    const cuda::DevicePlanes p{ptr<const void>(planes), static_cast<Real>(real), c, h, w, cs, rs};
    const cuda::DeviceFrame f{ptr<void>(frame), static_cast<Sample>(sample), h, w, fc, frs};
    check(cuda::unpack(p, f, inv_gain, inv_bias, stream));
  }, "planes"_a, "real"_a, "c"_a, "h"_a, "w"_a, "cs"_a, "rs"_a, "frame"_a, "sample"_a, "fc"_a, "frs"_a,
        "inv_gain"_a, "inv_bias"_a, "stream"_a);

  m.def("pack_tiles_yuv420", [](uintptr_t y, long long ys, uintptr_t u, uintptr_t v, long long uvs, int h, int w,
                                float kr, float kb, bool full, int mode, uintptr_t origins, int n, int th, int tw,
                                float gain, float bias, uintptr_t out, int real, uintptr_t stream) {
    check(cuda::pack_tiles_yuv420(ptr<const uint8_t>(y), ys, ptr<const uint8_t>(u), ptr<const uint8_t>(v), uvs, h, w,
                                  YuvMatrix{kr, kb, full}, static_cast<PackMode>(mode), ptr<const int32_t>(origins), n,
                                  th, tw, gain, bias, ptr<void>(out), static_cast<Real>(real), stream));
  }, "y"_a, "ys"_a, "u"_a, "v"_a, "uvs"_a, "h"_a, "w"_a, "kr"_a, "kb"_a, "full"_a, "mode"_a, "origins"_a, "n"_a,
        "th"_a, "tw"_a, "gain"_a, "bias"_a, "out"_a, "real"_a, "stream"_a);

  m.def("unpack_yuv420", [](uintptr_t planes, int real, int h, int w, long long cs, long long rs, uintptr_t y,
                            long long ys, uintptr_t u, uintptr_t v, long long uvs, float kr, float kb, bool full,
                            float inv_gain, float inv_bias, uintptr_t stream) {
    const cuda::DevicePlanes p{ptr<const void>(planes), static_cast<Real>(real), 3, h, w, cs, rs};
    check(cuda::unpack_yuv420(p, ptr<uint8_t>(y), ys, ptr<uint8_t>(u), ptr<uint8_t>(v), uvs, YuvMatrix{kr, kb, full},
                              inv_gain, inv_bias, stream));
  }, "planes"_a, "real"_a, "h"_a, "w"_a, "cs"_a, "rs"_a, "y"_a, "ys"_a, "u"_a, "v"_a, "uvs"_a, "kr"_a, "kb"_a,
        "full"_a, "inv_gain"_a, "inv_bias"_a, "stream"_a);

  m.def("blend_tiles", [](uintptr_t tiles, int real, int n, int c, int th, int tw, long long ts, long long cs,
                          long long rs, uintptr_t origins, int scale, uintptr_t row_w, uintptr_t tile_row,
                          uintptr_t col_w, uintptr_t tile_col, uintptr_t out, int out_h, int out_w, uintptr_t stream) {
    const cuda::DevicePlanes t{ptr<const void>(tiles), static_cast<Real>(real), c, th, tw, cs, rs};
    check(cuda::blend_tiles(t, n, ts, ptr<const int32_t>(origins), scale, ptr<const float>(row_w),
                            ptr<const int32_t>(tile_row), ptr<const float>(col_w), ptr<const int32_t>(tile_col),
                            ptr<float>(out), out_h, out_w, stream));
  }, "tiles"_a, "real"_a, "n"_a, "c"_a, "th"_a, "tw"_a, "ts"_a, "cs"_a, "rs"_a, "origins"_a, "scale"_a, "row_w"_a,
        "tile_row"_a, "col_w"_a, "tile_col"_a, "out"_a, "out_h"_a, "out_w"_a, "stream"_a);
}
