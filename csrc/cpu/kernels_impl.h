// The CPU kernels' bodies, compiled once per instruction set (kernels_isa.cpp sets SRS_ISA and
// the -march flags; dispatch.cpp picks the best one the CPU supports at run time). Loops are
// written over contiguous rows with compile-time channel counts so the compiler vectorises them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "srstream/kernels.h"

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

// One output row of one tile: samples (row `src_row`, columns col_map[0..tw)) -> planes.
template <class S, class T, int C, PackMode M>
inline void pack_row(const S* src_row, const int* col_map, int tw, float inv_peak, float gain, float bias,
                     bool affine, T* const* planes) {
  constexpr int OUT = (M == PackMode::RGB || M == PackMode::BGR) ? 3 : 1;
  for (int x = 0; x < tw; ++x) {
    const S* p = src_row + static_cast<std::ptrdiff_t>(col_map[x]) * C;
    float v[3];
    if constexpr (OUT == 3) {
      if constexpr (C == 1) {
        v[0] = v[1] = v[2] = static_cast<float>(p[0]) * inv_peak;
      } else {
        const int r = M == PackMode::BGR ? 2 : 0, b = M == PackMode::BGR ? 0 : 2;
        v[0] = static_cast<float>(p[r]) * inv_peak;
        v[1] = static_cast<float>(p[1]) * inv_peak;
        v[2] = static_cast<float>(p[b]) * inv_peak;
      }
    } else if constexpr (M == PackMode::LUMA && C >= 3) {
      const float r = static_cast<float>(p[0]) * inv_peak, g = static_cast<float>(p[1]) * inv_peak,
                  b = static_cast<float>(p[2]) * inv_peak;
      float y = r * kLuma[0];
      y += g * kLuma[1];
      y += b * kLuma[2];
      v[0] = y;
    } else {
      v[0] = static_cast<float>(p[0]) * inv_peak;
    }
    for (int c = 0; c < OUT; ++c) {
      float o = v[c];
      if (affine) {
        o *= gain;
        o += bias;
      }
      planes[c][x] = to_real<T>(o);
    }
  }
}

// The same for a run of columns inside the frame (no mirroring): 16 pixels at a time, samples
// converted in one contiguous pass, then spread into the planes from L1.
template <class S, class T, int C, PackMode M>
inline void pack_row_inside(const S* src, int tw, float inv_peak, float gain, float bias, bool affine,
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
      // columns inside the frame take the contiguous path; the mirrored rest goes through a map
      const int inside = std::max(0, std::min(tw, src.width - ox));
      if (inside > 0)
        pack_row_inside<S, T, C, M>(row + static_cast<std::ptrdiff_t>(ox) * C, inside, inv_peak, gain, bias, affine,
                                    planes);
      if (inside < tw) {
        int col_map[1024];
        for (int x0 = inside; x0 < tw; x0 += 1024) {
          const int n = std::min(1024, tw - x0);
          for (int x = 0; x < n; ++x) col_map[x] = reflect(ox + x0 + x, src.width);
          T* shifted[3] = {planes[0] + x0, planes[1] + x0, planes[2] + x0};
          pack_row<S, T, C, M>(row, col_map, n, inv_peak, gain, bias, affine, shifted);
        }
      }
    }
  }
}

// ---- YUV 4:2:0 -> planes --------------------------------------------------------------------

struct YuvToRgb {
  float ys, yo, cs, co;  // Y' = (Y - yo) * ys; Cb/Cr = (C - co) * cs (both to [0, 1] / [-0.5, 0.5])
  float rv, gu, gv, bu;  // R = Y + rv Cr; G = Y - gu Cb - gv Cr; B = Y + bu Cb
  explicit YuvToRgb(YuvMatrix m) {
    if (m.full_range) {
      ys = 1.0f / 255.0f; yo = 0.0f; cs = 1.0f / 255.0f; co = 128.0f;
    } else {
      ys = 1.0f / 219.0f; yo = 16.0f; cs = 1.0f / 224.0f; co = 128.0f;
    }
    const float kg = 1.0f - m.kr - m.kb;
    rv = 2.0f * (1.0f - m.kr);
    bu = 2.0f * (1.0f - m.kb);
    gu = bu * m.kb / kg;
    gv = rv * m.kr / kg;
  }
};

template <class T, PackMode M>
void pack_yuv_impl(const uint8_t* yp, std::ptrdiff_t ys, const uint8_t* up, const uint8_t* vp, std::ptrdiff_t uvs,
                   int h, int w, YuvMatrix matrix, const int32_t* origins, int n, int th, int tw, float gain,
                   float bias, T* dst) {
  constexpr int OUT = M == PackMode::RGB ? 3 : 1;
  const YuvToRgb k(matrix);
  const bool affine = !(gain == 1.0f && bias == 0.0f);
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(th) * tw;
#pragma omp parallel for schedule(static) collapse(2)
  for (int t = 0; t < n; ++t) {
    for (int y = 0; y < th; ++y) {
      const int sy = reflect(origins[2 * t] + y, h), ox = origins[2 * t + 1];
      const uint8_t* yrow = yp + sy * ys;
      // chroma siting of MPEG-2/H.264 4:2:0: co-sited with even luma columns, halfway between
      // luma rows. Rows: 3/4 of the nearer chroma row, 1/4 of the next one toward this luma row.
      const int ch = (h + 1) / 2, cw = (w + 1) / 2, ci = sy >> 1;
      const int cn = (sy & 1) ? std::min(ci + 1, ch - 1) : std::max(ci - 1, 0);
      const uint8_t *u0 = up + ci * uvs, *u1 = up + cn * uvs, *v0 = vp + ci * uvs, *v1 = vp + cn * uvs;
      T* out = dst + static_cast<std::ptrdiff_t>(t) * OUT * plane + static_cast<std::ptrdiff_t>(y) * tw;
      for (int x = 0; x < tw; ++x) {
        const int sx = reflect(ox + x, w);
        float l = (static_cast<float>(yrow[sx]) - k.yo) * k.ys;
        if constexpr (OUT == 3) {
          const int cj = sx >> 1, cj1 = std::min(cj + 1, cw - 1);
          auto at = [&](const uint8_t* row) {  // columns: the sample, or the mean of two for odd x
            return (sx & 1) ? (static_cast<float>(row[cj]) + static_cast<float>(row[cj1])) * 0.5f
                            : static_cast<float>(row[cj]);
          };
          const float uc = at(u0) * 0.75f + at(u1) * 0.25f, vc = at(v0) * 0.75f + at(v1) * 0.25f;
          const float cb = (uc - k.co) * k.cs;
          const float cr = (vc - k.co) * k.cs;
          float v[3] = {l + k.rv * cr, l - k.gu * cb - k.gv * cr, l + k.bu * cb};
          for (int c = 0; c < 3; ++c) {
            float o = std::min(std::max(v[c], 0.0f), 1.0f);
            if (affine) {
              o *= gain;
              o += bias;
            }
            out[c * plane + x] = to_real<T>(o);
          }
        } else {
          float o = std::min(std::max(l, 0.0f), 1.0f);
          if (affine) {
            o *= gain;
            o += bias;
          }
          out[x] = to_real<T>(o);
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

// One row: base (stride BC) + (luma - luma(base)) -> dst (stride DC), 16 pixels at a time: the
// samples of a block are converted in one contiguous (vectorised) pass, the luma residual is
// formed per pixel from L1, and the results are rounded in another contiguous pass.
template <class T, class D, int BC, int DC>
inline void luma_row(const T* l, const D* b, D* o, int w, float peak, float inv_peak, bool affine, float g,
                     float bias) {
  constexpr int B = 16;
  for (int x0 = 0; x0 < w; x0 += B) {
    const int n = std::min(B, w - x0);
    float in[B * BC], res[B * DC], d[B];
    const D* bb = b + x0 * BC;
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

template <class T, class D>
void unpack_luma_impl(const PlanarView& luma, const FrameView& base, const MutFrameView& dst, float inv_gain,
                      float inv_bias) {
  const float peak = dst.sample == Sample::U8 ? 255.0f : 65535.0f;
  const float inv_peak = 1.0f / peak;
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  const T* lp = static_cast<const T*>(luma.data);
  const D* bp = static_cast<const D*>(base.data);
  D* out = static_cast<D*>(dst.data);
  const int w = luma.width, dc = dst.channels, bc = base.channels;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < luma.height; ++y) {
    const T* l = lp + y * luma.row_stride;
    const D* b = bp + y * base.row_stride;
    D* o = out + y * dst.row_stride;
    if (bc == 3 && dc == 3)
      luma_row<T, D, 3, 3>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else if (bc == 4 && dc == 4)
      luma_row<T, D, 4, 4>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else if (bc == 3)
      luma_row<T, D, 3, 4>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
    else
      luma_row<T, D, 4, 3>(l, b, o, w, peak, inv_peak, affine, inv_gain, inv_bias);
  }
}

template <class T>
void unpack_yuv_impl(const PlanarView& rgb, uint8_t* yp, std::ptrdiff_t ys, uint8_t* up, uint8_t* vp,
                     std::ptrdiff_t uvs, YuvMatrix m, float inv_gain, float inv_bias) {
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  const float kg = 1.0f - m.kr - m.kb;
  const float ysc = m.full_range ? 255.0f : 219.0f, yoff = m.full_range ? 0.0f : 16.0f;
  const float csc = m.full_range ? 255.0f : 224.0f;
  const float cb_s = 0.5f / (1.0f - m.kb), cr_s = 0.5f / (1.0f - m.kr);
  const T* base = static_cast<const T*>(rgb.data);
  const int h = rgb.height, w = rgb.width, ch = (h + 1) / 2, cw = (w + 1) / 2;
  auto at = [&](int c, int y, int x) {
    float v = from_real<T>(base[c * rgb.channel_stride + y * rgb.row_stride + x]);
    if (affine) {
      v *= inv_gain;
      v += inv_bias;
    }
    return std::min(std::max(v, 0.0f), 1.0f);
  };
  auto code = [](float v, float scale, float offset) {
    v *= scale;
    v += offset;
    v += 0.5f;
    return static_cast<uint8_t>(static_cast<int32_t>(std::min(std::max(v, 0.0f), 255.0f)));
  };
#pragma omp parallel for schedule(static)
  for (int cy = 0; cy < ch; ++cy) {
    const int r0 = 2 * cy, r1 = std::min(2 * cy + 1, h - 1);
    for (int yy = r0; yy <= r1; ++yy) {
      uint8_t* yo = yp + yy * ys;
      for (int x = 0; x < w; ++x) {
        float l = m.kr * at(0, yy, x);
        l += kg * at(1, yy, x);
        l += m.kb * at(2, yy, x);
        yo[x] = code(l, ysc, yoff);
      }
    }
    uint8_t* uo = up + cy * uvs;
    uint8_t* vo = vp + cy * uvs;
    for (int cx = 0; cx < cw; ++cx) {
      // MPEG-2/H.264 siting: [1 2 1]/4 across columns 2cx-1..2cx+1, the mean of the two rows
      const int xl = std::max(2 * cx - 1, 0), xc = 2 * cx, xr = std::min(2 * cx + 1, w - 1);
      float mean[3];
      for (int c = 0; c < 3; ++c) {
        float a = at(c, r0, xl) * 0.25f;
        a += at(c, r0, xc) * 0.5f;
        a += at(c, r0, xr) * 0.25f;
        float b = at(c, r1, xl) * 0.25f;
        b += at(c, r1, xc) * 0.5f;
        b += at(c, r1, xr) * 0.25f;
        mean[c] = (a + b) * 0.5f;
      }
      float l = m.kr * mean[0];
      l += kg * mean[1];
      l += m.kb * mean[2];
      uo[cx] = code((mean[2] - l) * cb_s, csc, 128.0f);
      vo[cx] = code((mean[0] - l) * cr_s, csc, 128.0f);
    }
  }
}

// ---- blend ------------------------------------------------------------------------------

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
        const T* src = base + t * tile_stride + c * tiles.channel_stride + ty * tiles.row_stride;
        float* o = dst + c * out_plane + static_cast<std::ptrdiff_t>(oy) * out_w + x0;
        for (int x = 0; x < xe; ++x) {
          const float wgt = wy * wx[x];
          o[x] += from_real<T>(src[x]) * wgt;
        }
      }
    }
  }
}

}  // namespace SRS_ISA
}  // namespace srstream
