// CUDA versions of the frame kernels (see csrc/include/srstream/kernels.h for the conventions):
// the GPU backends upload uint8/uint16 frames and download uint8/uint16 results instead of
// float tensors. Device memory crosses the boundary as raw pointers; every launch is
// asynchronous on the caller's stream and reports launch errors as a Status.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "srstream/kernels_cuda.h"

namespace srstream {
namespace cuda {

namespace {

template <class T> __device__ inline T to_real(float v);
template <> __device__ inline float to_real<float>(float v) { return v; }
template <> __device__ inline __half to_real<__half>(float v) { return __float2half_rn(v); }
template <> __device__ inline __nv_bfloat16 to_real<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <class T> __device__ inline float from_real(T v);
template <> __device__ inline float from_real<float>(float v) { return v; }
template <> __device__ inline float from_real<__half>(__half v) { return __half2float(v); }
template <> __device__ inline float from_real<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ inline int reflect(int i, int n) {
  if (i < n) return i;
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  return i < n ? i : period - i;
}

// One thread per tile pixel; blockIdx.z = tile.
template <class S, class T>
__global__ void pack_kernel(const S* src, int h, int w, int c, long long row_stride, int mode, const int* origins,
                            int th, int tw, float inv_peak, float gain, float bias, T* dst) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y, t = blockIdx.z;
  if (x >= tw || y >= th) return;
  const int sy = reflect(origins[2 * t] + y, h), sx = reflect(origins[2 * t + 1] + x, w);
  const S* p = src + sy * row_stride + static_cast<long long>(sx) * c;
  const long long plane = static_cast<long long>(th) * tw;
  const int out_c = mode <= 1 ? 3 : 1;
  T* o = dst + static_cast<long long>(t) * out_c * plane + static_cast<long long>(y) * tw + x;
  float v[3];
  if (mode <= 1) {
    if (c == 1) {
      v[0] = v[1] = v[2] = __fmul_rn(static_cast<float>(p[0]), inv_peak);
    } else {
      const int r = mode == 1 ? 2 : 0, b = mode == 1 ? 0 : 2;
      v[0] = __fmul_rn(static_cast<float>(p[r]), inv_peak);
      v[1] = __fmul_rn(static_cast<float>(p[1]), inv_peak);
      v[2] = __fmul_rn(static_cast<float>(p[b]), inv_peak);
    }
  } else if (mode == 2 && c >= 3) {
    float l = __fmul_rn(__fmul_rn(static_cast<float>(p[0]), inv_peak), 0.299f);
    l = __fadd_rn(l, __fmul_rn(__fmul_rn(static_cast<float>(p[1]), inv_peak), 0.587f));
    l = __fadd_rn(l, __fmul_rn(__fmul_rn(static_cast<float>(p[2]), inv_peak), 0.114f));
    v[0] = l;
  } else {
    v[0] = __fmul_rn(static_cast<float>(p[0]), inv_peak);
  }
  const bool affine = !(gain == 1.0f && bias == 0.0f);
  for (int k = 0; k < out_c; ++k) {
    const float val = affine ? __fadd_rn(__fmul_rn(v[k], gain), bias) : v[k];
    o[k * plane] = to_real<T>(val);
  }
}

template <class D>
__device__ inline D quantise(float v, float peak) {
  v = __fadd_rn(__fmul_rn(v, peak), 0.5f);
  v = fminf(fmaxf(v, 0.0f), peak);
  return static_cast<D>(static_cast<int>(v));
}

template <class T, class D>
__global__ void unpack_kernel(const T* src, int c, int h, int w, long long cs, long long rs, D* dst, int dc,
                              long long drs, float peak, float inv_gain, float inv_bias) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= w || y >= h) return;
  const bool affine = !(inv_gain == 1.0f && inv_bias == 0.0f);
  for (int k = 0; k < c; ++k) {
    float v = from_real<T>(src[k * cs + y * rs + x]);
    if (affine) v = __fadd_rn(__fmul_rn(v, inv_gain), inv_bias);
    dst[y * drs + static_cast<long long>(x) * dc + k] = quantise<D>(v, peak);
  }
}

// One thread per output pixel: sums the weighted contributions of every tile covering it, in
// tile order (as the CPU kernel and the numpy reference do).
template <class T>
__global__ void blend_kernel(const T* tiles, int n, long long ts, int c, int th, int tw, long long cs, long long rs,
                             const int* origins, int s, const float* row_w, const int* tile_row, const float* col_w,
                             const int* tile_col, float* dst, int out_h, int out_w) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= out_w || y >= out_h) return;
  for (int k = 0; k < c; ++k) {
    float acc = 0.0f;
    for (int t = 0; t < n; ++t) {
      const int ty = y - origins[2 * t] * s, tx = x - origins[2 * t + 1] * s;
      if (ty < 0 || ty >= th || tx < 0 || tx >= tw) continue;
      const float wgt = __fmul_rn(row_w[tile_row[t] * th + ty], col_w[tile_col[t] * tw + tx]);
      acc = __fadd_rn(acc, __fmul_rn(from_real<T>(tiles[t * ts + k * cs + ty * rs + tx]), wgt));
    }
    dst[(static_cast<long long>(k) * out_h + y) * out_w + x] = acc;
  }
}

__device__ inline float clip01(float v) { return fminf(fmaxf(v, 0.0f), 1.0f); }

// One thread per tile pixel; chroma sited as in the CPU kernel (sums of code values and halves
// are exact in float, so the order of operations does not matter).
template <class T>
__global__ void pack_yuv_kernel(const uint8_t* yp, long long ys, const uint8_t* up, const uint8_t* vp, long long uvs,
                                int h, int w, YuvCoefs k, int luma_only, const int* origins, int th, int tw,
                                float gain, float bias, T* dst) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y, t = blockIdx.z;
  if (x >= tw || y >= th) return;
  const int sy = reflect(origins[2 * t] + y, h), sx = reflect(origins[2 * t + 1] + x, w);
  const long long plane = static_cast<long long>(th) * tw;
  T* o = dst + static_cast<long long>(t) * (luma_only ? 1 : 3) * plane + static_cast<long long>(y) * tw + x;
  const bool affine = !(gain == 1.0f && bias == 0.0f);
  const float l = __fmul_rn(static_cast<float>(yp[sy * ys + sx]) - k.y_offset, k.y_scale);
  if (luma_only) {
    const float v = clip01(l);
    o[0] = to_real<T>(affine ? __fadd_rn(__fmul_rn(v, gain), bias) : v);
    return;
  }
  const int ch = (h + 1) / 2, cw = (w + 1) / 2, ci = sy >> 1;
  const int cn = (sy & 1) ? min(ci + 1, ch - 1) : max(ci - 1, 0);
  const int cj = sx >> 1, cj1 = min(cj + 1, cw - 1);
  auto chroma = [&](const uint8_t* p) {
    const float a = static_cast<float>(p[ci * uvs + cj]) * 0.75f + static_cast<float>(p[cn * uvs + cj]) * 0.25f;
    if (!(sx & 1)) return a;
    const float b = static_cast<float>(p[ci * uvs + cj1]) * 0.75f + static_cast<float>(p[cn * uvs + cj1]) * 0.25f;
    return (a + b) * 0.5f;
  };
  const float cb = __fmul_rn(chroma(up) - 128.0f, k.c_scale), cr = __fmul_rn(chroma(vp) - 128.0f, k.c_scale);
  const float g = __fsub_rn(__fsub_rn(l, __fmul_rn(k.gu, cb)), __fmul_rn(k.gv, cr));
  const float v[3] = {clip01(__fadd_rn(l, __fmul_rn(k.rv, cr))), clip01(g), clip01(__fadd_rn(l, __fmul_rn(k.bu, cb)))};
  for (int c = 0; c < 3; ++c) o[c * plane] = to_real<T>(affine ? __fadd_rn(__fmul_rn(v[c], gain), bias) : v[c]);
}

__device__ inline uint8_t code(float v, float scale, float offset) {
  v = __fadd_rn(__fadd_rn(__fmul_rn(v, scale), offset), 0.5f);
  return static_cast<uint8_t>(static_cast<int>(fminf(fmaxf(v, 0.0f), 255.0f)));
}

// One thread per chroma sample: its (up to) 2x2 luma samples and the sited chroma.
template <class T>
__global__ void unpack_yuv_kernel(const T* src, int h, int w, long long cs_, long long rs, YuvCoefs k, float ig,
                                  float ib, uint8_t* yp, long long ys, uint8_t* up, uint8_t* vp, long long uvs) {
  const int cx = blockIdx.x * blockDim.x + threadIdx.x, cy = blockIdx.y * blockDim.y + threadIdx.y;
  const int ch = (h + 1) / 2, cw = (w + 1) / 2;
  if (cx >= cw || cy >= ch) return;
  const bool affine = !(ig == 1.0f && ib == 0.0f);
  auto at = [&](int c, int yy, int xx) {
    float v = from_real<T>(src[c * cs_ + yy * rs + xx]);
    if (affine) v = __fadd_rn(__fmul_rn(v, ig), ib);
    return clip01(v);
  };
  auto luma = [&](float r, float g, float b) {
    return __fadd_rn(__fadd_rn(__fmul_rn(k.kr, r), __fmul_rn(k.kg, g)), __fmul_rn(k.kb, b));
  };
  const int r0 = 2 * cy, r1 = min(2 * cy + 1, h - 1);
  for (int yy = r0; yy <= r1; ++yy)
    for (int xx = 2 * cx; xx < min(2 * cx + 2, w); ++xx)
      yp[yy * ys + xx] = code(luma(at(0, yy, xx), at(1, yy, xx), at(2, yy, xx)), k.y_span, k.y_offset);
  const int xl = max(2 * cx - 1, 0), xc = 2 * cx, xr = min(2 * cx + 1, w - 1);
  float mean[3];
  for (int c = 0; c < 3; ++c) {
    const float a = __fadd_rn(__fadd_rn(__fmul_rn(at(c, r0, xl), 0.25f), __fmul_rn(at(c, r0, xc), 0.5f)),
                              __fmul_rn(at(c, r0, xr), 0.25f));
    const float b = __fadd_rn(__fadd_rn(__fmul_rn(at(c, r1, xl), 0.25f), __fmul_rn(at(c, r1, xc), 0.5f)),
                              __fmul_rn(at(c, r1, xr), 0.25f));
    mean[c] = __fmul_rn(__fadd_rn(a, b), 0.5f);
  }
  const float l = luma(mean[0], mean[1], mean[2]);
  up[cy * uvs + cx] = code(__fmul_rn(__fsub_rn(mean[2], l), k.cb_s), k.c_span, 128.0f);
  vp[cy * uvs + cx] = code(__fmul_rn(__fsub_rn(mean[0], l), k.cr_s), k.c_span, 128.0f);
}

Status launched(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return Status::Ok();
  return Status::Error(std::string(what) + ": " + cudaGetErrorString(e));
}

dim3 grid_for(int w, int h, int z = 1) { return dim3((w + 31) / 32, (h + 7) / 8, z); }
const dim3 kBlock(32, 8);

// Runtime type -> template argument: calls f with a value of the matching device type.
template <class F>
void by_real(Real r, F&& f) {
  switch (r) {
    case Real::F32: return f(float{});
    case Real::F16: return f(__half{});
    case Real::BF16: return f(__nv_bfloat16{});
  }
}

template <class F>
void by_sample(Sample s, F&& f) {
  if (s == Sample::U8) return f(uint8_t{});
  return f(uint16_t{});
}

}  // namespace

Status pack_tiles(const DeviceFrame& f, PackMode mode, const int32_t* origins, int n, int th, int tw, float gain,
                  float bias, void* dst, Real real, uintptr_t stream) {
  if (!f.data || !origins || !dst || n < 1 || th < 1 || tw < 1 || f.height < 1 || f.width < 1 ||
      (f.channels != 1 && f.channels != 3 && f.channels != 4))
    return Status::Error("pack_tiles (CUDA): bad frame, tiles or buffers");
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const float inv_peak = 1.0f / (f.sample == Sample::U8 ? 255.0f : 65535.0f);
  by_sample(f.sample, [&](auto s) {
    by_real(real, [&](auto t) {
      using S = decltype(s);
      using T = decltype(t);
      pack_kernel<S, T><<<grid_for(tw, th, n), kBlock, 0, st>>>(static_cast<const S*>(f.data), f.height, f.width,
                                                                f.channels, f.row_stride, static_cast<int>(mode),
                                                                origins, th, tw, inv_peak, gain, bias,
                                                                static_cast<T*>(dst));
    });
  });
  return launched("pack_tiles (CUDA)");
}

Status unpack(const DevicePlanes& p, const DeviceFrame& f, float inv_gain, float inv_bias, uintptr_t stream) {
  if (!p.data || !f.data || p.height != f.height || p.width != f.width || p.channels > f.channels || p.channels < 1)
    return Status::Error("unpack (CUDA): planes and frame differ in size, or the frame has fewer channels");
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const float peak = f.sample == Sample::U8 ? 255.0f : 65535.0f;
  by_real(p.real, [&](auto t) {
    by_sample(f.sample, [&](auto s) {
      using T = decltype(t);
      using D = decltype(s);
      unpack_kernel<T, D><<<grid_for(p.width, p.height), kBlock, 0, st>>>(
          static_cast<const T*>(p.data), p.channels, p.height, p.width, p.channel_stride, p.row_stride,
          static_cast<D*>(f.data), f.channels, f.row_stride, peak, inv_gain, inv_bias);
    });
  });
  return launched("unpack (CUDA)");
}

Status blend_tiles(const DevicePlanes& tiles, int n, long long tile_stride, const int32_t* origins, int scale,
                   const float* row_w, const int32_t* tile_row, const float* col_w, const int32_t* tile_col,
                   float* dst, int out_h, int out_w, uintptr_t stream) {
  if (!tiles.data || !origins || !row_w || !tile_row || !col_w || !tile_col || !dst || n < 1 || scale < 1)
    return Status::Error("blend_tiles (CUDA): bad tiles or buffers");
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  by_real(tiles.real, [&](auto t) {
    using T = decltype(t);
    blend_kernel<T><<<grid_for(out_w, out_h), kBlock, 0, st>>>(
        static_cast<const T*>(tiles.data), n, tile_stride, tiles.channels, tiles.height, tiles.width,
        tiles.channel_stride, tiles.row_stride, origins, scale, row_w, tile_row, col_w, tile_col, dst, out_h, out_w);
  });
  return launched("blend_tiles (CUDA)");
}

Status pack_tiles_yuv420(const uint8_t* y, long long ys, const uint8_t* u, const uint8_t* v, long long uvs, int h,
                         int w, YuvMatrix m, PackMode mode, const int32_t* origins, int n, int th, int tw, float gain,
                         float bias, void* dst, Real real, uintptr_t stream) {
  if (!y || !u || !v || !origins || !dst || n < 1 || th < 1 || tw < 1 || h < 1 || w < 1 ||
      (mode != PackMode::RGB && mode != PackMode::LUMA))
    return Status::Error("pack_tiles_yuv420 (CUDA): bad planes, tiles, buffers or mode");
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const YuvCoefs k = yuv_coefs(m);
  const int luma = mode == PackMode::LUMA;
  by_real(real, [&](auto t) {
    using T = decltype(t);
    pack_yuv_kernel<T><<<grid_for(tw, th, n), kBlock, 0, st>>>(y, ys, u, v, uvs, h, w, k, luma, origins, th, tw,
                                                               gain, bias, static_cast<T*>(dst));
  });
  return launched("pack_tiles_yuv420 (CUDA)");
}

Status unpack_yuv420(const DevicePlanes& rgb, uint8_t* y, long long ys, uint8_t* u, uint8_t* v, long long uvs,
                     YuvMatrix m, float inv_gain, float inv_bias, uintptr_t stream) {
  if (!rgb.data || !y || !u || !v || rgb.channels != 3 || rgb.height < 1 || rgb.width < 1)
    return Status::Error("unpack_yuv420 (CUDA): need three planes and output planes");
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const YuvCoefs k = yuv_coefs(m);
  by_real(rgb.real, [&](auto t) {
    using T = decltype(t);
    unpack_yuv_kernel<T><<<grid_for((rgb.width + 1) / 2, (rgb.height + 1) / 2), kBlock, 0, st>>>(
        static_cast<const T*>(rgb.data), rgb.height, rgb.width, rgb.channel_stride, rgb.row_stride, k, inv_gain,
        inv_bias, y, ys, u, v, uvs);
  });
  return launched("unpack_yuv420 (CUDA)");
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

}  // namespace cuda
}  // namespace srstream
