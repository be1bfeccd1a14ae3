// Instantiates the CPU kernels for one instruction set. CMake compiles this file once per ISA
// (SRS_ISA = baseline | avx2 | avx512, each with its own -march); dispatch.cpp chooses.
#include <type_traits>

#include "kernels_impl.h"
#include "kernels_isa.h"

namespace srstream {
namespace SRS_ISA {

namespace {

// Runtime value -> compile-time type or constant: each calls f with a tag of the matching type.
template <class F>
void by_real(Real r, F&& f) {
  switch (r) {
    case Real::F32: return f(float{});
    case Real::F16: return f(f16{});
    case Real::BF16: return f(BF16{});
  }
}

template <class F>
void by_sample(Sample s, F&& f) {
  if (s == Sample::U8) return f(uint8_t{});
  return f(uint16_t{});
}

template <class F>
void by_channels(int c, F&& f) {  // 1, 3 or 4 (validated by dispatch.cpp)
  if (c == 1) return f(std::integral_constant<int, 1>{});
  if (c == 3) return f(std::integral_constant<int, 3>{});
  return f(std::integral_constant<int, 4>{});
}

template <class F>
void by_mode(PackMode m, F&& f) {
  switch (m) {
    case PackMode::RGB: return f(std::integral_constant<PackMode, PackMode::RGB>{});
    case PackMode::BGR: return f(std::integral_constant<PackMode, PackMode::BGR>{});
    case PackMode::LUMA: return f(std::integral_constant<PackMode, PackMode::LUMA>{});
    case PackMode::FIRST: return f(std::integral_constant<PackMode, PackMode::FIRST>{});
  }
}

}  // namespace

void pack(const FrameView& src, PackMode mode, const int32_t* o, int n, int th, int tw, float g, float b, void* dst,
          Real real) {
  by_sample(src.sample, [&](auto s) {
    by_real(real, [&](auto t) {
      by_mode(mode, [&](auto m) {
        by_channels(src.channels, [&](auto c) {
          using T = decltype(t);
          pack_impl<decltype(s), T, decltype(c)::value, decltype(m)::value>(src, o, n, th, tw, g, b,
                                                                            static_cast<T*>(dst));
        });
      });
    });
  });
}

void pack_yuv(const YuvArgs& a, void* dst, Real real) {
  by_real(real, [&](auto t) {
    using T = decltype(t);
    T* d = static_cast<T*>(dst);
    if (a.mode == PackMode::RGB)
      return pack_yuv_impl<T, PackMode::RGB>(a.y, a.y_stride, a.u, a.v, a.uv_stride, a.height, a.width, a.matrix,
                                             a.origins, a.n, a.th, a.tw, a.gain, a.bias, d);
    pack_yuv_impl<T, PackMode::LUMA>(a.y, a.y_stride, a.u, a.v, a.uv_stride, a.height, a.width, a.matrix, a.origins,
                                     a.n, a.th, a.tw, a.gain, a.bias, d);
  });
}

void unpack(const PlanarView& src, const MutFrameView& dst, float g, float b) {
  by_real(src.real, [&](auto t) {
    by_sample(dst.sample, [&](auto d) {
      by_channels(src.channels, [&](auto c) {
        unpack_impl<decltype(t), decltype(d), decltype(c)::value>(src, dst, g, b);
      });
    });
  });
}

void unpack_luma(const PlanarView& l, const FrameView& base, const MutFrameView& dst, int s, float g, float b) {
  by_real(l.real, [&](auto t) {
    by_sample(dst.sample, [&](auto d) { unpack_luma_impl<decltype(t), decltype(d)>(l, base, dst, s, g, b); });
  });
}

void unpack_yuv(const PlanarView& rgb, uint8_t* y, std::ptrdiff_t ys, uint8_t* u, uint8_t* v, std::ptrdiff_t uvs,
                YuvMatrix m, float g, float b) {
  by_real(rgb.real, [&](auto t) { unpack_yuv_impl<decltype(t)>(rgb, y, ys, u, v, uvs, m, g, b); });
}

void blend(const PlanarView& tiles, int n, std::ptrdiff_t ts, const int32_t* o, int s, const float* rw,
           const int32_t* tr, const float* cw, const int32_t* tc, float* dst, int oh, int ow) {
  by_real(tiles.real, [&](auto t) { blend_impl<decltype(t)>(tiles, n, ts, o, s, rw, tr, cw, tc, dst, oh, ow); });
}

void stabilize(const StabilizeArgs& a) { stabilize_impl(a); }

void conv_tail(const ConvTailArgs& a) {
  switch (a.type) {
    case Quant::S8: return conv_tail_impl<int8_t>(a);
    case Quant::U8: return conv_tail_impl<uint8_t>(a);
    case Quant::F32: return conv_tail_impl<float>(a);
  }
}

}  // namespace SRS_ISA
}  // namespace srstream
