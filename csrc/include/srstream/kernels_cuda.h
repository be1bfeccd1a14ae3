// CUDA frame kernels: the operations of kernels.h on device memory, asynchronous on a stream.
// Pointers are device pointers; `stream` is a cudaStream_t as an integer (0: the default stream).
#pragma once

#include <cstdint>

#include "srstream/kernels.h"

namespace srstream {
namespace cuda {

struct DeviceFrame {  // an interleaved frame in device memory
  void* data;
  Sample sample;
  int height, width, channels;
  long long row_stride;  // elements
};

struct DevicePlanes {
  const void* data;
  Real real;
  int channels, height, width;
  long long channel_stride, row_stride;  // elements
};

Status pack_tiles(const DeviceFrame& src, PackMode mode, const int32_t* origins, int n_tiles, int tile_h, int tile_w,
                  float gain, float bias, void* dst, Real real, uintptr_t stream);
Status unpack(const DevicePlanes& src, const DeviceFrame& dst, float inv_gain, float inv_bias, uintptr_t stream);
Status blend_tiles(const DevicePlanes& tiles, int n_tiles, long long tile_stride, const int32_t* origins, int scale,
                   const float* row_weights, const int32_t* tile_row, const float* col_weights,
                   const int32_t* tile_col, float* dst, int out_h, int out_w, uintptr_t stream);
// Decoded 4:2:0 planes -> tiles (RGB or LUMA mode), and RGB planes -> 4:2:0 planes, as the CPU
// kernels of kernels.h (same siting, matrix and rounding).
Status pack_tiles_yuv420(const uint8_t* y, long long y_stride, const uint8_t* u, const uint8_t* v, long long uv_stride,
                         int height, int width, YuvMatrix matrix, PackMode mode, const int32_t* origins, int n_tiles,
                         int tile_h, int tile_w, float gain, float bias, void* dst, Real real, uintptr_t stream);
Status unpack_yuv420(const DevicePlanes& rgb, uint8_t* y, long long y_stride, uint8_t* u, uint8_t* v,
                     long long uv_stride, YuvMatrix matrix, float inv_gain, float inv_bias, uintptr_t stream);
int device_count();

}  // namespace cuda
}  // namespace srstream
