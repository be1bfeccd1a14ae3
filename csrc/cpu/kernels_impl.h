// The CPU kernels' bodies, compiled once per instruction set (kernels_isa.cpp sets SRS_ISA and
// the -march flags; dispatch.cpp picks the best one the CPU supports at run time). Loops are
// written over contiguous rows with compile-time channel counts so the compiler vectorises them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "srstream/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace srstream {
namespace SRS_ISA {

using f16 = _Float16;

struct BF16 {
  uint16_t bits;
};

template <class T> inline T to_real(float v);
template <> inline float to_real<float>(float v) { return v; }
template <> inline f16 to_real<f16>(float v) { return static_cast<f16>(v); }
template <> inline BF16 to_real<BF16>(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest even (values are finite)
  return BF16{static_cast<uint16_t>(u >> 16)};
}

template <class T> inline float from_real(T v);
template <> inline float from_real<float>(float v) { return v; }
template <> inline float from_real<f16>(f16 v) { return static_cast<float>(v); }
template <> inline float from_real<BF16>(BF16 v) {
  uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// numpy "reflect" padding: the index of padded position i in an axis of length n.
inline int reflect(int i, int n) {
  if (i < n) return i;
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  return i < n ? i : period - i;
}

constexpr float kLuma[3] = {0.299f, 0.587f, 0.114f};

// ---- pack -------------------------------------------------------------------------------

// One run of contiguous pixels -> planes, 16 pixels at a time: samples converted in one
// contiguous pass, then spread into the planes from L1.
template <class S, class T, int C, PackMode M>
inline void pack_row(const S* src, int tw, float inv_peak, float gain, float bias, bool affine,
                            T* const* planes) {
  constexpr int OUT = (M == PackMode::RGB || M == PackMode::BGR) ? 3 : 1;
  constexpr int B = 16;
  for (int x0 = 0; x0 < tw; x0 += B) {
    const int n = std::min(B, tw - x0);
    float in[B * C];
    const S* p = src + static_cast<std::ptrdiff_t>(x0) * C;
    for (int i = 0; i < n * C; ++i) in[i] = static_cast<float>(p[i]) * inv_peak;
    float v[OUT][B];
    for (int x = 0; x < n; ++x) {
      const float* q = in + x * C;
      if constexpr (OUT == 3) {
        if constexpr (C == 1) {
          v[0][x] = v[1][x] = v[2][x] = q[0];
        } else {
          v[0][x] = q[M == PackMode::BGR ? 2 : 0];
          v[1][x] = q[1];
          v[2][x] = q[M == PackMode::BGR ? 0 : 2];
        }
      } else if constexpr (M == PackMode::LUMA && C >= 3) {
        float y = q[0] * kLuma[0];
        y += q[1] * kLuma[1];
        y += q[2] * kLuma[2];
        v[0][x] = y;
      } else {
        v[0][x] = q[0];
      }
    }
    for (int c = 0; c < OUT; ++c) {
      T* o = planes[c] + x0;
      if (affine) {
        for (int x = 0; x < n; ++x) {
          float t = v[c][x] * gain;
          t += bias;
          o[x] = to_real<T>(t);
        }
      } else {
        for (int x = 0; x < n; ++x) o[x] = to_real<T>(v[c][x]);
      }
    }
  }
}

template <class S, class T, int C, PackMode M>
void pack_impl(const FrameView& src, const int32_t* origins, int n, int th, int tw, float gain, float bias, T* dst) {
  constexpr int OUT = (M == PackMode::RGB || M == PackMode::BGR) ? 3 : 1;
  const float inv_peak = 1.0f / (src.sample == Sample::U8 ? 255.0f : 65535.0f);
  const bool affine = !(gain == 1.0f && bias == 0.0f);
  const S* base = static_cast<const S*>(src.data);
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(th) * tw;
#pragma omp parallel for schedule(static) collapse(2)
  for (int t = 0; t < n; ++t) {
    for (int y = 0; y < th; ++y) {
      const int oy = origins[2 * t], ox = origins[2 * t + 1];
      const S* row = base + static_cast<std::ptrdiff_t>(reflect(oy + y, src.height)) * src.row_stride;
      T* out = dst + static_cast<std::ptrdiff_t>(t) * OUT * plane + static_cast<std::ptrdiff_t>(y) * tw;
      T* planes[3] = {out, out + plane, out + 2 * plane};
      // columns inside the frame are read in place; mirrored ones are first copied in order
      const int inside = std::max(0, std::min(tw, src.width - ox));
      if (inside > 0)
        pack_row<S, T, C, M>(row + static_cast<std::ptrdiff_t>(ox) * C, inside, inv_peak, gain, bias, affine, planes);
      constexpr int B = 256;
      for (int x0 = inside; x0 < tw; x0 += B) {
        S mirrored[B * C];
        const int n = std::min(B, tw - x0);
        for (int x = 0; x < n; ++x)
          std::copy_n(row + static_cast<std::ptrdiff_t>(reflect(ox + x0 + x, src.width)) * C, C, mirrored + x * C);
        T* shifted[3] = {planes[0] + x0, planes[1] + x0, planes[2] + x0};
        pack_row<S, T, C, M>(mirrored, n, inv_peak, gain, bias, affine, shifted);
      }
    }
  }
}

// ---- YUV 4:2:0 -> planes --------------------------------------------------------------------

// Row helpers of pack_yuv_impl; restrict-qualified so the compiler may vectorise them (their
// buffers are slices of one thread-local allocation).
inline void chroma_rows(const uint8_t* __restrict c0, const uint8_t* __restrict c1, float* __restrict out, int j0,
                        int j1) {
  for (int j = j0; j < j1; ++j) out[j] = static_cast<float>(c0[j]) * 0.75f + static_cast<float>(c1[j]) * 0.25f;
}

inline void chroma_cols(const float* __restrict c, float* __restrict out, int j0, int j1, int cw, int w) {
  for (int j = j0; j < j1; ++j) {  // two luma columns per chroma sample
    const float next = c[std::min(j + 1, cw - 1)];
    out[2 * j] = c[j];
    if (2 * j + 1 < w) out[2 * j + 1] = (c[j] + next) * 0.5f;
  }
}

inline void yuv_to_rgb_row(const float* __restrict l, const float* __restrict u, const float* __restrict v,
                           float* __restrict r, float* __restrict g, float* __restrict b, int n, float co, float cs,
                           float rv, float gu, float gv, float bu) {
  for (int x = 0; x < n; ++x) {
    const float cb = (u[x] - co) * cs, cr = (v[x] - co) * cs;
    float gg = l[x] - gu * cb;
    gg -= gv * cr;
    r[x] = std::min(std::max(l[x] + rv * cr, 0.0f), 1.0f);
    g[x] = std::min(std::max(gg, 0.0f), 1.0f);
    b[x] = std::min(std::max(l[x] + bu * cb, 0.0f), 1.0f);
  }
}

template <class T>
inline void store_row(const float* __restrict src, T* __restrict o, int n, bool affine, float gain, float bias) {
  if (affine) {
    for (int x = 0; x < n; ++x) {
      float v = src[x] * gain;
      v += bias;
      o[x] = to_real<T>(v);
    }
  } else {
    for (int x = 0; x < n; ++x) o[x] = to_real<T>(src[x]);
  }
}

// Y codes [lo, hi) of one row -> Y' (clipped to [0, 1] when `clip`).
inline void luma_row(const uint8_t* __restrict y, float* __restrict out, int lo, int hi, float offset, float scale,
                     bool clip) {
  for (int x = lo; x < hi; ++x) out[x] = (static_cast<float>(y[x]) - offset) * scale;
  if (clip)
    for (int x = lo; x < hi; ++x) out[x] = std::min(std::max(out[x], 0.0f), 1.0f);
}

// The tile's columns [ox, ox + tw) of a full-width row of floats -> o; mirrored columns are
// gathered into `gather` (tw floats) first.
template <class T>
inline void store_tile_row(const float* row, int ox, int tw, int w, float* __restrict gather, T* o, bool affine,
                           float gain, float bias) {
  if (ox + tw <= w) return store_row<T>(row + ox, o, tw, affine, gain, bias);
  for (int x = 0; x < tw; ++x) gather[x] = row[reflect(ox + x, w)];
  store_row<T>(gather, o, tw, affine, gain, bias);
}

template <class T, PackMode M>
void pack_yuv_impl(const uint8_t* yp, std::ptrdiff_t ys, const uint8_t* up, const uint8_t* vp, std::ptrdiff_t uvs,
                   int h, int w, YuvMatrix matrix, const int32_t* origins, int n, int th, int tw, float gain,
                   float bias, T* dst) {
  constexpr int OUT = M == PackMode::RGB ? 3 : 1;
  const YuvCoefs k = yuv_coefs(matrix);
  const bool affine = !(gain == 1.0f && bias == 0.0f);
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(th) * tw;
  const int ch = (h + 1) / 2, cw = (w + 1) / 2;
#pragma omp parallel
  {
    // one luma row's Cb and Cr at every luma column (code values), then its Y' and R, G, B
    std::unique_ptr<float[]> buf(new float[2 * static_cast<std::size_t>(cw) + 6 * static_cast<std::size_t>(w) +
                                           static_cast<std::size_t>(tw)]);
    float *vu = buf.get(), *vv = vu + cw, *cu = vv + cw, *cv = cu + w, *px = cv + w, *gather = px + 4 * w;
    // thread-local copies: shared variables reach the outlined region through pointers, which
    // may alias the float stores below and would keep the loops from vectorising
    const float yo = k.y_offset, ysc = k.y_scale, cs = k.c_scale, rv = k.rv, gu = k.gu, gv = k.gv, bu = k.bu;
    const float g_ = gain, b_ = bias;
#pragma omp for schedule(static) collapse(2)
    for (int t = 0; t < n; ++t) {
      for (int y = 0; y < th; ++y) {
        const int sy = reflect(origins[2 * t] + y, h), ox = origins[2 * t + 1];
        const uint8_t* yrow = yp + sy * ys;
        T* out = dst + static_cast<std::ptrdiff_t>(t) * OUT * plane + static_cast<std::ptrdiff_t>(y) * tw;
        // the frame columns this tile reads (mirrored ones included), each once and contiguously
        const bool inside = ox + tw <= w;
        const int lo = inside ? ox : std::max(0, std::min(ox, 2 * (w - 1) - (ox + tw - 1)));
        const int hi = inside ? ox + tw : w;
        luma_row(yrow, px, lo, hi, yo, ysc, OUT == 1);  // luma alone is clipped here
        if constexpr (OUT == 3) {
          // chroma siting of MPEG-2/H.264 4:2:0: co-sited with even luma columns, halfway between
          // luma rows: 3/4 of the nearer chroma row, 1/4 of the next one toward this luma row.
          // (Sums of code values and halves: exact in float, so the order of operations is free.)
          const int ci = sy >> 1;
          const int cn = (sy & 1) ? std::min(ci + 1, ch - 1) : std::max(ci - 1, 0);
          const uint8_t *u0 = up + ci * uvs, *u1 = up + cn * uvs, *v0 = vp + ci * uvs, *v1 = vp + cn * uvs;
          const int j0 = lo >> 1, jv = std::min(cw, (hi >> 1) + 2), jc = std::min(cw, (hi + 1) >> 1);
          chroma_rows(u0, u1, vu, j0, jv);
          chroma_rows(v0, v1, vv, j0, jv);
          chroma_cols(vu, cu, j0, jc, cw, w);
          chroma_cols(vv, cv, j0, jc, cw, w);
          float *R = px + w, *G = R + w, *B = G + w;
          yuv_to_rgb_row(px + lo, cu + lo, cv + lo, R + lo, G + lo, B + lo, hi - lo, 128.0f, cs, rv, gu, gv, bu);
          for (int c = 0; c < 3; ++c)
            store_tile_row<T>(R + c * w, ox, tw, w, gather, out + c * plane, affine, g_, b_);
        } else {
          store_tile_row<T>(px, ox, tw, w, gather, out, affine, g_, b_);
        }
      }
    }
  }
}

// ---- unpack -----------------------------------------------------------------------------

template <class D>
inline D quantise(float v, float peak) {
  v *= peak;
  v += 0.5f;
  v = std::min(std::max(v, 0.0f), peak);
  return static_cast<D>(static_cast<int32_t>(v));  // truncating a non-negative value: floor(v * peak + 0.5)
}

// One output row: C planes -> samples at stride DC (DC = 0: the runtime stride `dc`).
template <class T, class D, int C, int DC>
inline void unpack_row(const T* const* rows, D* o, int w, int dc, float peak, bool affine, float g, float b) {
  const int stride = DC ? DC : dc;
  for (int x = 0; x < w; ++x) {
    for (int c = 0; c < C; ++c) {
      float v = from_real<T>(rows[c][x]);
      if (affine) {
        v *= g;
        v += b;
      }
      o[x * stride + c] = quantise<D>(v, peak);
    }
  }
}

template <class T, class D, int C>
void unpack_impl(const PlanarView& src, const MutFrameView& dst, float inv_gain, float inv_bias) {
  const float peak = dst.sample == Sample::U8 ? 255.0f : 65535.0f;
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  const T* base = static_cast<const T*>(src.data);
  D* out = static_cast<D*>(dst.data);
  const int w = src.width, dc = dst.channels;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < src.height; ++y) {
    const T* rows[C];
    for (int c = 0; c < C; ++c) rows[c] = base + c * src.channel_stride + y * src.row_stride;
    D* o = out + y * dst.row_stride;
    if (dc == C)
      unpack_row<T, D, C, C>(rows, o, w, dc, peak, affine, inv_gain, inv_bias);
    else
      unpack_row<T, D, C, 0>(rows, o, w, dc, peak, affine, inv_gain, inv_bias);
  }
}

// One row: base (stride BC, samples of type S: D, or float in D's units) + (luma - luma(base)) -> dst
// (stride DC), 16 pixels at a time: the samples of a block are converted in one contiguous
// (vectorised) pass, the luma residual is formed per pixel from L1, and the results are rounded in
// another contiguous pass.
template <class T, class S, class D, int BC, int DC>
inline void luma_row(const T* l, const S* b, D* o, int w, float peak, float inv_peak, bool affine, float g,
                     float bias) {
  constexpr int B = 16;
  for (int x0 = 0; x0 < w; x0 += B) {
    const int n = std::min(B, w - x0);
    float in[B * BC], res[B * DC], d[B];
    const S* bb = b + x0 * BC;
    for (int i = 0; i < n * BC; ++i) in[i] = static_cast<float>(bb[i]) * inv_peak;
    for (int x = 0; x < n; ++x) {
      float m = from_real<T>(l[x0 + x]);
      if (affine) {
        m *= g;
        m += bias;
      }
      float yb = in[x * BC] * kLuma[0];
      yb += in[x * BC + 1] * kLuma[1];
      yb += in[x * BC + 2] * kLuma[2];
      d[x] = m - yb;
    }
    for (int x = 0; x < n; ++x)
      for (int c = 0; c < 3; ++c) res[x * DC + c] = in[x * BC + c] + d[x];
    D* oo = o + x0 * DC;
    if constexpr (DC == 3) {
      for (int i = 0; i < n * 3; ++i) oo[i] = quantise<D>(res[i], peak);
    } else {
      for (int x = 0; x < n; ++x)
        for (int c = 0; c < 3; ++c) oo[x * DC + c] = quantise<D>(res[x * DC + c], peak);
    }
  }
}

// Where output pixel i (of n = scale * m) falls on the input grid of m pixels: the left/top
// neighbour and the weight of the next one (pixel centres; edges clamped, weight 0 there).
inline void upsample_tap(int i, int m, float scale, int& lo, float& a) {
  const float f = (static_cast<float>(i) + 0.5f) / scale - 0.5f;
  const float ff = std::floor(f);
  lo = static_cast<int>(ff);
  a = f - ff;
  if (lo < 0) { lo = 0; a = 0.0f; }
  if (lo >= m - 1) { lo = m - 1; a = 0.0f; }
}

// Row `y` of the bilinear upscale (pixel centres, edges clamped: upsample_tap) of an RGB(A) frame
// by `scale`, its R, G and B in `out` (3 floats a pixel, in sample units): first between the two
// input rows, then along the row with the column taps `cols`/`ax`; the same float operations as
// kernels_ref.unpack_luma_residual_reference, so the results are bit-identical.
template <class D>
inline void upsampled_row(const FrameView& src, int y, int scale, const int* cols, const float* ax, float* row,
                          float* out, int ow) {
  int r0;
  float ay;
  upsample_tap(y, src.height, static_cast<float>(scale), r0, ay);
  const int r1 = std::min(r0 + 1, src.height - 1), c = src.channels;
  const D* p0 = static_cast<const D*>(src.data) + r0 * src.row_stride;
  const D* p1 = static_cast<const D*>(src.data) + r1 * src.row_stride;
  const float by = 1.0f - ay;
  for (int x = 0; x < src.width; ++x)
    for (int k = 0; k < 3; ++k)
      row[x * 3 + k] = by * static_cast<float>(p0[x * c + k]) + ay * static_cast<float>(p1[x * c + k]);
  const int last = src.width - 1;
  if (scale == 2 && src.width > 1) {  // the taps of x2 inside the row: 0.25 / 0.75 either side, exactly
    for (int k = 0; k < 3; ++k) out[k] = row[k], out[(ow - 1) * 3 + k] = row[last * 3 + k];
    const float q = 0.25f, t = 0.75f;
    for (int x = 0; x < last; ++x) {
      const float* a = row + x * 3;
      float* o = out + (2 * x + 1) * 3;
      for (int k = 0; k < 3; ++k) {
        o[k] = t * a[k] + q * a[k + 3];
        o[k + 3] = q * a[k] + t * a[k + 3];
      }
    }
    return;
  }
  for (int x = 0; x < ow; ++x) {
    const float* a = row + cols[x] * 3;
    const float* b = row + std::min(cols[x] + 1, last) * 3;
    const float bx = 1.0f - ax[x];
    for (int k = 0; k < 3; ++k) out[x * 3 + k] = bx * a[k] + ax[x] * b[k];
  }
}

template <class T, class D>
void unpack_luma_impl(const PlanarView& luma, const FrameView& base, const MutFrameView& dst, int scale,
                      float inv_gain, float inv_bias) {
  const float peak = dst.sample == Sample::U8 ? 255.0f : 65535.0f;
  const float inv_peak = 1.0f / peak;
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  const T* lp = static_cast<const T*>(luma.data);
  const D* bp = static_cast<const D*>(base.data);
  D* out = static_cast<D*>(dst.data);
  const int w = luma.width, dc = dst.channels, bc = base.channels;
  if (scale > 1) {  // base is the input frame: its bilinear upscale, one output row at a time
    std::vector<int> cols(w);
    std::vector<float> ax(w);
    for (int x = 0; x < w; ++x) upsample_tap(x, base.width, static_cast<float>(scale), cols[x], ax[x]);
#pragma omp parallel
    {
      std::vector<float> row(static_cast<size_t>(base.width) * 3), up(static_cast<size_t>(w) * 3);
#pragma omp for schedule(static)
      for (int y = 0; y < luma.height; ++y) {
        upsampled_row<D>(base, y, scale, cols.data(), ax.data(), row.data(), up.data(), w);
        const T* l = lp + y * luma.row_stride;
        D* o = out + y * dst.row_stride;
        if (dc == 3)
          luma_row<T, float, D, 3, 3>(l, up.data(), o, w, peak, inv_peak, affine, inv_gain, inv_bias);
        else
          luma_row<T, float, D, 3, 4>(l, up.data(), o, w, peak, inv_peak, affine, inv_gain, inv_bias);
      }
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int y = 0; y < luma.height; ++y) {
    const T* l = lp + y * luma.row_stride;
    const D* b = bp + y * base.row_stride;
    D* o = out + y * dst.row_stride;
    if (bc == 3 && dc == 3)
      luma_row<T, D, D, 3, 3>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else if (bc == 4 && dc == 4)
      luma_row<T, D, D, 4, 4>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else if (bc == 3)
      luma_row<T, D, D, 3, 4>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else
      luma_row<T, D, D, 4, 3>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
  }
}

template <class T>
inline void clipped_row(const T* __restrict src, float* __restrict dst, int w, bool affine, float g, float b) {
  for (int x = 0; x < w; ++x) {
    float v = from_real<T>(src[x]);
    if (affine) {
      v *= g;
      v += b;
    }
    dst[x] = std::min(std::max(v, 0.0f), 1.0f);
  }
}

// A Y'CbCr value -> its 8-bit code: v * scale + offset, rounded and clamped.
inline uint8_t code(float v, float scale, float offset) {
  v *= scale;
  v += offset;
  v += 0.5f;
  return static_cast<uint8_t>(static_cast<int32_t>(std::min(std::max(v, 0.0f), 255.0f)));
}

inline void luma_codes(const float* __restrict r, const float* __restrict g, const float* __restrict b,
                       uint8_t* __restrict y, int w, float kr, float kg, float kb, float scale, float offset) {
  for (int x = 0; x < w; ++x) {
    float l = kr * r[x];
    l += kg * g[x];
    l += kb * b[x];
    y[x] = code(l, scale, offset);
  }
}

// One chroma row of one channel: [1 2 1]/4 across columns (borders clamped) of rows a and b,
// then their mean. The sums run in the order of the numpy reference.
inline void sited_row(const float* __restrict a, const float* __restrict b, float* __restrict out, int w, int cw) {
  auto one = [&](int cx) {
    const int xl = std::max(2 * cx - 1, 0), xc = 2 * cx, xr = std::min(2 * cx + 1, w - 1);
    float p = a[xl] * 0.25f;
    p += a[xc] * 0.5f;
    p += a[xr] * 0.25f;
    float q = b[xl] * 0.25f;
    q += b[xc] * 0.5f;
    q += b[xr] * 0.25f;
    return (p + q) * 0.5f;
  };
  const int last = (w - 2) / 2;  // interior: 2cx + 1 <= w - 1 and cx >= 1
  if (cw > 0) out[0] = one(0);
  for (int cx = 1; cx <= last; ++cx) {
    float p = a[2 * cx - 1] * 0.25f;
    p += a[2 * cx] * 0.5f;
    p += a[2 * cx + 1] * 0.25f;
    float q = b[2 * cx - 1] * 0.25f;
    q += b[2 * cx] * 0.5f;
    q += b[2 * cx + 1] * 0.25f;
    out[cx] = (p + q) * 0.5f;
  }
  for (int cx = std::max(1, last + 1); cx < cw; ++cx) out[cx] = one(cx);
}

inline void chroma_codes(const float* __restrict r, const float* __restrict g, const float* __restrict b,
                         uint8_t* __restrict u, uint8_t* __restrict v, int cw, float kr, float kg, float kb,
                         float cb_s, float cr_s, float scale) {
  for (int cx = 0; cx < cw; ++cx) {
    float l = kr * r[cx];
    l += kg * g[cx];
    l += kb * b[cx];
    u[cx] = code((b[cx] - l) * cb_s, scale, 128.0f);
    v[cx] = code((r[cx] - l) * cr_s, scale, 128.0f);
  }
}

template <class T>
void unpack_yuv_impl(const PlanarView& rgb, uint8_t* yp, std::ptrdiff_t ys, uint8_t* up, uint8_t* vp,
                     std::ptrdiff_t uvs, YuvMatrix m, float inv_gain, float inv_bias) {
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  const YuvCoefs k = yuv_coefs(m);
  const T* base = static_cast<const T*>(rgb.data);
  const int h = rgb.height, w = rgb.width, ch = (h + 1) / 2, cw = (w + 1) / 2;
#pragma omp parallel
  {
    // the two rows of one chroma row, per channel, clipped to [0, 1]: contiguous passes from here
    std::unique_ptr<float[]> buf(new float[6 * static_cast<std::size_t>(w) + 3 * static_cast<std::size_t>(cw)]);
#pragma omp for schedule(static)
    for (int cy = 0; cy < ch; ++cy) {
      const int rows[2] = {2 * cy, std::min(2 * cy + 1, h - 1)};
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c)
          clipped_row(base + c * rgb.channel_stride + rows[r] * rgb.row_stride, buf.get() + (r * 3 + c) * w, w,
                      affine, inv_gain, inv_bias);
      for (int r = 0; r < (rows[1] == rows[0] ? 1 : 2); ++r) {
        const float* R = buf.get() + r * 3 * w;
        luma_codes(R, R + w, R + 2 * w, yp + rows[r] * ys, w, k.kr, k.kg, k.kb, k.y_span, k.y_offset);
      }
      // MPEG-2/H.264 siting: [1 2 1]/4 across columns 2cx-1..2cx+1, the mean of the two rows;
      // per channel into contiguous rows of chroma samples, then converted in one pass
      float* sited = buf.get() + 6 * w;  // 3 rows of cw
      for (int c = 0; c < 3; ++c) sited_row(buf.get() + c * w, buf.get() + (3 + c) * w, sited + c * cw, w, cw);
      chroma_codes(sited, sited + cw, sited + 2 * cw, up + cy * uvs, vp + cy * uvs, cw, k.kr, k.kg, k.kb, k.cb_s,
                   k.cr_s, k.c_span);
    }
  }
}

// ---- blend ------------------------------------------------------------------------------

template <class T>
inline void blend_row(const T* __restrict src, const float* __restrict wx, float wy, float* __restrict o, int n) {
  for (int x = 0; x < n; ++x) {
    const float wgt = wy * wx[x];
    o[x] += from_real<T>(src[x]) * wgt;
  }
}

template <class T>
void blend_impl(const PlanarView& tiles, int n, std::ptrdiff_t tile_stride, const int32_t* origins, int s,
                const float* row_w, const int32_t* tile_row, const float* col_w, const int32_t* tile_col,
                float* dst, int out_h, int out_w) {
  const int C = tiles.channels, th = tiles.height, tw = tiles.width;
  const std::ptrdiff_t out_plane = static_cast<std::ptrdiff_t>(out_h) * out_w;
  const T* base = static_cast<const T*>(tiles.data);
#pragma omp parallel for schedule(static)
  for (int oy = 0; oy < out_h; ++oy) {  // one output row per iteration: no two threads share a pixel
    for (int c = 0; c < C; ++c) std::fill_n(dst + c * out_plane + static_cast<std::ptrdiff_t>(oy) * out_w, out_w, 0.0f);
    for (int t = 0; t < n; ++t) {
      const int y0 = origins[2 * t] * s, x0 = origins[2 * t + 1] * s;
      const int ty = oy - y0;
      if (ty < 0 || ty >= th) continue;
      const float wy = row_w[static_cast<std::ptrdiff_t>(tile_row[t]) * th + ty];
      const float* wx = col_w + static_cast<std::ptrdiff_t>(tile_col[t]) * tw;
      const int xe = std::min(tw, out_w - x0);
      for (int c = 0; c < C; ++c) {
        blend_row(base + t * tile_stride + c * tiles.channel_stride + ty * tiles.row_stride, wx, wy,
                  dst + c * out_plane + static_cast<std::ptrdiff_t>(oy) * out_w + x0, xe);
      }
    }
  }
}


// ---- temporal stabiliser (see kernels.h: stabilize_luma) ----------------------------------------

inline int clamp_index(int i, int n) { return std::min(std::max(i, 0), n - 1); }

// The previous base and detail sampled bilinearly (edges replicated) where the flow says each
// pixel of output row `y` was: `wb` and `wd` for x in [0, W). `u*0`/`u*1`: the flow upsampled
// along the two input rows around `y`, blended with weights `ay1`/`ay`. Float ops in the
// reference's order (kernels_ref.stabilize_luma_reference), so the results are bit-identical.
struct WarpRow {
  float fy, ay, ay1, sf, fw, fh;
  int W, H;
  const float *ux0, *ux1, *uy0, *uy1, *prev_base, *prev_detail;
};

inline void warp_pixels(const WarpRow& R, int from, float* __restrict wb, float* __restrict wd) {
  const int W = R.W, H = R.H;
  const float ay = R.ay, ay1 = R.ay1, sf = R.sf, fw = R.fw, fh = R.fh, fy = R.fy;
  const float* __restrict pb = R.prev_base;
  const float* __restrict pd = R.prev_detail;
  const float* __restrict ux0 = R.ux0;
  const float* __restrict ux1 = R.ux1;
  const float* __restrict uy0 = R.uy0;
  const float* __restrict uy1 = R.uy1;
#pragma omp simd
  for (int x = from; x < W; ++x) {
    const float ux = ay1 * ux0[x] + ay * ux1[x];
    const float uy = ay1 * uy0[x] + ay * uy1[x];
    float mx = static_cast<float>(x) + sf * ux, my = fy + sf * uy;
    mx = mx > -1.0f ? (mx < fw ? mx : fw) : -1.0f;  // beyond a pixel outside (or NaN): the border
    my = my > -1.0f ? (my < fh ? my : fh) : -1.0f;
    const float flx = std::floor(mx), fly = std::floor(my);
    const float bx = mx - flx, by = my - fly, bx1 = 1.0f - bx, by1 = 1.0f - by;
    const int x0 = static_cast<int>(flx), y0 = static_cast<int>(fly);
    const int xa = clamp_index(x0, W), xb = clamp_index(x0 + 1, W);
    const int ra = clamp_index(y0, H) * W, rb = clamp_index(y0 + 1, H) * W;
    wb[x] = by1 * (bx1 * pb[ra + xa] + bx * pb[ra + xb]) + by * (bx1 * pb[rb + xa] + bx * pb[rb + xb]);
    wd[x] = by1 * (bx1 * pd[ra + xa] + bx * pd[ra + xb]) + by * (bx1 * pd[rb + xa] + bx * pd[rb + xb]);
  }
}

#if defined(__AVX512F__)
// The AVX-512 build: 16 pixels at a time. Where the 16 pixels' taps lie in three consecutive rows
// and one 32-wide window of columns (nearly everywhere: the flow is smooth), they are permuted out
// of that window's registers instead of gathered (a gather of 16 floats costs as much as the rest
// of the pixels' arithmetic); elsewhere gathered. The same float ops as warp_pixels.
inline __m512 bilinear16(__m512 bx, __m512 bx1, __m512 by, __m512 by1, __m512 aa, __m512 ab, __m512 ba, __m512 bb) {
  // by1 * (bx1 * aa + bx * ab) + by * (bx1 * ba + bx * bb)
  return _mm512_add_ps(_mm512_mul_ps(by1, _mm512_add_ps(_mm512_mul_ps(bx1, aa), _mm512_mul_ps(bx, ab))),
                       _mm512_mul_ps(by, _mm512_add_ps(_mm512_mul_ps(bx1, ba), _mm512_mul_ps(bx, bb))));
}

inline void warp_row(const WarpRow& R, float* __restrict wb, float* __restrict wd) {
  const int W = R.W, H = R.H;
  const __m512 vay = _mm512_set1_ps(R.ay), vay1 = _mm512_set1_ps(R.ay1), vsf = _mm512_set1_ps(R.sf);
  const __m512 vfw = _mm512_set1_ps(R.fw), vfh = _mm512_set1_ps(R.fh), vneg1 = _mm512_set1_ps(-1.0f);
  const __m512 vfy = _mm512_set1_ps(R.fy), one = _mm512_set1_ps(1.0f);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i zero = _mm512_setzero_si512(), ione = _mm512_set1_epi32(1), vW = _mm512_set1_epi32(W);
  const __m512i wmax = _mm512_set1_epi32(W - 1), hmax = _mm512_set1_epi32(H - 1);
  const float* pb = R.prev_base;
  const float* pd = R.prev_detail;
  int x = 0;
  for (; x + 16 <= W; x += 16) {
    const __m512 ux = _mm512_add_ps(_mm512_mul_ps(vay1, _mm512_loadu_ps(R.ux0 + x)),
                                    _mm512_mul_ps(vay, _mm512_loadu_ps(R.ux1 + x)));
    const __m512 uy = _mm512_add_ps(_mm512_mul_ps(vay1, _mm512_loadu_ps(R.uy0 + x)),
                                    _mm512_mul_ps(vay, _mm512_loadu_ps(R.uy1 + x)));
    __m512 mx = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(x), iota)), _mm512_mul_ps(vsf, ux));
    __m512 my = _mm512_add_ps(vfy, _mm512_mul_ps(vsf, uy));
    // m > -1 ? (m < limit ? m : limit) : -1, so NaN -> -1 as in warp_pixels
    mx = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mx, vneg1, _CMP_GT_OQ), vneg1,
                              _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mx, vfw, _CMP_LT_OQ), vfw, mx));
    my = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(my, vneg1, _CMP_GT_OQ), vneg1,
                              _mm512_mask_blend_ps(_mm512_cmp_ps_mask(my, vfh, _CMP_LT_OQ), vfh, my));
    const __m512 flx = _mm512_roundscale_ps(mx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 fly = _mm512_roundscale_ps(my, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 bx = _mm512_sub_ps(mx, flx), by = _mm512_sub_ps(my, fly);
    const __m512 bx1 = _mm512_sub_ps(one, bx), by1 = _mm512_sub_ps(one, by);
    const __m512i x0 = _mm512_cvttps_epi32(flx), y0 = _mm512_cvttps_epi32(fly);
    const __m512i xa = _mm512_min_epi32(_mm512_max_epi32(x0, zero), wmax);
    const __m512i xb = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(x0, ione), zero), wmax);
    const __m512i ya = _mm512_min_epi32(_mm512_max_epi32(y0, zero), hmax);
    const __m512i yb = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(y0, ione), zero), hmax);
    const int top = _mm512_reduce_min_epi32(ya), rows = _mm512_reduce_max_epi32(yb) - top + 1;
    const int left = std::min(std::max(x - 8, 0), W - 32);
    __m512 b[4], d[4];  // taps (row a, col a), (a, b), (b, a), (b, b)
    if (W >= 32 && rows <= 3 && _mm512_reduce_min_epi32(xa) >= left && _mm512_reduce_max_epi32(xb) < left + 32) {
      const __m512i ca = _mm512_sub_epi32(xa, _mm512_set1_epi32(left));
      const __m512i cb = _mm512_sub_epi32(xb, _mm512_set1_epi32(left));
      __m512 b_a[3], b_b[3], d_a[3], d_b[3];
      for (int k = 0; k < rows; ++k) {
        const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(top + k) * W + left;
        const __m512 b0 = _mm512_loadu_ps(pb + at), b1 = _mm512_loadu_ps(pb + at + 16);
        const __m512 d0 = _mm512_loadu_ps(pd + at), d1 = _mm512_loadu_ps(pd + at + 16);
        b_a[k] = _mm512_permutex2var_ps(b0, ca, b1);
        b_b[k] = _mm512_permutex2var_ps(b0, cb, b1);
        d_a[k] = _mm512_permutex2var_ps(d0, ca, d1);
        d_b[k] = _mm512_permutex2var_ps(d0, cb, d1);
      }
      // each lane's rows are top .. top + 2 (row a is top + 2 only where row b is clamped onto it)
      const __m512i next = _mm512_add_epi32(_mm512_set1_epi32(top), ione), last = _mm512_add_epi32(next, ione);
      const __mmask16 a1 = _mm512_cmpeq_epi32_mask(ya, next), a2 = _mm512_cmpeq_epi32_mask(ya, last);
      const __mmask16 b1 = _mm512_cmpeq_epi32_mask(yb, next), b2 = _mm512_cmpeq_epi32_mask(yb, last);
      auto pick = [rows](const __m512* v, __mmask16 m1, __mmask16 m2) {
        const __m512 r = rows > 1 ? _mm512_mask_blend_ps(m1, v[0], v[1]) : v[0];
        return rows > 2 ? _mm512_mask_blend_ps(m2, r, v[2]) : r;
      };
      b[0] = pick(b_a, a1, a2), b[1] = pick(b_b, a1, a2), b[2] = pick(b_a, b1, b2), b[3] = pick(b_b, b1, b2);
      d[0] = pick(d_a, a1, a2), d[1] = pick(d_b, a1, a2), d[2] = pick(d_a, b1, b2), d[3] = pick(d_b, b1, b2);
    } else {
      const __m512i ra = _mm512_mullo_epi32(ya, vW), rb = _mm512_mullo_epi32(yb, vW);
      const __m512i at[4] = {_mm512_add_epi32(ra, xa), _mm512_add_epi32(ra, xb), _mm512_add_epi32(rb, xa),
                             _mm512_add_epi32(rb, xb)};
      for (int t = 0; t < 4; ++t) {
        b[t] = _mm512_i32gather_ps(at[t], pb, 4);
        d[t] = _mm512_i32gather_ps(at[t], pd, 4);
      }
    }
    _mm512_storeu_ps(wb + x, bilinear16(bx, bx1, by, by1, b[0], b[1], b[2], b[3]));
    _mm512_storeu_ps(wd + x, bilinear16(bx, bx1, by, by1, d[0], d[1], d[2], d[3]));
  }
  warp_pixels(R, x, wb, wd);  // the last W % 16
}
#else
inline void warp_row(const WarpRow& R, float* wb, float* wd) { warp_pixels(R, 0, wb, wd); }
#endif

// First the flow is upsampled along each input row (the bilinear taps of the reference's
// `top`/`bottom`, once per input row, into two float planes of h x W). Then per output row:
// warp_row samples the previous base and detail where its pixels were (blending two of those
// rows: no gathers for the flow), and one straight loop compares and blends. 32-bit indices, so
// that the loops vectorise (gathers need -fno-trapping-math for the float -> int conversions);
// float ops in the reference's order (kernels_ref.stabilize_luma_reference), so the results are
// bit-identical.
// Codes: 0 float luma in, a change plane out; 1 an 8-bit code plane, updated in place; 3 or 4 an
// interleaved 8-bit RGB or RGBA image of that many samples a pixel, its R, G and B updated in place
// (its luma read into a row first and the change written back from one: three loops that
// vectorise, where one with the strided samples would not).
template <bool Blend, int Codes>
void stabilize_rows(const StabilizeArgs& A) {
  constexpr bool Rgb = Codes >= 3;
  const int H = A.height, W = A.width, s = A.scale, h = H / s, w = W / s;
  const float sf = static_cast<float>(s), k = A.strength / A.tolerance, strength = A.strength;
  const float fw = static_cast<float>(W), fh = static_cast<float>(H);
  std::vector<int> lo_v(W), hi_v(W);
  std::vector<float> a_v(W);
  for (int x = 0; x < W; ++x) {
    int lo;
    upsample_tap(x, w, sf, lo, a_v[x]);
    lo_v[x] = 2 * lo;
    hi_v[x] = 2 * std::min(lo + 1, w - 1);
  }
  // the flow upsampled along rows, reused call after call by the calling thread (a stabiliser
  // calls once per frame: a fresh buffer would fault in its pages every frame)
  static thread_local std::vector<float> along;
  along.resize(static_cast<std::size_t>(h) * W * 2);
  float* const ux_rows = along.data();
  float* const uy_rows = along.data() + static_cast<std::ptrdiff_t>(h) * W;
  const int* c0 = lo_v.data();
  const int* c1 = hi_v.data();
  const float* ca = a_v.data();
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int r = 0; r < h; ++r) {
      const float* __restrict f = A.flow + static_cast<std::ptrdiff_t>(r) * w * 2;
      float* __restrict ox = ux_rows + static_cast<std::ptrdiff_t>(r) * W;
      float* __restrict oy = uy_rows + static_cast<std::ptrdiff_t>(r) * W;
      for (int x = 0; x < W; ++x) {
        const float ax = ca[x], ax1 = 1.0f - ax;
        const int i0 = c0[x], i1 = c1[x];
        ox[x] = ax1 * f[i0] + ax * f[i1];
        oy[x] = ax1 * f[i0 + 1] + ax * f[i1 + 1];
      }
    }
    // this thread's row of warped base, detail (and, for an RGB image, its luma and change)
    std::vector<float> warped((Rgb ? 4 : 2) * static_cast<std::size_t>(W));
    float* __restrict wb_row = warped.data();
    float* __restrict wd_row = warped.data() + W;
    float* __restrict luma_row = Rgb ? warped.data() + 2 * W : nullptr;
    float* __restrict change_row = Rgb ? warped.data() + 3 * W : nullptr;
#pragma omp for schedule(static)
    for (int y = 0; y < H; ++y) {
      int rlo;
      float ay;
      upsample_tap(y, h, sf, rlo, ay);
      const float ay1 = 1.0f - ay, fy = static_cast<float>(y);
      const std::ptrdiff_t r0 = static_cast<std::ptrdiff_t>(rlo) * W;
      const std::ptrdiff_t r1 = static_cast<std::ptrdiff_t>(std::min(rlo + 1, h - 1)) * W;
      const float* __restrict ux0 = ux_rows + r0;
      const float* __restrict ux1 = ux_rows + r1;
      const float* __restrict uy0 = uy_rows + r0;
      const float* __restrict uy1 = uy_rows + r1;
      const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(y) * W;
      const float* __restrict yr = Rgb ? luma_row : (Codes ? nullptr : A.y + row);
      uint8_t* __restrict cr = Codes ? A.codes + static_cast<std::ptrdiff_t>(y) * A.codes_stride : nullptr;
      const float gain = A.gain, offset = A.offset, inv_gain = A.inv_gain;
      if constexpr (Rgb) {
        const float wr = A.wr, wg = A.wg, wbl = A.wb;
#pragma omp simd
        for (int x = 0; x < W; ++x) {
          const uint8_t* p = cr + static_cast<std::ptrdiff_t>(x) * Codes;
          luma_row[x] =
              (wr * static_cast<float>(p[0]) + wg * static_cast<float>(p[1])) + wbl * static_cast<float>(p[2]);
        }
      }
      const float* __restrict br = A.base + row;
      float* __restrict out_change = Rgb ? change_row : (Codes ? nullptr : A.change + row);
      float* __restrict out_base = A.next_base + row;
      float* __restrict out_detail = A.next_detail + row;
      warp_row(WarpRow{fy, ay, ay1, sf, fw, fh, W, H, ux0, ux1, uy0, uy1, A.prev_base, A.prev_detail}, wb_row, wd_row);
#pragma omp simd
      for (int x = 0; x < W; ++x) {
        const float wb = wb_row[x], wd = wd_row[x];
        const float b = br[x];
        float luma;
        if constexpr (Codes == 1) {
          luma = static_cast<float>(cr[x]) * gain + offset;
        } else {
          luma = yr[x];
        }
        const float detail = luma - b;
        const float diff = b - wb;
        const float weight = std::max(strength - (diff < 0.0f ? -diff : diff) * k, 0.0f);
        const float change = weight * (wd - detail);
        out_detail[x] = detail + change;
        float total = change;
        if constexpr (Blend) {  // (a run-time bool here keeps GCC 12 from vectorising the loop)
          const float moved = weight * (wb - b);
          total = change + moved;
          out_base[x] = b + moved;
        } else {
          out_base[x] = b;
        }
        if constexpr (Codes == 1) {
          const float v = std::nearbyint(static_cast<float>(cr[x]) + total * inv_gain);
          cr[x] = static_cast<uint8_t>(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
        } else {
          out_change[x] = total;
        }
      }
      if constexpr (Rgb) {
        for (int x = 0; x < W; ++x) {
          uint8_t* p = cr + static_cast<std::ptrdiff_t>(x) * Codes;
          const float total = change_row[x];
          for (int c = 0; c < 3; ++c) {
            const float v = std::nearbyint(static_cast<float>(p[c]) + total);
            p[c] = static_cast<uint8_t>(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
          }
        }
      }
    }
  }
}

inline void stabilize_impl(const StabilizeArgs& A) {
  if (A.codes && A.rgb) {
    if (A.pixel == 4) return A.blend_base ? stabilize_rows<true, 4>(A) : stabilize_rows<false, 4>(A);
    return A.blend_base ? stabilize_rows<true, 3>(A) : stabilize_rows<false, 3>(A);
  }
  if (A.codes) {
    if (A.blend_base) return stabilize_rows<true, 1>(A);
    return stabilize_rows<false, 1>(A);
  }
  if (A.blend_base) return stabilize_rows<true, 0>(A);
  stabilize_rows<false, 0>(A);
}

// ---- a luma graph's last conv, skip and pixel shuffle (see kernels.h: conv_tail) -------------

template <class Q>
inline float dequantised(Q q, float scale, int zero) {
  if constexpr (std::is_same_v<Q, float>) {
    return q;
  } else {
    return static_cast<float>(static_cast<int>(q) - zero) * scale;
  }
}

// One LR row per iteration: its three input rows are dequantised into zero-padded float rows;
// then, for each run of X pixels, the P output channels are summed in registers over every
// (channel, tap), and written pixel-shuffled. Each output is bias + the terms in kernels.h's order
// + skip, with multiply-adds fused where the ISA has FMA (so within float rounding of the reference).
typedef float v8f __attribute__((vector_size(32)));  // 8 floats (two SSE registers on the baseline build)

template <class Q, int S, int V>
__attribute__((optimize("fp-contract=fast"))) void conv_tail_rows(const ConvTailArgs& A) {
  constexpr int X = 8 * V, P = S * S;
  const int C = A.channels, h = A.height, w = A.width;
  const int runs = (w + X - 1) / X;
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(h) * w, padded = static_cast<std::ptrdiff_t>(runs) * X + 8;
  const Q* act = static_cast<const Q*>(A.act);
  std::vector<float> wt(static_cast<std::size_t>(C) * 9 * P);  // [c * 9 + k][p]
  for (int p = 0; p < P; ++p)
    for (int t = 0; t < C * 9; ++t)
      wt[static_cast<std::size_t>(t) * P + p] = A.weight[static_cast<std::size_t>(p) * C * 9 + t];
#pragma omp parallel
  {
    // each thread takes a block of rows and keeps the three input rows around its row dequantised
    // (a ring: one new row per output row)
#ifdef _OPENMP
    const int threads = omp_get_num_threads(), me = omp_get_thread_num();
#else
    const int threads = 1, me = 0;
#endif
    const int y0 = static_cast<int>(static_cast<long long>(h) * me / threads);
    const int y1 = static_cast<int>(static_cast<long long>(h) * (me + 1) / threads);
    std::vector<float> ring(static_cast<std::size_t>(3 * C * padded));
    alignas(32) float done[P][X];
    auto load = [&](int yy) {  // input row yy (zeros outside the frame) into its ring slot
      float* slot = ring.data() + static_cast<std::ptrdiff_t>(((yy % 3) + 3) % 3) * C * padded;
      for (int c = 0; c < C; ++c) {
        float* r = slot + c * padded;
        if (yy < 0 || yy >= h) {
          std::fill(r, r + padded, 0.0f);
          continue;
        }
        r[0] = 0.0f;
        std::fill(r + w + 1, r + padded, 0.0f);
        const Q* q = act + c * plane + static_cast<std::ptrdiff_t>(yy) * w;
        for (int x = 0; x < w; ++x) r[x + 1] = dequantised(q[x], A.act_scale, A.act_zero);
      }
    };
    if (y0 < y1) {
      load(y0 - 1);
      load(y0);
    }
    for (int y = y0; y < y1; ++y) {
      load(y + 1);
      const float* slots[3];
      for (int k = 0; k < 3; ++k)
        slots[k] = ring.data() + static_cast<std::ptrdiff_t>(((y + k - 1) % 3 + 3) % 3) * C * padded;
      const float* skip = A.skip + static_cast<std::ptrdiff_t>(y) * w;
      for (int run = 0; run < runs; ++run) {
        const int x0 = run * X;
        v8f a[P][V];
        for (int p = 0; p < P; ++p)
          for (int v = 0; v < V; ++v) a[p][v] = v8f{} + A.bias[p];
        const float* wv = wt.data();
        for (int c = 0; c < C; ++c) {
          for (int ky = 0; ky < 3; ++ky) {
            const float* r = slots[ky] + c * padded + x0;
            for (int kx = 0; kx < 3; ++kx, wv += P) {
              v8f in[V];
              for (int v = 0; v < V; ++v) std::memcpy(&in[v], r + kx + 8 * v, sizeof(v8f));
              for (int p = 0; p < P; ++p)
                for (int v = 0; v < V; ++v) a[p][v] = a[p][v] + wv[p] * in[v];
            }
          }
        }
        for (int p = 0; p < P; ++p)
          for (int v = 0; v < V; ++v) std::memcpy(&done[p][8 * v], &a[p][v], sizeof(v8f));
        const int n = std::min(X, w - x0);
        const float* sk = skip + x0;
        for (int i = 0; i < S; ++i) {
          float* o = A.out + (static_cast<std::ptrdiff_t>(y) * S + i) * w * S + static_cast<std::ptrdiff_t>(x0) * S;
          if constexpr (S == 2) {
            if (n == X) {  // two channels interleaved, eight pixels at a time
              for (int v = 0; v < V; ++v) {
                v8f add, lo, hi;
                std::memcpy(&add, sk + 8 * v, sizeof(v8f));
                std::memcpy(&lo, &done[2 * i][8 * v], sizeof(v8f));
                std::memcpy(&hi, &done[2 * i + 1][8 * v], sizeof(v8f));
                lo = lo + add;
                hi = hi + add;
                const v8f first = __builtin_shufflevector(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11);
                const v8f second = __builtin_shufflevector(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15);
                std::memcpy(o + 16 * v, &first, sizeof(v8f));
                std::memcpy(o + 16 * v + 8, &second, sizeof(v8f));
              }
              continue;
            }
          }
          for (int x = 0; x < n; ++x)
            for (int j = 0; j < S; ++j) o[x * S + j] = done[i * S + j][x] + sk[x];
        }
      }
    }
  }
}

template <class Q>
void conv_tail_impl(const ConvTailArgs& A) {
  switch (A.scale) {
    case 1: return conv_tail_rows<Q, 1, 4>(A);
    case 2: return conv_tail_rows<Q, 2, 2>(A);
    case 3: return conv_tail_rows<Q, 3, 1>(A);
    case 4: return conv_tail_rows<Q, 4, 1>(A);
    default: break;
  }
}

}  // namespace SRS_ISA
}  // namespace srstream
