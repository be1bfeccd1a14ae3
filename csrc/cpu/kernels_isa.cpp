// Instantiates the CPU kernels for one instruction set. CMake compiles this file once per ISA
// (SRS_ISA = baseline | avx2 | avx512, each with its own -march); dispatch.cpp chooses.
#include <memory>

#include "kernels_impl.h"
#include "kernels_isa.h"

namespace srstream {
namespace SRS_ISA {

namespace {

template <class S, class T>
void pack_typed(const FrameView& src, PackMode mode, const int32_t* o, int n, int th, int tw, float g, float b,
                void* dst) {
  T* d = static_cast<T*>(dst);
  const int c = src.channels;
  switch (mode) {
    case PackMode::RGB:
      if (c == 1) return pack_impl<S, T, 1, PackMode::RGB>(src, o, n, th, tw, g, b, d);
      if (c == 3) return pack_impl<S, T, 3, PackMode::RGB>(src, o, n, th, tw, g, b, d);
      return pack_impl<S, T, 4, PackMode::RGB>(src, o, n, th, tw, g, b, d);
    case PackMode::BGR:
      if (c == 1) return pack_impl<S, T, 1, PackMode::BGR>(src, o, n, th, tw, g, b, d);
      if (c == 3) return pack_impl<S, T, 3, PackMode::BGR>(src, o, n, th, tw, g, b, d);
      return pack_impl<S, T, 4, PackMode::BGR>(src, o, n, th, tw, g, b, d);
    case PackMode::LUMA:
      if (c == 1) return pack_impl<S, T, 1, PackMode::LUMA>(src, o, n, th, tw, g, b, d);
      if (c == 3) return pack_impl<S, T, 3, PackMode::LUMA>(src, o, n, th, tw, g, b, d);
      return pack_impl<S, T, 4, PackMode::LUMA>(src, o, n, th, tw, g, b, d);
    case PackMode::FIRST:
      if (c == 1) return pack_impl<S, T, 1, PackMode::FIRST>(src, o, n, th, tw, g, b, d);
      if (c == 3) return pack_impl<S, T, 3, PackMode::FIRST>(src, o, n, th, tw, g, b, d);
      return pack_impl<S, T, 4, PackMode::FIRST>(src, o, n, th, tw, g, b, d);
  }
}

template <class S>
void pack_sample(const FrameView& src, PackMode mode, const int32_t* o, int n, int th, int tw, float g, float b,
                 void* dst, Real real) {
  switch (real) {
    case Real::F32: return pack_typed<S, float>(src, mode, o, n, th, tw, g, b, dst);
    case Real::F16: return pack_typed<S, f16>(src, mode, o, n, th, tw, g, b, dst);
    case Real::BF16: return pack_typed<S, BF16>(src, mode, o, n, th, tw, g, b, dst);
  }
}

template <class T>
void pack_yuv_typed(const YuvArgs& a, void* dst) {
  T* d = static_cast<T*>(dst);
  if (a.mode == PackMode::RGB)
    return pack_yuv_impl<T, PackMode::RGB>(a.y, a.y_stride, a.u, a.v, a.uv_stride, a.height, a.width, a.matrix,
                                           a.origins, a.n, a.th, a.tw, a.gain, a.bias, d);
  return pack_yuv_impl<T, PackMode::LUMA>(a.y, a.y_stride, a.u, a.v, a.uv_stride, a.height, a.width, a.matrix,
                                          a.origins, a.n, a.th, a.tw, a.gain, a.bias, d);
}

template <class T, class D>
void unpack_dst(const PlanarView& src, const MutFrameView& dst, float g, float b) {
  switch (src.channels) {
    case 1: return unpack_impl<T, D, 1>(src, dst, g, b);
    case 3: return unpack_impl<T, D, 3>(src, dst, g, b);
    default: return unpack_impl<T, D, 4>(src, dst, g, b);
  }
}

template <class T>
void unpack_real(const PlanarView& src, const MutFrameView& dst, float g, float b) {
  if (dst.sample == Sample::U8) return unpack_dst<T, uint8_t>(src, dst, g, b);
  return unpack_dst<T, uint16_t>(src, dst, g, b);
}

template <class T>
void unpack_luma_real(const PlanarView& l, const FrameView& base, const MutFrameView& dst, float g, float b) {
  if (dst.sample == Sample::U8) return unpack_luma_impl<T, uint8_t>(l, base, dst, g, b);
  return unpack_luma_impl<T, uint16_t>(l, base, dst, g, b);
}

}  // namespace

void pack(const FrameView& src, PackMode mode, const int32_t* o, int n, int th, int tw, float g, float b, void* dst,
          Real real) {
  if (src.sample == Sample::U8) return pack_sample<uint8_t>(src, mode, o, n, th, tw, g, b, dst, real);
  return pack_sample<uint16_t>(src, mode, o, n, th, tw, g, b, dst, real);
}

void pack_yuv(const YuvArgs& a, void* dst, Real real) {
  switch (real) {
    case Real::F32: return pack_yuv_typed<float>(a, dst);
    case Real::F16: return pack_yuv_typed<f16>(a, dst);
    case Real::BF16: return pack_yuv_typed<BF16>(a, dst);
  }
}

void unpack(const PlanarView& src, const MutFrameView& dst, float g, float b) {
  switch (src.real) {
    case Real::F32: return unpack_real<float>(src, dst, g, b);
    case Real::F16: return unpack_real<f16>(src, dst, g, b);
    case Real::BF16: return unpack_real<BF16>(src, dst, g, b);
  }
}

void unpack_luma(const PlanarView& l, const FrameView& base, const MutFrameView& dst, float g, float b) {
  switch (l.real) {
    case Real::F32: return unpack_luma_real<float>(l, base, dst, g, b);
    case Real::F16: return unpack_luma_real<f16>(l, base, dst, g, b);
    case Real::BF16: return unpack_luma_real<BF16>(l, base, dst, g, b);
  }
}

void unpack_yuv(const PlanarView& rgb, uint8_t* y, std::ptrdiff_t ys, uint8_t* u, uint8_t* v, std::ptrdiff_t uvs,
                YuvMatrix m, float g, float b) {
  switch (rgb.real) {
    case Real::F32: return unpack_yuv_impl<float>(rgb, y, ys, u, v, uvs, m, g, b);
    case Real::F16: return unpack_yuv_impl<f16>(rgb, y, ys, u, v, uvs, m, g, b);
    case Real::BF16: return unpack_yuv_impl<BF16>(rgb, y, ys, u, v, uvs, m, g, b);
  }
}

void blend(const PlanarView& tiles, int n, std::ptrdiff_t ts, const int32_t* o, int s, const float* rw,
           const int32_t* tr, const float* cw, const int32_t* tc, float* dst, int oh, int ow) {
  switch (tiles.real) {
    case Real::F32: return blend_impl<float>(tiles, n, ts, o, s, rw, tr, cw, tc, dst, oh, ow);
    case Real::F16: return blend_impl<f16>(tiles, n, ts, o, s, rw, tr, cw, tc, dst, oh, ow);
    case Real::BF16: return blend_impl<BF16>(tiles, n, ts, o, s, rw, tr, cw, tc, dst, oh, ow);
  }
}

}  // namespace SRS_ISA
}  // namespace srstream
