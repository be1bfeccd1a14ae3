"""The per-frame work around the network: pack frames into tiles, unpack and blend the results.

Each operation has a native kernel (``srstream.engine._native``, built from ``csrc/`` by the
root CMakeLists.txt) and a numpy reference here. The reference defines the result: float32
outputs of the kernels equal it bit for bit, float16/bfloat16 outputs within one unit in the last
place (the rounding of a value both compute alike), and the tests hold them to that. When the
extension is missing (a ``SRSTREAM_NATIVE=OFF`` build) the references run instead, and that is
logged once.

Conventions: frames are ``(H, W, C)`` uint8/uint16, C = 1, 3 or 4, RGB order unless a mode says
otherwise; network tensors are planar float32, float16 or bfloat16 (carried as uint16 bits,
``BFLOAT16``). A network value is ``sample / peak * gain + bias``; the way back is
``clip(floor((v * inv_gain + inv_bias) * peak + 0.5), 0, peak)``.
"""

from __future__ import annotations

import enum
import logging
from functools import lru_cache
from collections.abc import Sequence
from typing import Any

import numpy as np

from srstream.errors import KernelError
from srstream.images import LUMA_BT601
from srstream.tiling import TilePlan

__all__ = [
    "BFLOAT16", "BT601", "BT709", "CudaKernels", "PackMode", "YuvMatrix", "active", "cuda_status", "blend_tables", "blend_tiles",
    "pack_tiles",
    "pack_tiles_yuv420", "unpack", "unpack_luma_residual", "unpack_yuv420",
]

log = logging.getLogger("srstream.engine")

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

_REAL_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, BFLOAT16: 2}
_F32 = np.float32
_LUMA = tuple(_F32(w) for w in LUMA_BT601)


def _load() -> Any:
    try:
        from srstream.engine import _native
    except ImportError as exc:
        log.warning("native frame kernels unavailable (%s); using the slower numpy kernels. Reinstall sr-stream "
                    "with a C++ compiler present to build them.", exc)
        return None
    return _native


_native = _load()


def active() -> str:
    """Which kernels run: ``native (isa=..., openmp=...)`` or ``numpy``."""
    return f"native ({_native.build_info()})" if _native is not None else "numpy"


def cuda_status() -> str:
    """Whether the CUDA kernels are built and see a device, for ``sr-stream info``."""
    try:
        from srstream.engine import _native_cuda
    except ImportError:
        return "not built (no CUDA toolkit when sr-stream was installed)"
    count = _native_cuda.device_count()
    return f"built, {count} device(s) visible" if count else "built, no CUDA device visible"


def _real(dtype: Any) -> Any:
    if isinstance(dtype, str) and dtype == BFLOAT16:
        return BFLOAT16
    d = np.dtype(dtype)
    if d not in _REAL_CODES:
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


# ---- pack ----------------------------------------------------------------------------------


def _out_channels(mode: PackMode) -> int:
    return 3 if mode in (PackMode.RGB, PackMode.BGR) else 1


def pack_tiles_reference(frame: np.ndarray, origins: np.ndarray, tile_h: int, tile_w: int, mode: PackMode,
                         real: Any = np.float32, gain: float = 1.0, bias: float = 0.0) -> np.ndarray:
    """numpy :func:`pack_tiles`."""
    real = _real(real)
    frame = _check_frame(frame, "pack_tiles")
    h, w, c = frame.shape
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
    chw = _affine(np.stack(planes), gain, bias)
    tiles = []
    for oy, ox in _origins(origins):
        rows = _reflect(np.arange(oy, oy + tile_h), h)
        cols = _reflect(np.arange(ox, ox + tile_w), w)
        tiles.append(chw[:, rows][:, :, cols])
    return _to_real(np.stack(tiles), real)


def pack_tiles(frame: np.ndarray, origins: Any, tile_h: int, tile_w: int, mode: PackMode = PackMode.RGB,
               real: Any = np.float32, gain: float = 1.0, bias: float = 0.0, out: np.ndarray | None = None
               ) -> np.ndarray:
    """Frame -> ``(N, C_out, tile_h, tile_w)`` network tiles at ``origins`` (``(N, 2)`` y, x).

    Positions past the frame's bottom/right are mirrored (numpy ``reflect``), so the origins of
    a :class:`~srstream.tiling.TilePlan` over the padded frame can be used directly. ``out``, if
    given, is filled in place (contiguous, the right shape and type).

    Raises:
        KernelError: a frame, dtype or shape the kernels do not take.
    """
    real = _real(real)
    o = _origins(origins)
    if _native is None:
        result = pack_tiles_reference(frame, o, tile_h, tile_w, mode, real, gain, bias)
        if out is not None:
            out[...] = result
            return out
        return result
    frame = _check_frame(frame, "pack_tiles")
    shape = (len(o), _out_channels(PackMode(mode)), tile_h, tile_w)
    if out is None:
        out = np.empty(shape, _storage(real))
    elif out.shape != shape or out.dtype != _storage(real):
        raise KernelError(f"pack_tiles: out must be {shape} {_storage(real)}, got {out.shape} {out.dtype}")
    _native.pack_tiles(frame, int(mode), o, tile_h, tile_w, gain, bias, out, _REAL_CODES[real])
    return out


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
    real = _real(real)
    chw = _affine(np.stack(_yuv_to_rgb(y, u, v, matrix, mode == PackMode.LUMA)), gain, bias)
    h, w = y.shape
    tiles = [chw[:, _reflect(np.arange(oy, oy + tile_h), h)][:, :, _reflect(np.arange(ox, ox + tile_w), w)]
             for oy, ox in _origins(origins)]
    return _to_real(np.stack(tiles), real)


def _check_yuv(y: np.ndarray, u: np.ndarray, v: np.ndarray, what: str) -> None:
    cshape = ((y.shape[0] + 1) // 2, (y.shape[1] + 1) // 2) if y.ndim == 2 else None
    if any(p.dtype != np.uint8 or p.ndim != 2 for p in (y, u, v)) or u.shape != cshape or v.shape != cshape:
        raise KernelError(f"{what}: expected uint8 planes Y (H, W) and U, V (ceil(H/2), ceil(W/2)), got "
                          f"{[(p.dtype.name, p.shape) for p in (y, u, v)]}")


def pack_tiles_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: YuvMatrix, origins: Any, tile_h: int,
                      tile_w: int, mode: PackMode = PackMode.RGB, real: Any = np.float32, gain: float = 1.0,
                      bias: float = 0.0) -> np.ndarray:
    """A decoded 4:2:0 frame's planes -> network tiles, without an RGB frame in between.

    ``mode`` RGB converts with ``matrix`` (chroma interpolated to each luma site for MPEG-2/H.264
    siting: co-sited with even luma columns, halfway between rows; values clipped to [0, 1]);
    LUMA takes Y alone, rescaled to [0, 1]. Odd sizes: chroma planes are ceil(H/2) x ceil(W/2).

    Raises:
        KernelError: wrong plane types or sizes, or a mode other than RGB/LUMA.
    """
    real = _real(real)
    _check_yuv(y, u, v, "pack_tiles_yuv420")
    if mode not in (PackMode.RGB, PackMode.LUMA):
        raise KernelError("pack_tiles_yuv420: mode must be RGB or LUMA")
    o = _origins(origins)
    if _native is None:
        return pack_tiles_yuv420_reference(y, u, v, matrix, o, tile_h, tile_w, mode, real, gain, bias)
    out = np.empty((len(o), _out_channels(mode), tile_h, tile_w), _storage(real))
    _native.pack_tiles_yuv420(y, u, v, *matrix, int(mode), o, tile_h, tile_w, gain, bias, out, _REAL_CODES[real])
    return out


# ---- unpack --------------------------------------------------------------------------------


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


def unpack(planes: np.ndarray, out: np.ndarray | None = None, *, dtype: Any = np.uint8, real: Any = np.float32,
           inv_gain: float = 1.0, inv_bias: float = 0.0) -> np.ndarray:
    """``(C, H, W)`` network planes -> an ``(H, W, C)`` frame, rounded and clamped.

    ``planes`` may be a strided view (a crop of a padded output). With ``out`` (an ``(H, W, C')``
    frame, C' >= C, e.g. RGBA whose alpha is written elsewhere) channels 0..C-1 are written in
    place; otherwise a new ``dtype`` frame is returned.

    Raises:
        KernelError: mismatched shapes or dtypes.
    """
    real = _real(real)
    _check_planes(planes, real, "unpack")
    if out is None:
        out = np.empty((*planes.shape[1:], planes.shape[0]), np.dtype(dtype))
    if out.ndim != 3 or out.shape[:2] != planes.shape[1:] or out.shape[2] < planes.shape[0]:
        raise KernelError(f"unpack: frame {out.shape} does not fit planes {planes.shape}")
    if _native is None or _strided_rows(planes):
        out[:, :, :planes.shape[0]] = unpack_reference(planes, out.dtype, real, inv_gain, inv_bias)
        return out
    _native.unpack(planes, _REAL_CODES[real], out, inv_gain, inv_bias)
    return out


def unpack_luma_residual_reference(luma: np.ndarray, base: np.ndarray, real: Any = np.float32,
                                   inv_gain: float = 1.0, inv_bias: float = 0.0) -> np.ndarray:
    """numpy :func:`unpack_luma_residual` (a new RGB frame)."""
    m = _affine(_from_real(luma.reshape(luma.shape[-2:]), _real(real)), inv_gain, inv_bias)
    peak = _peak(base.dtype)
    b = base[..., :3].astype(_F32) * (_F32(1.0) / peak)
    yb = b[..., 0] * _LUMA[0]
    yb += b[..., 1] * _LUMA[1]
    yb += b[..., 2] * _LUMA[2]
    d = m - yb
    return _quantise(b + d[..., None], peak, base.dtype)


def unpack_luma_residual(luma: np.ndarray, base: np.ndarray, out: np.ndarray | None = None, *,
                         real: Any = np.float32, inv_gain: float = 1.0, inv_bias: float = 0.0) -> np.ndarray:
    """Luma models: ``base + (luma - luma(base))`` on R, G and B, as a frame.

    ``luma``: the model's ``(1, H, W)`` output (a strided crop is fine); ``base``: an RGB(A)
    frame of the output size (the bicubic upscale of the input), whose chroma the result keeps.
    ``out``: an ``(H, W, 3|4)`` frame of base's type to fill (channels 0-2; it may be ``base``
    itself), else a new RGB frame.

    Raises:
        KernelError: mismatched shapes or dtypes.
    """
    real = _real(real)
    if luma.ndim == 2:
        luma = luma[None]
    _check_planes(luma, real, "unpack_luma_residual")
    base = _check_frame(base, "unpack_luma_residual")
    if base.shape[:2] != luma.shape[1:] or base.shape[2] < 3:
        raise KernelError(f"unpack_luma_residual: base {base.shape} must be an RGB(A) frame of {luma.shape[1:]}")
    if out is None:
        out = np.empty((*base.shape[:2], 3), base.dtype)
    if out.ndim != 3 or out.shape[:2] != base.shape[:2] or out.shape[2] < 3 or out.dtype != base.dtype:
        raise KernelError(f"unpack_luma_residual: frame {out.dtype} {out.shape} does not fit base {base.dtype} "
                          f"{base.shape}")
    if _native is None or _strided_rows(luma):
        out[:, :, :3] = unpack_luma_residual_reference(luma, base, real, inv_gain, inv_bias)
        return out
    _native.unpack_luma_residual(luma, _REAL_CODES[real], base, out, inv_gain, inv_bias)
    return out


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


def unpack_yuv420(planes: np.ndarray, matrix: YuvMatrix, *, real: Any = np.float32, inv_gain: float = 1.0,
                  inv_bias: float = 0.0, out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(3, H, W)`` RGB network planes -> Y, U, V planes of a 4:2:0 frame for the encoder.

    Chroma is sited as MPEG-2/H.264 4:2:0 expects (co-sited with even luma columns, halfway
    between rows): each chroma sample converts the mean R, G, B of a [1 2 1]/4 filter across
    columns 2j-1..2j+1 over rows 2i and 2i+1 (borders clamped). Values are clipped to [0, 1]
    first. ``out``: three planes to fill (Y ``(H, W)``, U and V ``(ceil(H/2), ceil(W/2))``), e.g.
    views into the encoder's frame; otherwise new ones are returned.

    Raises:
        KernelError: not three planes, or the wrong dtype.
    """
    real = _real(real)
    _check_planes(planes, real, "unpack_yuv420")
    if planes.shape[0] != 3:
        raise KernelError(f"unpack_yuv420: needs 3 RGB planes, got {planes.shape[0]}")
    h, w = planes.shape[1:]
    if out is None:
        out = (np.empty((h, w), np.uint8), *(np.empty(((h + 1) // 2, (w + 1) // 2), np.uint8) for _ in range(2)))
    y, u, v = out
    if y.shape != (h, w):
        raise KernelError(f"unpack_yuv420: Y plane {y.shape} does not match planes {planes.shape}")
    _check_yuv(y, u, v, "unpack_yuv420")
    if _native is None or _strided_rows(planes):
        for dst, src in zip(out, unpack_yuv420_reference(planes, matrix, real, inv_gain, inv_bias)):
            dst[...] = src
        return out
    _native.unpack_yuv420(planes, _REAL_CODES[real], y, u, v, *matrix, inv_gain, inv_bias)
    return out


# ---- blend ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _blend_tables(plan: TilePlan) -> tuple[np.ndarray, ...]:
    ncols = len(plan.cols.origins)
    index = np.arange(len(plan), dtype=np.int32)
    return (np.ascontiguousarray(plan.tiles, dtype=np.int32).reshape(-1, 2), np.stack(plan.row_weights),
            (index // ncols).astype(np.int32), np.stack(plan.col_weights), (index % ncols).astype(np.int32))


def blend_tiles(tiles: np.ndarray, plan: TilePlan, *, real: Any = np.float32) -> np.ndarray:
    """``(N, C, tile_h*s, tile_w*s)`` tile outputs -> the ``(C, H*s, W*s)`` float32 frame.

    Each tile is weighted by its plan's blend weights (which sum to 1 per pixel) and
    accumulated in tile order, exactly as :func:`srstream.tiling.blend_tiles` (the reference).

    Raises:
        KernelError: tiles that do not match the plan.
    """
    real = _real(real)
    s = plan.scale
    th, tw = plan.tile_shape
    if tiles.ndim != 4 or tiles.shape[0] != len(plan) or tiles.shape[2:] != (th * s, tw * s) \
            or tiles.dtype != _storage(real):
        raise KernelError(f"blend_tiles: tiles {tiles.dtype} {tiles.shape} do not match the plan "
                          f"({len(plan)}, C, {th * s}, {tw * s}) {real}")
    if _native is None or _strided_rows(tiles):
        from srstream.tiling import blend_tiles as reference

        return reference(_from_real(tiles, real), plan)
    origins, row_w, tile_row, col_w, tile_col = _blend_tables(plan)
    out = np.empty((tiles.shape[1], *plan.output_shape), _F32)
    _native.blend_tiles(tiles, _REAL_CODES[real], origins, s, row_w, tile_row, col_w, tile_col, out)
    return out


# ---- CUDA ----------------------------------------------------------------------------------


class CudaKernels:
    """The CUDA kernels on device buffers passed as integer pointers (pycuda, TensorRT, torch).

    Every call is queued on ``stream`` (a ``cudaStream_t`` as an integer; 0 is the default
    stream) and returns at once. Buffers are the caller's; shapes are given explicitly.

    Raises:
        BackendError: the CUDA kernels were not built, or no CUDA device is visible.
    """

    def __init__(self) -> None:
        from srstream.errors import BackendError

        try:
            from srstream.engine import _native_cuda
        except ImportError as exc:
            raise BackendError("the CUDA frame kernels were not built (no CUDA toolkit when sr-stream was "
                               "installed); reinstall with nvcc on PATH") from exc
        if _native_cuda.device_count() < 1:
            raise BackendError("no CUDA device is visible for the CUDA frame kernels")
        self._m = _native_cuda

    def pack_tiles(self, frame: int, frame_shape: tuple[int, int, int], sample: Any, row_stride: int, origins: int,
                   n_tiles: int, tile_h: int, tile_w: int, mode: PackMode, out: int, real: Any,
                   gain: float = 1.0, bias: float = 0.0, stream: int = 0) -> None:
        """Device frame ``(H, W, C)`` (``row_stride`` samples per row) -> tiles at ``out``.
        ``origins``: a device int32 ``(n_tiles, 2)`` array."""
        h, w, c = frame_shape
        self._m.pack_tiles(frame, 0 if np.dtype(sample) == np.uint8 else 1, h, w, c, row_stride, int(mode), origins,
                           n_tiles, tile_h, tile_w, gain, bias, out, _REAL_CODES[_real(real)], stream)

    def unpack(self, planes: int, real: Any, planes_shape: tuple[int, int, int], channel_stride: int,
               row_stride: int, frame: int, frame_channels: int, sample: Any, frame_row_stride: int,
               inv_gain: float = 1.0, inv_bias: float = 0.0, stream: int = 0) -> None:
        """Device planes ``(C, H, W)`` -> device frame ``(H, W, frame_channels)``, channels 0..C-1."""
        c, h, w = planes_shape
        self._m.unpack(planes, _REAL_CODES[_real(real)], c, h, w, channel_stride, row_stride, frame, frame_channels,
                       0 if np.dtype(sample) == np.uint8 else 1, frame_row_stride, inv_gain, inv_bias, stream)

    def blend_tiles(self, tiles: int, real: Any, tiles_shape: tuple[int, int, int, int], tables: Sequence[int],
                    scale: int, out: int, out_shape: tuple[int, int], stream: int = 0) -> None:
        """Contiguous device tiles ``(N, C, h, w)`` -> device float32 ``(C, *out_shape)``. ``tables``:
        device pointers of :func:`blend_tables`' five arrays, in order."""
        n, c, h, w = tiles_shape
        origins, row_w, tile_row, col_w, tile_col = tables
        self._m.blend_tiles(tiles, _REAL_CODES[_real(real)], n, c, h, w, c * h * w, h * w, w, origins, scale, row_w,
                            tile_row, col_w, tile_col, out, *out_shape, stream)


def blend_tables(plan: TilePlan) -> tuple[np.ndarray, ...]:
    """The plan's blend tables as contiguous arrays (origins, row weights, tile rows, column
    weights, tile columns), as the CPU and CUDA blend kernels take them."""
    return _blend_tables(plan)
