"""numpy references of the frame kernels: they define what the native kernels compute.

Float32 results of ``srstream.engine._native`` equal these bit for bit (same operations in the
same order, no FMA contraction); float16/bfloat16 results within one unit in the last place.
``conv_tail`` is the exception: it may fuse multiply and add where the CPU has FMA, so it equals
:func:`conv_tail_reference` within float32 rounding of its sums.
They also run as the engine's fallback when the extension is missing. The typed entry points
are in :mod:`srstream.engine.kernels`.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from srstream.errors import KernelError
from srstream.images import LUMA_BT601

__all__ = [
    "BFLOAT16", "BT601", "BT709", "PackMode", "YuvMatrix", "cap_plane_reference", "conv_tail_reference",
    "pack_tiles_reference", "pack_tiles_yuv420_reference",
    "stabilize_luma_codes_reference", "stabilize_luma_reference", "unpack_luma_residual_reference",
    "unpack_reference", "unpack_yuv420_reference",
]

_F32 = np.float32

BFLOAT16 = "bfloat16"  # a dtype name: bfloat16 tensors are numpy uint16 arrays of the bit patterns


class PackMode(enum.IntEnum):
    RGB = 0  # three channels; a one-channel frame is repeated
    BGR = 1  # the frame is stored B, G, R; the tiles get R, G, B
    LUMA = 2  # one channel: BT.601 luma of R, G, B (a one-channel frame as is)
    FIRST = 3  # one channel: the frame's first channel


class YuvMatrix(tuple):
    """``(kr, kb, full_range)`` of a Y'CbCr matrix."""

    def __new__(cls, kr: float, kb: float, full_range: bool) -> YuvMatrix:
        return super().__new__(cls, (float(kr), float(kb), bool(full_range)))


BT601 = YuvMatrix(0.299, 0.114, False)
BT709 = YuvMatrix(0.2126, 0.0722, False)
_LUMA = tuple(_F32(w) for w in LUMA_BT601)


def _real(dtype: Any) -> Any:
    if isinstance(dtype, str) and dtype == BFLOAT16:
        return BFLOAT16
    d = np.dtype(dtype)
    if d not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise KernelError(f"network tensors are float32, float16 or bfloat16, not {d}")
    return d


def _storage(real: Any) -> np.dtype:
    return np.dtype(np.uint16) if real == BFLOAT16 else real


def _to_real(values: np.ndarray, real: Any) -> np.ndarray:
    """float32 -> the network type, rounding to nearest even (bfloat16 as its bit patterns)."""
    if real != BFLOAT16:
        return values.astype(real)
    bits = np.ascontiguousarray(values, dtype=_F32).view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def _from_real(values: np.ndarray, real: Any) -> np.ndarray:
    if real != BFLOAT16:
        return values.astype(_F32)
    return (values.astype(np.uint32) << 16).view(_F32)


def _peak(dtype: np.dtype) -> np.float32:
    return _F32(255.0) if dtype == np.uint8 else _F32(65535.0)


def _check_frame(frame: np.ndarray, what: str) -> np.ndarray:
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.dtype not in (np.uint8, np.uint16) or frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
        raise KernelError(f"{what}: expected an (H, W, 1|3|4) uint8/uint16 frame, got {frame.dtype} {frame.shape}")
    if (frame.shape[2] > 1 and frame.strides[2] != frame.itemsize) or \
            (frame.shape[1] > 1 and frame.strides[1] != frame.itemsize * frame.shape[2]):
        frame = np.ascontiguousarray(frame)
    return frame


def _strided_rows(a: np.ndarray) -> bool:
    """Whether the last axis is not contiguous (the kernels need contiguous rows)."""
    return a.shape[-1] > 1 and a.strides[-1] != a.itemsize


def _origins(origins: Any) -> np.ndarray:
    o = np.ascontiguousarray(origins, dtype=np.int32).reshape(-1, 2)
    if len(o) == 0 or (o < 0).any():
        raise KernelError("tile origins must be a non-empty list of non-negative (y, x) pairs")
    return o


def _reflect(index: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    i = index % period
    return np.where(i < n, i, period - i)


def _affine(v: np.ndarray, gain: float, bias: float) -> np.ndarray:
    if gain == 1.0 and bias == 0.0:
        return v
    v = v * _F32(gain)
    v += _F32(bias)
    return v


def _out_channels(mode: PackMode) -> int:
    return 3 if mode in (PackMode.RGB, PackMode.BGR) else 1


def pack_tiles_reference(frame: np.ndarray, origins: np.ndarray, tile_h: int, tile_w: int, mode: PackMode,
                         real: Any = np.float32, gain: float = 1.0, bias: float = 0.0) -> np.ndarray:
    """numpy :func:`pack_tiles`."""
    real = _real(real)
    frame = _check_frame(frame, "pack_tiles")
    c = frame.shape[2]
    v = frame.astype(_F32) * (_F32(1.0) / _peak(frame.dtype))
    if mode in (PackMode.RGB, PackMode.BGR):
        planes = [v[..., 0]] * 3 if c == 1 else [v[..., i] for i in ((2, 1, 0) if mode == PackMode.BGR else (0, 1, 2))]
    elif mode == PackMode.LUMA and c >= 3:
        y = v[..., 0] * _LUMA[0]
        y += v[..., 1] * _LUMA[1]
        y += v[..., 2] * _LUMA[2]
        planes = [y]
    else:
        planes = [v[..., 0]]
    return _gather_tiles(_affine(np.stack(planes), gain, bias), origins, tile_h, tile_w, real)


def _gather_tiles(chw: np.ndarray, origins: np.ndarray, tile_h: int, tile_w: int, real: Any) -> np.ndarray:
    """``(C, H, W)`` float32 -> ``(N, C, tile_h, tile_w)`` tiles of the network type at ``origins``,
    mirroring (numpy ``reflect``) past the bottom/right."""
    h, w = chw.shape[1:]
    tiles = [chw[:, _reflect(np.arange(oy, oy + tile_h), h)][:, :, _reflect(np.arange(ox, ox + tile_w), w)]
             for oy, ox in _origins(origins)]
    return _to_real(np.stack(tiles), real)


def _upsample_chroma(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """A 4:2:0 chroma plane at every luma site (MPEG-2/H.264 siting: co-sited with even luma
    columns, halfway between luma rows), as float32 code values."""
    c = c.astype(_F32)
    ch, cw = c.shape
    cj = np.arange(w) // 2
    odd_x = (np.arange(w) % 2).astype(bool)
    cols = c[:, cj]
    cols[:, odd_x] = (c[:, cj[odd_x]] + c[:, np.minimum(cj[odd_x] + 1, cw - 1)]) * _F32(0.5)
    rows = np.arange(h)
    ci = rows // 2
    cn = np.where(rows % 2 == 1, np.minimum(ci + 1, ch - 1), np.maximum(ci - 1, 0))
    return cols[ci] * _F32(0.75) + cols[cn] * _F32(0.25)


def _yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: YuvMatrix, luma_only: bool) -> list[np.ndarray]:
    kr, kb, full = matrix
    ys, yo, cs, co = ((_F32(1.0) / _F32(255.0), _F32(0.0), _F32(1.0) / _F32(255.0), _F32(128.0)) if full else
                      (_F32(1.0) / _F32(219.0), _F32(16.0), _F32(1.0) / _F32(224.0), _F32(128.0)))
    lum = (y.astype(_F32) - yo) * ys
    if luma_only:
        return [np.clip(lum, 0.0, 1.0)]
    h, w = y.shape
    cb = (_upsample_chroma(u, h, w) - co) * cs
    cr = (_upsample_chroma(v, h, w) - co) * cs
    kr, kb = _F32(kr), _F32(kb)
    kg = _F32(1.0) - kr - kb
    rv, bu = _F32(2.0) * (_F32(1.0) - kr), _F32(2.0) * (_F32(1.0) - kb)
    gu, gv = bu * kb / kg, rv * kr / kg
    g = lum - gu * cb
    g -= gv * cr
    return [np.clip(p, 0.0, 1.0) for p in (lum + rv * cr, g, lum + bu * cb)]


def pack_tiles_yuv420_reference(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: YuvMatrix, origins: np.ndarray,
                                tile_h: int, tile_w: int, mode: PackMode = PackMode.RGB, real: Any = np.float32,
                                gain: float = 1.0, bias: float = 0.0) -> np.ndarray:
    """numpy :func:`pack_tiles_yuv420`."""
    chw = _affine(np.stack(_yuv_to_rgb(y, u, v, matrix, mode == PackMode.LUMA)), gain, bias)
    return _gather_tiles(chw, origins, tile_h, tile_w, _real(real))


def _check_yuv(y: np.ndarray, u: np.ndarray, v: np.ndarray, what: str) -> None:
    cshape = ((y.shape[0] + 1) // 2, (y.shape[1] + 1) // 2) if y.ndim == 2 else None
    if any(p.dtype != np.uint8 or p.ndim != 2 for p in (y, u, v)) or u.shape != cshape or v.shape != cshape:
        raise KernelError(f"{what}: expected uint8 planes Y (H, W) and U, V (ceil(H/2), ceil(W/2)), got "
                          f"{[(p.dtype.name, p.shape) for p in (y, u, v)]}")


def _quantise(v: np.ndarray, peak: np.float32, dtype: np.dtype) -> np.ndarray:
    v = v * peak
    v += _F32(0.5)
    np.clip(v, _F32(0.0), peak, out=v)
    return v.astype(np.int32).astype(dtype)


def unpack_reference(planes: np.ndarray, dtype: Any = np.uint8, real: Any = np.float32, inv_gain: float = 1.0,
                     inv_bias: float = 0.0) -> np.ndarray:
    """numpy :func:`unpack` (a new frame)."""
    v = _affine(_from_real(planes, _real(real)), inv_gain, inv_bias)
    return np.ascontiguousarray(_quantise(v, _peak(np.dtype(dtype)), np.dtype(dtype)).transpose(1, 2, 0))


def _check_planes(planes: np.ndarray, real: Any, what: str) -> None:
    if planes.ndim != 3 or planes.dtype != _storage(real) or planes.shape[0] not in (1, 3, 4):
        raise KernelError(f"{what}: expected (C, H, W) {real} planes with C = 1, 3 or 4, got "
                          f"{planes.dtype} {planes.shape}")


def unpack_luma_residual_reference(luma: np.ndarray, base: np.ndarray, real: Any = np.float32,
                                   inv_gain: float = 1.0, inv_bias: float = 0.0) -> np.ndarray:
    """numpy :func:`unpack_luma_residual` (a new RGB frame)."""
    m = _affine(_from_real(luma.reshape(luma.shape[-2:]), _real(real)), inv_gain, inv_bias)
    peak = _peak(base.dtype)
    if base.shape[:2] == m.shape:
        b = base[..., :3].astype(_F32)
    else:
        b = _upsampled(base[..., :3].astype(_F32), *m.shape)
    b *= _F32(1.0) / peak
    yb = b[..., 0] * _LUMA[0]
    yb += b[..., 1] * _LUMA[1]
    yb += b[..., 2] * _LUMA[2]
    d = m - yb
    return _quantise(b + d[..., None], peak, base.dtype)


def unpack_yuv420_reference(planes: np.ndarray, matrix: YuvMatrix, real: Any = np.float32, inv_gain: float = 1.0,
                            inv_bias: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy :func:`unpack_yuv420`."""
    kr, kb, full = matrix
    kr, kb = _F32(kr), _F32(kb)
    kg = _F32(1.0) - kr - kb
    rgb = np.clip(_affine(_from_real(planes, _real(real)), inv_gain, inv_bias), 0.0, 1.0)
    ysc, yoff, csc = (_F32(255), _F32(0), _F32(255)) if full else (_F32(219), _F32(16), _F32(224))

    def code(x: np.ndarray, scale: np.float32, offset: np.float32) -> np.ndarray:
        x = x * scale
        x += offset
        x += _F32(0.5)
        return np.clip(x, _F32(0), _F32(255)).astype(np.int32).astype(np.uint8)

    def luma(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = kr * r
        y += kg * g
        y += kb * b
        return y

    _, h, w = rgb.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    r0, r1 = 2 * np.arange(ch), np.minimum(2 * np.arange(ch) + 1, h - 1)
    xl, xc, xr = np.maximum(2 * np.arange(cw) - 1, 0), 2 * np.arange(cw), np.minimum(2 * np.arange(cw) + 1, w - 1)

    def sited(p: np.ndarray, rows: np.ndarray) -> np.ndarray:  # [1 2 1]/4 across columns, one row set
        q = p[rows]
        a = q[:, xl] * _F32(0.25)
        a += q[:, xc] * _F32(0.5)
        a += q[:, xr] * _F32(0.25)
        return a

    mr, mg, mb = ((sited(p, r0) + sited(p, r1)) * _F32(0.5) for p in rgb)
    ml = luma(mr, mg, mb)
    cb = (mb - ml) * (_F32(0.5) / (_F32(1.0) - kb))
    cr = (mr - ml) * (_F32(0.5) / (_F32(1.0) - kr))
    return code(luma(*rgb), ysc, yoff), code(cb, csc, _F32(128)), code(cr, csc, _F32(128))


def _upsample_taps(n: int, m: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Output pixels 0..n-1 on an input grid of m: left/top neighbour and the next one's weight
    (pixel centres; clamped at the edges with weight 0)."""
    f = (np.arange(n, dtype=_F32) + _F32(0.5)) / _F32(scale) - _F32(0.5)
    ff = np.floor(f)
    lo, a = ff.astype(np.int64), f - ff
    a[lo < 0] = 0
    lo[lo < 0] = 0
    a[lo >= m - 1] = 0
    lo[lo >= m - 1] = m - 1
    return lo, a


def _upsampled(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """``frame`` (float32, H x W x C) upscaled bilinearly to ``height`` x ``width``, an integer
    multiple of its size (pixel centres, edges clamped: OpenCV's ``INTER_LINEAR``): between rows
    first, then along them, as the native kernel does."""
    h, w = frame.shape[:2]
    rows, ay = _upsample_taps(height, h, height // h)
    cols, ax = _upsample_taps(width, w, width // w)
    one = _F32(1)
    v = (one - ay)[:, None, None] * frame[rows] + ay[:, None, None] * frame[np.minimum(rows + 1, h - 1)]
    return (one - ax)[None, :, None] * v[:, cols] + ax[None, :, None] * v[:, np.minimum(cols + 1, w - 1)]


def _sample_bilinear(p: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``p`` sampled bilinearly at (x, y), edges replicated; coordinates pinned to [-1, size]."""
    h, w = p.shape
    x = np.where(x > -1, np.where(x < w, x, _F32(w)), _F32(-1)).astype(_F32)
    y = np.where(y > -1, np.where(y < h, y, _F32(h)), _F32(-1)).astype(_F32)
    fx, fy = np.floor(x), np.floor(y)
    ax, ay = x - fx, y - fy
    x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    one = _F32(1)
    return (one - ay) * ((one - ax) * p[ya, xa] + ax * p[ya, xb]) + ay * ((one - ax) * p[yb, xa] + ax * p[yb, xb])


def stabilize_luma_reference(y: np.ndarray, base: np.ndarray, flow: np.ndarray, prev_base: np.ndarray,
                             prev_detail: np.ndarray, scale: int, strength: float, tolerance: float,
                             blend_base: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The temporal stabiliser's step (see :func:`srstream.engine.kernels.stabilize_luma`):
    (change, next base, next detail), float32 planes of ``y``'s size."""
    height, width = y.shape
    h, w = flow.shape[:2]
    cols, ax = _upsample_taps(width, w, scale)
    rows, ay = _upsample_taps(height, h, scale)
    c1, r1 = np.minimum(cols + 1, w - 1), np.minimum(rows + 1, h - 1)
    one, s = _F32(1), _F32(scale)
    ax, ay = ax[None, :], ay[:, None]
    up = []
    for d in range(2):
        f = flow[..., d]
        top = (one - ax) * f[rows][:, cols] + ax * f[rows][:, c1]
        bottom = (one - ax) * f[r1][:, cols] + ax * f[r1][:, c1]
        up.append((one - ay) * top + ay * bottom)
    gy, gx = np.mgrid[0:height, 0:width].astype(_F32)
    mx, my = gx + s * up[0], gy + s * up[1]
    wb = _sample_bilinear(prev_base, mx, my)
    wd = _sample_bilinear(prev_detail, mx, my)
    k = _F32(strength) / _F32(tolerance)
    detail = y - base
    weight = np.maximum(_F32(strength) - np.abs(base - wb) * k, _F32(0))
    change = weight * (wd - detail)
    next_detail = detail + change
    if blend_base:
        moved = weight * (wb - base)
        return change + moved, base + moved, next_detail
    return change, base.copy(), next_detail


def stabilize_luma_codes_reference(codes: np.ndarray, gain: float, offset: float, base: np.ndarray, flow: np.ndarray,
                                   prev_base: np.ndarray, prev_detail: np.ndarray, scale: int, strength: float,
                                   tolerance: float, blend_base: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stabilize_luma_reference` on 8-bit luma codes (y = code * gain + offset): (the
    updated codes, next base, next detail)."""
    c = codes.astype(_F32)
    change, next_base, next_detail = stabilize_luma_reference(c * _F32(gain) + _F32(offset), base, flow, prev_base,
                                                              prev_detail, scale, strength, tolerance, blend_base)
    inv_gain = _F32(1.0 / gain)
    return np.clip(np.rint(c + change * inv_gain), 0, 255).astype(np.uint8), next_base, next_detail


def rgb_luma_reference(image: np.ndarray, weights: tuple[float, float, float]) -> np.ndarray:
    """The luma :func:`stabilize_rgb_reference` reads from an 8-bit RGB(A) image: ``(wr * R + wg *
    G) + wb * B`` in float32, in that order."""
    wr, wg, wb = (_F32(w) for w in weights)
    r, g, b = (image[..., c].astype(_F32) for c in range(3))
    return (wr * r + wg * g) + wb * b


def stabilize_rgb_reference(image: np.ndarray, weights: tuple[float, float, float], base: np.ndarray,
                            flow: np.ndarray, prev_base: np.ndarray, prev_detail: np.ndarray, scale: int,
                            strength: float, tolerance: float, blend_base: bool
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`stabilize_luma_reference` on an 8-bit RGB(A) image: (the updated image, R, G and B each
    ``round(sample + change)`` clamped to 0-255 and alpha kept, next base, next detail)."""
    change, next_base, next_detail = stabilize_luma_reference(rgb_luma_reference(image, weights), base, flow,
                                                              prev_base, prev_detail, scale, strength, tolerance,
                                                              blend_base)
    updated = image.copy()
    updated[..., :3] = np.clip(np.rint(image[..., :3].astype(_F32) + change[..., None]), 0, 255).astype(np.uint8)
    return updated, next_base, next_detail


def cap_plane_reference(out: np.ndarray, prev: np.ndarray, limit: np.ndarray, lut: np.ndarray, rows: np.ndarray,
                        cols: np.ndarray) -> np.ndarray:
    """numpy :func:`~srstream.engine.kernels.cap_plane`: ``out`` (uint8) clamped to within
    ``lut[limit[rows][:, cols]]`` of ``prev`` (saturating), as a new plane."""
    cap = lut[limit[rows][:, cols]].astype(np.int16)
    q = prev.astype(np.int16)
    return np.clip(out, np.maximum(q - cap, 0), np.minimum(q + cap, 255)).astype(np.uint8)


def conv_tail_reference(act: np.ndarray, act_scale: float, act_zero: int, weight: np.ndarray, bias: np.ndarray,
                        skip: np.ndarray, scale: int) -> np.ndarray:
    """numpy :func:`~srstream.engine.kernels.conv_tail`: a ``(H * scale, W * scale)`` float32 plane.

    ``act`` ``(C, H, W)`` int8/uint8 (dequantised as ``(q - act_zero) * act_scale``) or float32;
    per output channel: bias, plus weight times input over channels, rows, columns in that order,
    plus ``skip``, all in float32; then the channels are pixel-shuffled."""
    c, h, w = act.shape
    if act.dtype == _F32:
        x = act
    else:
        x = (act.astype(np.int32) - np.int32(act_zero)).astype(_F32) * _F32(act_scale)
    padded = np.zeros((c, h + 2, w + 2), _F32)
    padded[:, 1:-1, 1:-1] = x
    p = scale * scale
    acc = np.empty((p, h, w), _F32)
    for o in range(p):
        a = np.full((h, w), bias[o], _F32)
        for ch in range(c):
            for k in range(9):
                ky, kx = divmod(k, 3)
                a = a + _F32(weight[o, ch, ky, kx]) * padded[ch, ky:ky + h, kx:kx + w]
        acc[o] = a + skip
    return np.ascontiguousarray(acc.reshape(scale, scale, h, w).transpose(2, 0, 3, 1).reshape(h * scale, w * scale))

