// The change cap's per-sample clamp (see kernels.h: cap_plane). Integer work on 8-bit rows that
// the portable build vectorises as it is (saturating byte min/max), so it has no per-ISA copies.
#include <algorithm>
#include <vector>

#include "srstream/kernels.h"

namespace srstream {

Status cap_plane(const CapArgs& a) {
  if (!a.out || !a.prev || !a.limit || !a.rows || !a.cols || !a.lut) return Status::Error("cap_plane: null buffer");
  if (a.height < 1 || a.width < 1 || a.limit_h < 1 || a.limit_w < 1 || a.out_stride < a.width ||
      a.limit_stride < a.limit_w)
    return Status::Error("cap_plane: need planes of at least one sample and row strides of at least their width");
  for (int y = 0; y < a.height; ++y)
    if (a.rows[y] < 0 || a.rows[y] >= a.limit_h) return Status::Error("cap_plane: a row map entry is out of range");
  for (int x = 0; x < a.width; ++x)
    if (a.cols[x] < 0 || a.cols[x] >= a.limit_w) return Status::Error("cap_plane: a column map entry is out of range");
  const int W = a.width;
  std::vector<uint8_t> cap(W);  // the current limit row, at the output's width, through the lut
  int last = -1;
  for (int y = 0; y < a.height; ++y) {
    if (a.rows[y] != last) {  // output rows share their limit row (scale of them in a row)
      last = a.rows[y];
      const uint8_t* src = a.limit + static_cast<std::ptrdiff_t>(last) * a.limit_stride;
      for (int x = 0; x < W; ++x) cap[x] = a.lut[src[a.cols[x]]];
    }
    uint8_t* __restrict o = a.out + static_cast<std::ptrdiff_t>(y) * a.out_stride;
    uint8_t* __restrict p = a.prev + static_cast<std::ptrdiff_t>(y) * W;
    const uint8_t* __restrict c = cap.data();
    for (int x = 0; x < W; ++x) {  // in bytes, so that it vectorises as saturating byte ops
      const uint8_t q = p[x], l = c[x];
      const uint8_t low = q > l ? static_cast<uint8_t>(q - l) : 0;
      const uint8_t sum = static_cast<uint8_t>(q + l);
      const uint8_t high = sum < q ? 255 : sum;
      const uint8_t v = std::min(std::max(o[x], low), high);
      o[x] = v;
      p[x] = v;
    }
  }
  return Status::Ok();
}

}  // namespace srstream
