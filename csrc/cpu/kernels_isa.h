// The per-ISA entry points (arguments already validated by dispatch.cpp).
#pragma once

#include "srstream/kernels.h"

namespace srstream {

struct YuvArgs {
  const uint8_t *y, *u, *v;
  std::ptrdiff_t y_stride, uv_stride;
  int height, width;
  YuvMatrix matrix;
  PackMode mode;
  const int32_t* origins;
  int n, th, tw;
  float gain, bias;
};

#define SRS_DECLARE_ISA(NS)                                                                                          \
  namespace NS {                                                                                                    \
  void pack(const FrameView&, PackMode, const int32_t*, int, int, int, float, float, void*, Real);                  \
  void pack_yuv(const YuvArgs&, void*, Real);                                                                       \
  void unpack(const PlanarView&, const MutFrameView&, float, float);                                                \
  void unpack_luma(const PlanarView&, const FrameView&, const MutFrameView&, int, float, float);                   \
  void unpack_yuv(const PlanarView&, uint8_t*, std::ptrdiff_t, uint8_t*, uint8_t*, std::ptrdiff_t, YuvMatrix, float, \
                  float);                                                                                           \
  void blend(const PlanarView&, int, std::ptrdiff_t, const int32_t*, int, const float*, const int32_t*, const float*, \
             const int32_t*, float*, int, int);                                                                     \
  void stabilize(const StabilizeArgs&);                                                                             \
  void conv_tail(const ConvTailArgs&);                                                                              \
  }

SRS_DECLARE_ISA(baseline)
SRS_DECLARE_ISA(avx2)
SRS_DECLARE_ISA(avx512)

}  // namespace srstream
