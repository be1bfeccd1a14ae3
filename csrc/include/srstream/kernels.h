// sr-stream native kernels: the per-frame work around the network.
//
// Pure C++17, no Python and no libtorch: bindings.cpp is the only file that knows Python.
// Every entry point validates its arguments and returns a Status (ok, or a message saying what
// was wrong); the bindings turn a failed Status into the caller's exception. Nothing throws.
//
// Conventions
//  * Frames are interleaved HWC, 8- or 16-bit, with an arbitrary row stride (in elements).
//  * Network tensors are planar NCHW (or CHW) float32, float16 or bfloat16, each channel plane
//    with its own stride, so crops and batch slices need no copy.
//  * Values: network value = sample / peak * gain + bias (gain/bias map [0, 1] to the model's
//    value range); the way back is sample = clamp(floor((v * inv_gain + inv_bias) * peak + 0.5)).
//    The float operations and their order are those of the numpy reference in
//    srstream.engine.kernels, with no FMA contraction, so float32 results match it bit for bit
//    (one exception: conv_tail, a long sum of products, uses FMA where the ISA has it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace srstream {

struct Status {
  bool ok = true;
  std::string message;
  static Status Ok() { return {}; }
  static Status Error(std::string m) { return {false, std::move(m)}; }
};

enum class Sample : int { U8 = 0, U16 = 1 };          // frame sample types
enum class Real : int { F32 = 0, F16 = 1, BF16 = 2 };  // network tensor types

// What the network sees of a frame.
enum class PackMode : int {
  RGB = 0,   // three channels R, G, B (a one-channel frame is repeated)
  BGR = 1,   // the frame is stored B, G, R: swapped into R, G, B
  LUMA = 2,  // one channel: BT.601 luma of R, G, B (a one-channel frame is taken as is)
  FIRST = 3  // one channel: the frame's first channel
};

// YUV -> RGB / RGB -> YUV matrices for 4:2:0 video frames.
struct YuvMatrix {
  float kr, kb;     // luma weights of R and B (BT.601: 0.299, 0.114; BT.709: 0.2126, 0.0722)
  bool full_range;  // JPEG/full range (0-255) or limited (16-235 luma, 16-240 chroma)
};

// The constants of one matrix, derived once for the CPU and CUDA kernels alike (the numpy
// reference derives the same values in the same float operations).
struct YuvCoefs {
  float y_scale, y_offset, c_scale;  // decode: Y' = (Y - y_offset) * y_scale, Cb = (U - 128) * c_scale
  float rv, gu, gv, bu;              // R = Y' + rv Cr; G = Y' - gu Cb - gv Cr; B = Y' + bu Cb
  float kr, kg, kb;                  // encode: Y' = kr R + kg G + kb B
  float y_span, c_span, cb_s, cr_s;  // Y = Y' y_span + y_offset; Cb = (B - Y') cb_s; U = Cb c_span + 128
};

inline YuvCoefs yuv_coefs(YuvMatrix m) {
  YuvCoefs c{};
  c.y_scale = m.full_range ? 1.0f / 255.0f : 1.0f / 219.0f;
  c.y_offset = m.full_range ? 0.0f : 16.0f;
  c.c_scale = m.full_range ? 1.0f / 255.0f : 1.0f / 224.0f;
  c.kr = m.kr;
  c.kb = m.kb;
  c.kg = 1.0f - m.kr - m.kb;
  c.rv = 2.0f * (1.0f - m.kr);
  c.bu = 2.0f * (1.0f - m.kb);
  c.gu = c.bu * m.kb / c.kg;
  c.gv = c.rv * m.kr / c.kg;
  c.y_span = m.full_range ? 255.0f : 219.0f;
  c.c_span = m.full_range ? 255.0f : 224.0f;
  c.cb_s = 0.5f / (1.0f - m.kb);
  c.cr_s = 0.5f / (1.0f - m.kr);
  return c;
}

struct FrameView {  // an interleaved frame
  const void* data;
  Sample sample;
  int height, width, channels;
  std::ptrdiff_t row_stride;  // elements between rows (>= width * channels)
};

struct MutFrameView {
  void* data;
  Sample sample;
  int height, width, channels;
  std::ptrdiff_t row_stride;
};

struct PlanarView {  // C planes of H x W reals (a CHW tensor or one NCHW batch item)
  const void* data;
  Real real;
  int channels, height, width;
  std::ptrdiff_t channel_stride, row_stride;  // elements
};

// frame -> (N, C_out, tile_h, tile_w) tiles at origins (y, x) of the reflect-padded frame.
// dst is contiguous NCHW of `real`. Rows/columns past the frame are mirrored (numpy "reflect").
Status pack_tiles(const FrameView& src, PackMode mode, const int32_t* origins, int n_tiles, int tile_h, int tile_w,
                  float gain, float bias, void* dst, Real real);

// Y, U, V planes of a 4:2:0 frame (odd sizes: chroma is ceil(h/2) x ceil(w/2)) -> tiles, as
// pack_tiles. Chroma is upsampled by sample replication (what the decoder's planes hold at each
// luma site); LUMA mode uses Y alone, rescaled to full range.
Status pack_tiles_yuv420(const uint8_t* y, std::ptrdiff_t y_stride, const uint8_t* u, const uint8_t* v,
                         std::ptrdiff_t uv_stride, int height, int width, YuvMatrix matrix, PackMode mode,
                         const int32_t* origins, int n_tiles, int tile_h, int tile_w, float gain, float bias,
                         void* dst, Real real);

// planar -> interleaved samples: channels [0, src.channels) of dst, rounded and clamped.
Status unpack(const PlanarView& src, const MutFrameView& dst, float inv_gain, float inv_bias);

// Luma models: dst = base + (luma_model - luma(base)) on R, G and B, rounded and clamped.
// base: an RGB(A) frame of dst's size and sample type (e.g. the bicubic upscale), whose chroma
// the result keeps; luma: 1 plane. base may be dst itself (updated in place). With scale > 1, base is
// the input frame (dst's size / scale) and its bilinear upscale (pixel centres, edges clamped) is
// used, computed row by row in float: one pass in place of a resize and this.
Status unpack_luma_residual(const PlanarView& luma, const FrameView& base, const MutFrameView& dst, int scale,
                            float inv_gain, float inv_bias);

// planar RGB (3 planes) -> Y, U, V planes of a 4:2:0 frame; chroma is the mean of each 2x2 block.
Status unpack_yuv420(const PlanarView& rgb, uint8_t* y, std::ptrdiff_t y_stride, uint8_t* u, uint8_t* v,
                     std::ptrdiff_t uv_stride, YuvMatrix matrix, float inv_gain, float inv_bias);

// Accumulate tile outputs (N, C, th*s, tw*s) into a float32 frame (C, out_h, out_w), each tile
// weighted by outer(row_weights[r], col_weights[c]) of its tile row r and column c. dst is
// zeroed first; tiles reaching past out_h/out_w (the reflect padding) are cropped.
Status blend_tiles(const PlanarView& tiles, int n_tiles, std::ptrdiff_t tile_stride, const int32_t* origins,
                   int scale, const float* row_weights, const int32_t* tile_row, const float* col_weights,
                   const int32_t* tile_col, float* dst, int out_h, int out_w);

// The temporal stabiliser's per-pixel step (srstream.engine.stabilize); every plane float32,
// contiguous. y: this frame's upscaled luma and base: the bicubic upscale of its input's luma
// (height x width, 0-255 scale); flow: (height/scale, width/scale, 2), where each input pixel was
// in the previous frame; prev_base, prev_detail: the state the previous step left. The flow is
// upsampled bilinearly (pixel centres, edges clamped), the previous base and detail are sampled
// bilinearly along it (edges replicated), and weight = max(strength - |base - warped base| *
// strength / tolerance, 0) blends this frame's detail (y - base) towards the warped one (and,
// with blend_base, its base towards the warped base). Writes change (what to add to y) and the
// next state; the outputs may not alias the inputs. With codes (8-bit luma codes, row stride
// codes_stride) in place of y: y = code * gain + offset, and the codes are updated in place to
// round(code + change * inv_gain), clamped to 0-255, instead of writing change.
struct StabilizeArgs {
  const float *y, *base, *flow, *prev_base, *prev_detail;
  float *change, *next_base, *next_detail;
  int height, width, scale;
  float strength, tolerance;
  bool blend_base;
  uint8_t* codes = nullptr;
  std::ptrdiff_t codes_stride = 0;
  float gain = 1.0f, offset = 0.0f, inv_gain = 1.0f;
  // rgb: codes is an interleaved 8-bit RGB(A) image of pixel samples per pixel (3 or 4; alpha kept),
  // luma = (wr * R + wg * G) + wb * B, and the change is added to R, G and B alike, rounded
  bool rgb = false;
  int pixel = 1;
  float wr = 0.0f, wg = 0.0f, wb = 0.0f;
};
Status stabilize_luma(const StabilizeArgs& args);

// The last conv of a luma graph, its skip and its pixel shuffle, for a backend that runs the
// graph only up to the activations that conv reads (srstream.engine.graph_tail). act: (channels,
// height, width) contiguous, int8, uint8 or float32, dequantised as (q - act_zero) * act_scale
// (float32: taken as is); weight: (scale^2, channels, 3, 3) and bias: (scale^2) float32, a 3x3
// conv with zero padding; skip: (height, width) float32, added to every output channel; out:
// (height * scale, width * scale) float32, output channel i * scale + j at row y * scale + i,
// column x * scale + j (DepthToSpace with one output channel). Per output value: bias, plus
// weight * input over channels, then rows, then columns in order, plus skip, as
// srstream.engine.kernels_ref.conv_tail_reference adds them (float32; multiply-adds fused where
// the ISA has FMA, so the two agree within float rounding, not bit for bit).
enum class Quant : int { S8 = 0, U8 = 1, F32 = 2 };
struct ConvTailArgs {
  const void* act;
  Quant type;
  int channels, height, width;
  float act_scale;
  int act_zero;
  const float *weight, *bias, *skip;
  int scale;
  float* out;
};
Status conv_tail(const ConvTailArgs& args);

// The change cap's clamp of one 8-bit plane (srstream.engine.changecap): each output sample
// out[Y][X] is clamped to within lut[limit[rows[Y]][cols[X]]] of the previous output's prev[Y][X]
// (saturating at 0 and 255) and written to both. limit: the cap at the input's size (limit_h x
// limit_w, row stride limit_stride); rows, cols: each output row's and column's limit row and
// column (the nearest-neighbour map, as cv2.resize makes it); lut: 256 entries (the gain).
// out has row stride out_stride; prev is contiguous (height x width).
struct CapArgs {
  uint8_t* out;
  std::ptrdiff_t out_stride;
  uint8_t* prev;
  const uint8_t* limit;
  std::ptrdiff_t limit_stride;
  int height, width, limit_h, limit_w;
  const int32_t *rows, *cols;
  const uint8_t* lut;
};
Status cap_plane(const CapArgs& args);

int max_threads();
void set_threads(int n);
// "isa=... openmp=..."; select_isa caps the instruction set used from now on (tests run each
// compiled variant) and returns the one chosen.
std::string build_info();
std::string select_isa(const std::string& want);

}  // namespace srstream
