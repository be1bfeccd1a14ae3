// Validates arguments, picks the best compiled instruction set for this CPU once, and calls it.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels_isa.h"
#include "srstream/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace srstream {

namespace {

struct Table {
  const char* name;
  decltype(&baseline::pack) pack;
  decltype(&baseline::pack_yuv) pack_yuv;
  decltype(&baseline::unpack) unpack;
  decltype(&baseline::unpack_luma) unpack_luma;
  decltype(&baseline::unpack_yuv) unpack_yuv;
  decltype(&baseline::blend) blend;
  decltype(&baseline::stabilize) stabilize;
  decltype(&baseline::conv_tail) conv_tail;
};

#define SRS_TABLE(NS)                                                                                         \
  Table{#NS, NS::pack, NS::pack_yuv, NS::unpack, NS::unpack_luma, NS::unpack_yuv, NS::blend, NS::stabilize, \
        NS::conv_tail}

bool cpu_has(const char* isa) {
#if SRS_X86
  __builtin_cpu_init();
  if (!std::strcmp(isa, "avx512"))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (!std::strcmp(isa, "avx2"))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
  return !std::strcmp(isa, "baseline");
}

const Table kTables[] = {
#if SRS_X86
    SRS_TABLE(avx512),
    SRS_TABLE(avx2),
#endif
    SRS_TABLE(baseline),
};

// The best table at or below `want` that this CPU runs (the baseline always does).
const Table* choose(const std::string& want) {
  bool reached = false;
  for (const Table& t : kTables) {
    reached = reached || want == t.name;
    if (reached && cpu_has(t.name)) return &t;
  }
  return &kTables[sizeof(kTables) / sizeof(kTables[0]) - 1];
}

std::atomic<const Table*>& current() {
  // SRSTREAM_NATIVE_ISA=baseline|avx2|avx512 caps the first choice.
  static std::atomic<const Table*> t{choose(std::getenv("SRSTREAM_NATIVE_ISA") ? std::getenv("SRSTREAM_NATIVE_ISA")
                                                                               : "avx512")};
  return t;
}

const Table& table() { return *current().load(std::memory_order_acquire); }

bool frame_ok(int h, int w, int c) { return h > 0 && w > 0 && (c == 1 || c == 3 || c == 4); }

bool origins_ok(const int32_t* origins, int n) {
  for (int i = 0; i < 2 * n; ++i)
    if (origins[i] < 0) return false;
  return true;
}

}  // namespace

std::string build_info() {
  std::string info = std::string("isa=") + table().name;
#ifdef _OPENMP
  info += " openmp=" + std::to_string(_OPENMP);
#else
  info += " openmp=none";
#endif
  return info;
}

std::string select_isa(const std::string& want) {
  current().store(choose(want), std::memory_order_release);
  return table().name;
}

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_threads(int n) {
#ifdef _OPENMP
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

Status pack_tiles(const FrameView& src, PackMode mode, const int32_t* origins, int n, int th, int tw, float gain,
                  float bias, void* dst, Real real) {
  if (!src.data || !dst || !origins) return Status::Error("pack_tiles: null buffer");
  if (!frame_ok(src.height, src.width, src.channels) || src.row_stride < src.width * src.channels)
    return Status::Error("pack_tiles: frame must be H x W x 1|3|4 with rows of at least W * C samples");
  if (n < 1 || th < 1 || tw < 1) return Status::Error("pack_tiles: need at least one tile of positive size");
  if (!origins_ok(origins, n)) return Status::Error("pack_tiles: tile origins must be non-negative");
  table().pack(src, mode, origins, n, th, tw, gain, bias, dst, real);
  return Status::Ok();
}

Status pack_tiles_yuv420(const uint8_t* y, std::ptrdiff_t ys, const uint8_t* u, const uint8_t* v, std::ptrdiff_t uvs,
                         int h, int w, YuvMatrix m, PackMode mode, const int32_t* origins, int n, int th, int tw,
                         float gain, float bias, void* dst, Real real) {
  if (!y || !u || !v || !dst || !origins) return Status::Error("pack_tiles_yuv420: null buffer");
  if (h < 1 || w < 1 || ys < w || uvs < (w + 1) / 2) return Status::Error("pack_tiles_yuv420: bad plane sizes");
  if (mode != PackMode::RGB && mode != PackMode::LUMA)
    return Status::Error("pack_tiles_yuv420: mode must be RGB or LUMA");
  if (n < 1 || th < 1 || tw < 1) return Status::Error("pack_tiles_yuv420: need at least one tile of positive size");
  if (!origins_ok(origins, n)) return Status::Error("pack_tiles_yuv420: tile origins must be non-negative");
  table().pack_yuv(YuvArgs{y, u, v, ys, uvs, h, w, m, mode, origins, n, th, tw, gain, bias}, dst, real);
  return Status::Ok();
}

Status unpack(const PlanarView& src, const MutFrameView& dst, float inv_gain, float inv_bias) {
  if (!src.data || !dst.data) return Status::Error("unpack: null buffer");
  if (!frame_ok(src.height, src.width, src.channels) || !frame_ok(dst.height, dst.width, dst.channels))
    return Status::Error("unpack: planes and frame must have 1, 3 or 4 channels");
  if (src.height != dst.height || src.width != dst.width || src.channels > dst.channels)
    return Status::Error("unpack: frame size differs from the planes' or has fewer channels");
  table().unpack(src, dst, inv_gain, inv_bias);
  return Status::Ok();
}

Status unpack_luma_residual(const PlanarView& luma, const FrameView& base, const MutFrameView& dst, int scale,
                            float inv_gain, float inv_bias) {
  if (!luma.data || !base.data || !dst.data) return Status::Error("unpack_luma_residual: null buffer");
  if (scale < 1 || luma.channels != 1 || dst.channels < 3 || base.channels < 3 || luma.height != dst.height ||
      luma.width != dst.width || base.height * scale != dst.height || base.width * scale != dst.width ||
      base.sample != dst.sample)
    return Status::Error("unpack_luma_residual: need one luma plane, an RGB(A) output frame of its size and an RGB(A) "
                         "base of that size divided by the scale (>= 1), of the output's sample type");
  if (scale > 1 && base.data == dst.data)
    return Status::Error("unpack_luma_residual: an input base cannot be the output");
  table().unpack_luma(luma, base, dst, scale, inv_gain, inv_bias);
  return Status::Ok();
}

Status unpack_yuv420(const PlanarView& rgb, uint8_t* y, std::ptrdiff_t ys, uint8_t* u, uint8_t* v, std::ptrdiff_t uvs,
                     YuvMatrix m, float inv_gain, float inv_bias) {
  if (!rgb.data || !y || !u || !v) return Status::Error("unpack_yuv420: null buffer");
  if (rgb.channels != 3 || rgb.height < 1 || rgb.width < 1 || ys < rgb.width || uvs < (rgb.width + 1) / 2)
    return Status::Error("unpack_yuv420: need three planes and planes of matching size");
  table().unpack_yuv(rgb, y, ys, u, v, uvs, m, inv_gain, inv_bias);
  return Status::Ok();
}

Status blend_tiles(const PlanarView& tiles, int n, std::ptrdiff_t ts, const int32_t* origins, int s, const float* rw,
                   const int32_t* tr, const float* cw, const int32_t* tc, float* dst, int oh, int ow) {
  if (!tiles.data || !origins || !rw || !tr || !cw || !tc || !dst) return Status::Error("blend_tiles: null buffer");
  if (n < 1 || s < 1 || oh < 1 || ow < 1 || tiles.channels < 1)
    return Status::Error("blend_tiles: need tiles, a scale >= 1 and an output frame");
  if (!origins_ok(origins, n)) return Status::Error("blend_tiles: tile origins must be non-negative");
  table().blend(tiles, n, ts, origins, s, rw, tr, cw, tc, dst, oh, ow);
  return Status::Ok();
}

Status stabilize_luma(const StabilizeArgs& a) {
  if ((a.codes ? !a.codes : (!a.y || !a.change)) || !a.base || !a.flow || !a.prev_base || !a.prev_detail ||
      !a.next_base || !a.next_detail)
    return Status::Error("stabilize_luma: null buffer");
  if (a.scale < 1 || a.height < a.scale || a.width < a.scale || a.height % a.scale || a.width % a.scale)
    return Status::Error("stabilize_luma: the output size must be the input size times the scale");
  if (!(a.tolerance > 0.0f)) return Status::Error("stabilize_luma: tolerance must be positive");
  if (a.rgb && (!a.codes || (a.pixel != 3 && a.pixel != 4)))
    return Status::Error("stabilize_luma: an RGB image needs 3 or 4 samples per pixel");
  table().stabilize(a);
  return Status::Ok();
}

Status conv_tail(const ConvTailArgs& a) {
  if (!a.act || !a.weight || !a.bias || !a.skip || !a.out) return Status::Error("conv_tail: null buffer");
  if (a.channels < 1 || a.height < 1 || a.width < 1 || a.scale < 1 || a.scale > 4)
    return Status::Error("conv_tail: need activations of at least one channel and pixel, and a scale of 1 to 4");
  if (a.type != Quant::S8 && a.type != Quant::U8 && a.type != Quant::F32)
    return Status::Error("conv_tail: activations must be int8, uint8 or float32");
  table().conv_tail(a);
  return Status::Ok();
}

}  // namespace srstream
