// The only file that knows Python: nanobind wrappers around csrc/include/srstream/kernels.h.
//
// Arrays arrive as numpy arrays (inputs may be read-only; any dtype, checked here against the
// declared sample/real type), are used in place (no copies), and the GIL is released while a kernel runs. A failed
// Status becomes srstream.errors.KernelError. srstream.engine.kernels is the typed Python
// face of this module and checks shapes before calling it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <initializer_list>
#include <string>

#include "srstream/kernels.h"

namespace nb = nanobind;
using namespace srstream;

using Array = nb::ndarray<nb::numpy, nb::device::cpu>;        // written by a kernel
using In = nb::ndarray<nb::numpy, nb::ro, nb::device::cpu>;  // only read (read-only arrays welcome)

namespace {

[[noreturn]] void fail(const std::string& message) {
  nb::object error = nb::module_::import_("srstream.errors").attr("KernelError");
  PyErr_SetString(error.ptr(), message.c_str());
  throw nb::python_error();
}

void check(const Status& s) {
  if (!s.ok) fail(s.message);
}

// Runs a kernel with the GIL released; the Status is turned into an exception after it is re-taken.
template <class F>
Status released(F&& kernel) {
  nb::gil_scoped_release release;
  return kernel();
}

template <class A>
Sample sample_of(const A& a, const char* what) {
  const auto d = a.dtype();
  if (d == nb::dtype<uint8_t>()) return Sample::U8;
  if (d == nb::dtype<uint16_t>()) return Sample::U16;
  fail(std::string(what) + ": frames must be uint8 or uint16");
}

template <class A>
Real real_of(const A& a, int declared, const char* what) {
  const auto r = static_cast<Real>(declared);
  const auto d = a.dtype();
  const bool ok = (r == Real::F32 && d == nb::dtype<float>()) ||
                  (r == Real::F16 && d.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Float) && d.bits == 16) ||
                  (r == Real::BF16 && d == nb::dtype<uint16_t>());  // bfloat16 travels as uint16 bits
  if (!ok) fail(std::string(what) + ": array dtype does not match the declared real type");
  return r;
}

void require(bool ok, const std::string& message) {
  if (!ok) fail(message);
}

template <class A>
bool c_contiguous(const A& a) {
  int64_t expect = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expect) return false;
    expect *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

template <class A>
FrameView frame_view(const A& a, const char* what) {
  require(a.ndim() == 3, std::string(what) + ": frame must be (H, W, C)");
  require((a.shape(2) == 1 || a.stride(2) == 1) &&
              (a.shape(1) == 1 || a.stride(1) == static_cast<int64_t>(a.shape(2))),
          std::string(what) + ": frame pixels must be contiguous along a row");
  return FrameView{a.data(), sample_of(a, what), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)),
                   static_cast<int>(a.shape(2)), static_cast<std::ptrdiff_t>(a.stride(0))};
}

MutFrameView mut_frame_view(const Array& a, const char* what) {
  const FrameView f = frame_view(a, what);
  return MutFrameView{const_cast<void*>(f.data), f.sample, f.height, f.width, f.channels, f.row_stride};
}

template <class A>
PlanarView planar_view(const A& a, int real, const char* what) {
  require(a.ndim() == 3, std::string(what) + ": planes must be (C, H, W)");
  require(a.shape(2) == 1 || a.stride(2) == 1, std::string(what) + ": plane rows must be contiguous");
  return PlanarView{a.data(), real_of(a, real, what), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)),
                    static_cast<int>(a.shape(2)), static_cast<std::ptrdiff_t>(a.stride(0)),
                    static_cast<std::ptrdiff_t>(a.stride(1))};
}

template <class A>
const int32_t* origins_of(const A& a, size_t n) {
  require(a.dtype() == nb::dtype<int32_t>() && a.ndim() == 2 && a.shape(0) == n && a.shape(1) == 2 &&
              c_contiguous(a),
          "origins must be a contiguous int32 (N, 2) array");
  return static_cast<const int32_t*>(a.data());
}

// The (N, C, tile_h, tile_w) tile batch a pack writes: contiguous, C = 3 for RGB/BGR, else 1.
void require_tiles_out(const Array& out, int mode, int th, int tw, const char* what) {
  require(out.ndim() == 4 && c_contiguous(out) && out.shape(1) == (mode <= 1 ? 3u : 1u) &&
              out.shape(2) == static_cast<size_t>(th) && out.shape(3) == static_cast<size_t>(tw),
          std::string(what) + ": out must be a contiguous (N, C, tile_h, tile_w) array, C as the mode gives");
}

// U and V of a 4:2:0 frame whose Y is h x w: ceil(h/2) x ceil(w/2), one row stride.
template <class A>
void require_chroma(const A& u, const A& v, size_t h, size_t w, const char* what) {
  require(u.shape(0) == (h + 1) / 2 && u.shape(1) == (w + 1) / 2 && v.shape(0) == u.shape(0) &&
              v.shape(1) == u.shape(1) && u.stride(0) == v.stride(0),
          std::string(what) + ": U and V must be ceil(H/2) x ceil(W/2) planes with one row stride");
}

template <class A>
const uint8_t* plane_of(const A& a, const char* what) {
  require(a.dtype() == nb::dtype<uint8_t>() && a.ndim() == 2 && (a.shape(1) == 1 || a.stride(1) == 1),
          std::string(what) + ": must be a uint8 (H, W) plane with contiguous rows");
  return static_cast<const uint8_t*>(a.data());
}

// What the stabiliser bindings share: the float32 state planes of the frame's H x W size and the
// (H/scale, W/scale, 2) flow, checked, and the arguments they fill (the luma's source and the change
// are each binding's own).
struct StabilizeState {
  const In &base, &flow, &prev_base, &prev_detail;
  Array next_base, next_detail;
  int scale;
  float strength, tolerance;
  bool blend_base;
};

template <class A>
const float* float_plane(const A& a, size_t h, size_t w, const char* what, const char* name) {
  require(a.dtype() == nb::dtype<float>() && a.ndim() == 2 && a.shape(0) == h && a.shape(1) == w && c_contiguous(a),
          std::string(what) + ": " + name + " must be a contiguous float32 plane of the frame's size");
  return static_cast<const float*>(a.data());
}

StabilizeArgs stabilize_args(const StabilizeState& s, size_t h, size_t w, const char* what) {
  require(s.scale >= 1 && s.flow.dtype() == nb::dtype<float>() && s.flow.ndim() == 3 &&
              s.flow.shape(0) * s.scale == h && s.flow.shape(1) * s.scale == w && s.flow.shape(2) == 2 &&
              c_contiguous(s.flow),
          std::string(what) + ": flow must be a contiguous float32 (H/scale, W/scale, 2) array");
  auto out = [&](const Array& a, const char* name) { return const_cast<float*>(float_plane(a, h, w, what, name)); };
  return StabilizeArgs{nullptr, float_plane(s.base, h, w, what, "base"), static_cast<const float*>(s.flow.data()),
                       float_plane(s.prev_base, h, w, what, "prev_base"),
                       float_plane(s.prev_detail, h, w, what, "prev_detail"), nullptr,
                       out(s.next_base, "next_base"), out(s.next_detail, "next_detail"), static_cast<int>(h),
                       static_cast<int>(w), s.scale, s.strength, s.tolerance, s.blend_base};
}

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "sr-stream native frame kernels (CPU). Use srstream.engine.kernels, not this module.";

  m.def("build_info", &build_info);
  m.def("select_isa", &select_isa, nb::arg("want"));
  m.def("max_threads", &max_threads);
  m.def("set_threads", &set_threads, nb::arg("n"));

  m.def("pack_tiles", [](const In& frame, int mode, const In& origins, int th, int tw, float gain, float bias,
                         Array out, int real) {
    const FrameView f = frame_view(frame, "pack_tiles");
    require_tiles_out(out, mode, th, tw, "pack_tiles");
    const int n = static_cast<int>(out.shape(0));
    const Real r = real_of(out, real, "pack_tiles");
    const int32_t* o = origins_of(origins, out.shape(0));
    check(released(
        [&] { return pack_tiles(f, static_cast<PackMode>(mode), o, n, th, tw, gain, bias, out.data(), r); }));
  });

  m.def("pack_tiles_yuv420", [](const In& y, const In& u, const In& v, float kr, float kb, bool full,
                                int mode, const In& origins, int th, int tw, float gain, float bias, Array out,
                                int real) {
    const uint8_t *yp = plane_of(y, "Y"), *up = plane_of(u, "U"), *vp = plane_of(v, "V");
    const int h = static_cast<int>(y.shape(0)), w = static_cast<int>(y.shape(1));
    require_chroma(u, v, y.shape(0), y.shape(1), "pack_tiles_yuv420");
    require_tiles_out(out, mode, th, tw, "pack_tiles_yuv420");
    const Real r = real_of(out, real, "pack_tiles_yuv420");
    const int32_t* o = origins_of(origins, out.shape(0));
    const int n = static_cast<int>(out.shape(0));
    check(released([&] {
      return pack_tiles_yuv420(yp, y.stride(0), up, vp, u.stride(0), h, w, YuvMatrix{kr, kb, full},
                               static_cast<PackMode>(mode), o, n, th, tw, gain, bias, out.data(), r);
    }));
  });

  m.def("unpack", [](const In& planes, int real, Array frame, float inv_gain, float inv_bias) {
    const PlanarView p = planar_view(planes, real, "unpack");
    const MutFrameView f = mut_frame_view(frame, "unpack");
    check(released([&] { return unpack(p, f, inv_gain, inv_bias); }));
  });

  m.def("unpack_luma_residual", [](const In& luma, int real, const In& base, Array frame, float inv_gain,
                                   float inv_bias, int scale) {
    const PlanarView l = planar_view(luma, real, "unpack_luma_residual");
    const FrameView b = frame_view(base, "unpack_luma_residual");
    const MutFrameView f = mut_frame_view(frame, "unpack_luma_residual");
    check(released([&] { return unpack_luma_residual(l, b, f, scale, inv_gain, inv_bias); }));
  });

  m.def("unpack_yuv420", [](const In& planes, int real, Array y, Array u, Array v, float kr, float kb, bool full,
                            float inv_gain, float inv_bias) {
    const PlanarView p = planar_view(planes, real, "unpack_yuv420");
    plane_of(y, "Y"), plane_of(u, "U"), plane_of(v, "V");
    require(y.shape(0) == static_cast<size_t>(p.height) && y.shape(1) == static_cast<size_t>(p.width),
            "unpack_yuv420: Y must match the planes");
    require_chroma(u, v, y.shape(0), y.shape(1), "unpack_yuv420");
    auto* yp = static_cast<uint8_t*>(y.data());
    auto *up = static_cast<uint8_t*>(u.data()), *vp = static_cast<uint8_t*>(v.data());
    check(released([&] {
      return unpack_yuv420(p, yp, y.stride(0), up, vp, u.stride(0), YuvMatrix{kr, kb, full}, inv_gain, inv_bias);
    }));
  });

  m.def("blend_tiles", [](const In& tiles, int real, const In& origins, int scale, const In& row_w,
                          const In& tile_row, const In& col_w, const In& tile_col, Array out) {
    require(tiles.ndim() == 4 && (tiles.shape(3) == 1 || tiles.stride(3) == 1),
            "blend_tiles: tiles must be (N, C, h, w) with contiguous rows");
    const size_t n = tiles.shape(0);
    const PlanarView t{tiles.data(), real_of(tiles, real, "blend_tiles"), static_cast<int>(tiles.shape(1)),
                       static_cast<int>(tiles.shape(2)), static_cast<int>(tiles.shape(3)),
                       static_cast<std::ptrdiff_t>(tiles.stride(1)), static_cast<std::ptrdiff_t>(tiles.stride(2))};
    const int32_t* o = origins_of(origins, n);
    auto idx = [&](const In& a, size_t limit, const char* what) {
      require(a.dtype() == nb::dtype<int32_t>() && a.ndim() == 1 && a.shape(0) == n && c_contiguous(a),
              std::string("blend_tiles: ") + what + " must be a contiguous int32 (N,) array");
      const int32_t* p = static_cast<const int32_t*>(a.data());
      for (size_t i = 0; i < n; ++i)
        require(p[i] >= 0 && static_cast<size_t>(p[i]) < limit, "blend_tiles: index out of range");
      return p;
    };
    auto weights = [&](const In& a, size_t len, const char* what) {
      require(a.dtype() == nb::dtype<float>() && a.ndim() == 2 && a.shape(1) == len && c_contiguous(a),
              std::string("blend_tiles: ") + what + " must be a contiguous float32 (K, tile length) array");
      return static_cast<const float*>(a.data());
    };
    const float* rw = weights(row_w, t.height, "row weights");
    const float* cw = weights(col_w, t.width, "column weights");
    const int32_t* tr = idx(tile_row, row_w.shape(0), "tile rows");
    const int32_t* tc = idx(tile_col, col_w.shape(0), "tile columns");
    require(out.dtype() == nb::dtype<float>() && out.ndim() == 3 && c_contiguous(out) &&
                out.shape(0) == static_cast<size_t>(t.channels),
            "blend_tiles: out must be a contiguous float32 (C, H, W) frame");
    auto* dst = static_cast<float*>(out.data());
    const int oh = static_cast<int>(out.shape(1)), ow = static_cast<int>(out.shape(2));
    check(released([&] {
      return blend_tiles(t, static_cast<int>(n), static_cast<std::ptrdiff_t>(tiles.stride(0)), o, scale, rw, tr, cw,
                         tc, dst, oh, ow);
    }));
  });

  m.def("stabilize_luma", [](const In& y, const In& base, const In& flow, const In& prev_base, const In& prev_detail,
                             Array change, Array next_base, Array next_detail, int scale, float strength,
                             float tolerance, bool blend_base) {
    require(y.ndim() == 2, "stabilize_luma: y must be an (H, W) plane");
    const size_t h = y.shape(0), w = y.shape(1);
    StabilizeArgs a = stabilize_args({base, flow, prev_base, prev_detail, next_base, next_detail, scale, strength,
                                      tolerance, blend_base}, h, w, "stabilize_luma");
    a.y = float_plane(y, h, w, "stabilize_luma", "y");
    a.change = const_cast<float*>(float_plane(change, h, w, "stabilize_luma", "change"));
    check(released([&] { return stabilize_luma(a); }));
  });

  m.def("stabilize_luma_codes", [](Array codes, float gain, float offset, float inv_gain, const In& base,
                                   const In& flow, const In& prev_base, const In& prev_detail, Array next_base,
                                   Array next_detail, int scale, float strength, float tolerance, bool blend_base) {
    require(codes.dtype() == nb::dtype<uint8_t>() && codes.ndim() == 2 && (codes.shape(1) == 1 || codes.stride(1) == 1),
            "stabilize_luma_codes: codes must be a uint8 (H, W) plane with contiguous rows");
    StabilizeArgs a = stabilize_args({base, flow, prev_base, prev_detail, next_base, next_detail, scale, strength,
                                      tolerance, blend_base}, codes.shape(0), codes.shape(1), "stabilize_luma_codes");
    a.codes = static_cast<uint8_t*>(codes.data());
    a.codes_stride = static_cast<std::ptrdiff_t>(codes.stride(0));
    a.gain = gain;
    a.offset = offset;
    a.inv_gain = inv_gain;
    check(released([&] { return stabilize_luma(a); }));
  });

  m.def("stabilize_rgb", [](Array image, float wr, float wg, float wb, const In& base, const In& flow,
                            const In& prev_base, const In& prev_detail, Array next_base, Array next_detail, int scale,
                            float strength, float tolerance, bool blend_base) {
    require(image.dtype() == nb::dtype<uint8_t>() && image.ndim() == 3 &&
                (image.shape(2) == 3 || image.shape(2) == 4) && image.stride(2) == 1 &&
                (image.shape(1) == 1 || image.stride(1) == static_cast<int64_t>(image.shape(2))),
            "stabilize_rgb: image must be a uint8 (H, W, 3 or 4) array with contiguous rows");
    StabilizeArgs a = stabilize_args({base, flow, prev_base, prev_detail, next_base, next_detail, scale, strength,
                                      tolerance, blend_base}, image.shape(0), image.shape(1), "stabilize_rgb");
    a.codes = static_cast<uint8_t*>(image.data());
    a.codes_stride = static_cast<std::ptrdiff_t>(image.stride(0));
    a.rgb = true;
    a.pixel = static_cast<int>(image.shape(2));
    a.wr = wr;
    a.wg = wg;
    a.wb = wb;
    check(released([&] { return stabilize_luma(a); }));
  });

  m.def("cap_plane", [](Array out, Array prev, const In& limit, const In& lut, const In& rows, const In& cols) {
    auto u8_plane = [](const auto& a, const char* what) {
      require(a.dtype() == nb::dtype<uint8_t>() && a.ndim() == 2 && (a.shape(1) == 1 || a.stride(1) == 1),
              std::string("cap_plane: ") + what + " must be a uint8 (H, W) plane with contiguous rows");
    };
    u8_plane(out, "out");
    u8_plane(limit, "limit");
    require(prev.dtype() == nb::dtype<uint8_t>() && prev.ndim() == 2 && prev.shape(0) == out.shape(0) &&
                prev.shape(1) == out.shape(1) && c_contiguous(prev),
            "cap_plane: prev must be a contiguous uint8 plane of out's size");
    require(lut.dtype() == nb::dtype<uint8_t>() && lut.ndim() == 1 && lut.shape(0) == 256 && c_contiguous(lut),
            "cap_plane: lut must be a contiguous uint8 (256,) array");
    auto map = [](const auto& a, size_t n, const char* what) {
      require(a.dtype() == nb::dtype<int32_t>() && a.ndim() == 1 && a.shape(0) == n && c_contiguous(a),
              std::string("cap_plane: ") + what + " must be a contiguous int32 array of out's " + what);
      return static_cast<const int32_t*>(a.data());
    };
    CapArgs a{static_cast<uint8_t*>(out.data()), static_cast<std::ptrdiff_t>(out.stride(0)),
              static_cast<uint8_t*>(prev.data()), static_cast<const uint8_t*>(limit.data()),
              static_cast<std::ptrdiff_t>(limit.stride(0)), static_cast<int>(out.shape(0)),
              static_cast<int>(out.shape(1)), static_cast<int>(limit.shape(0)), static_cast<int>(limit.shape(1)),
              map(rows, out.shape(0), "rows"), map(cols, out.shape(1), "cols"),
              static_cast<const uint8_t*>(lut.data())};
    check(released([&] { return cap_plane(a); }));
  });
  m.def("conv_tail", [](const In& act, float act_scale, int act_zero, const In& weight, const In& bias,
                        const In& skip, int scale, Array out) {
    const auto d = act.dtype();
    const Quant type = d == nb::dtype<int8_t>()    ? Quant::S8
                       : d == nb::dtype<uint8_t>() ? Quant::U8
                       : d == nb::dtype<float>()   ? Quant::F32
                                                   : (fail("conv_tail: activations must be int8, uint8 or float32"),
                                                      Quant::F32);
    require(act.ndim() == 3 && c_contiguous(act), "conv_tail: act must be a contiguous (C, H, W) array");
    const int c = static_cast<int>(act.shape(0)), h = static_cast<int>(act.shape(1));
    const int w = static_cast<int>(act.shape(2));
    require(scale >= 1, "conv_tail: scale must be >= 1");
    const std::size_t p = static_cast<std::size_t>(scale) * scale;
    auto floats = [&](const auto& a, std::initializer_list<std::size_t> shape, const char* what) {
      bool ok = a.dtype() == nb::dtype<float>() && a.ndim() == shape.size() && c_contiguous(a);
      std::size_t i = 0;
      for (std::size_t n : shape) ok = ok && a.shape(i++) == n;
      require(ok, std::string("conv_tail: ") + what);
      return static_cast<const float*>(a.data());
    };
    const float* wt = floats(weight, {p, static_cast<std::size_t>(c), 3, 3},
                             "weight must be a contiguous float32 (scale^2, C, 3, 3) array");
    const float* bs = floats(bias, {p}, "bias must be a float32 (scale^2,) array");
    const float* sk = floats(skip, {static_cast<std::size_t>(h), static_cast<std::size_t>(w)},
                             "skip must be a contiguous float32 (H, W) plane");
    const float* o = floats(out, {static_cast<std::size_t>(h) * scale, static_cast<std::size_t>(w) * scale},
                            "out must be a contiguous float32 (H * scale, W * scale) plane");
    ConvTailArgs a{act.data(), type, c, h, w, act_scale, act_zero, wt, bs, sk, scale, const_cast<float*>(o)};
    check(released([&] { return conv_tail(a); }));
  });
}
