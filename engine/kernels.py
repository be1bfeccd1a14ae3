"""The per-frame work around the network: pack frames into tiles, unpack and blend the results.

Each operation has a native kernel (``srstream.engine._native``, built from ``csrc/`` by the
root CMakeLists.txt) and a numpy reference in :mod:`srstream.engine.kernels_ref`. The
reference defines the result: float32 outputs of the kernels equal it bit for bit (``conv_tail``:
within float32 rounding, as it uses FMA),
float16/bfloat16 outputs within one unit in the last place, and the tests hold them to that.
When the extension is missing (a ``SRSTREAM_NATIVE=OFF`` build) the references run instead, and
that is logged once. The functions here check shapes and dtypes and raise
:class:`~srstream.errors.KernelError`; :class:`CudaKernels` runs the same operations on device
buffers.

Conventions: frames are ``(H, W, C)`` uint8/uint16, C = 1, 3 or 4, RGB order unless a mode says
otherwise; network tensors are planar float32, float16 or bfloat16 (carried as uint16 bits,
``BFLOAT16``). A network value is ``sample / peak * gain + bias``; the way back is
``clip(floor((v * inv_gain + inv_bias) * peak + 0.5), 0, peak)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from srstream.engine.kernels_ref import (
    BFLOAT16, BT601, BT709, PackMode, YuvMatrix, _check_frame, _check_planes, _check_yuv, _from_real, _origins,
    _out_channels, _real, _storage, _strided_rows, cap_plane_reference, conv_tail_reference, pack_tiles_reference,
    pack_tiles_yuv420_reference, stabilize_luma_codes_reference, stabilize_luma_reference, stabilize_rgb_reference,
    unpack_luma_residual_reference, unpack_reference, unpack_yuv420_reference,
)
from srstream.errors import KernelError
from srstream.tiling import TilePlan

__all__ = [
    "BFLOAT16", "BT601", "BT709", "CudaKernels", "PackMode", "YuvMatrix", "active", "blend_tables", "blend_tiles",
    "cap_plane", "cap_plane_reference", "conv_tail", "conv_tail_reference", "has_native",
    "cuda_status", "pack_tiles", "tile_origins", "pack_tiles_reference", "pack_tiles_yuv420",
    "pack_tiles_yuv420_reference",
    "stabilize_luma", "stabilize_luma_codes", "stabilize_luma_codes_reference", "stabilize_luma_reference",
    "stabilize_rgb", "stabilize_rgb_reference", "unpack",
    "unpack_luma_residual", "unpack_luma_residual_reference", "unpack_reference", "unpack_yuv420",
    "unpack_yuv420_reference",
]

log = logging.getLogger("srstream.engine")

_REAL_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, BFLOAT16: 2}
_SAMPLE_CODES = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1}


def _load() -> Any:
    # libgomp reads OMP_WAIT_POLICY once, when it loads with the extension below. By default its
    # idle worker threads spin for a while after every kernel; with few cores they then hold the
    # cores ONNX Runtime's thread pool needs for the inference that follows each pack (measured on
    # 2 cores, the bundled realtime-x2 on a 640x360 frame: 39-46 ms spinning, 29.4 ms passive,
    # with inference alone 28.2 ms). A user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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


# ---- pack ----------------------------------------------------------------------------------


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
    out = _tiles_out(out, (len(o), _out_channels(PackMode(mode)), tile_h, tile_w), real, "pack_tiles")
    if _native is None:
        out[...] = pack_tiles_reference(frame, o, tile_h, tile_w, mode, real, gain, bias)
        return out
    frame = _check_frame(frame, "pack_tiles")
    _native.pack_tiles(frame, int(mode), o, tile_h, tile_w, gain, bias, out, _REAL_CODES[real])
    return out


def _tiles_out(out: np.ndarray | None, shape: tuple[int, ...], real: Any, what: str) -> np.ndarray:
    """The tile batch a pack fills: ``out`` checked, or a new one."""
    if out is None:
        return np.empty(shape, _storage(real))
    if out.shape != shape or out.dtype != _storage(real) or not out.flags.c_contiguous:
        raise KernelError(f"{what}: out must be a contiguous {shape} {_storage(real)} array, got {out.shape} "
                          f"{out.dtype}")
    return out


def pack_tiles_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: YuvMatrix, origins: Any, tile_h: int,
                      tile_w: int, mode: PackMode = PackMode.RGB, real: Any = np.float32, gain: float = 1.0,
                      bias: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """A decoded 4:2:0 frame's planes -> network tiles, without an RGB frame in between.

    ``mode`` RGB converts with ``matrix`` (chroma interpolated to each luma site for MPEG-2/H.264
    siting: co-sited with even luma columns, halfway between rows; values clipped to [0, 1]);
    LUMA takes Y alone, rescaled to [0, 1]. Odd sizes: chroma planes are ceil(H/2) x ceil(W/2).
    ``out`` as for :func:`pack_tiles`.

    Raises:
        KernelError: wrong plane types or sizes, or a mode other than RGB/LUMA.
    """
    real = _real(real)
    _check_yuv(y, u, v, "pack_tiles_yuv420")
    if mode not in (PackMode.RGB, PackMode.LUMA):
        raise KernelError("pack_tiles_yuv420: mode must be RGB or LUMA")
    o = _origins(origins)
    out = _tiles_out(out, (len(o), _out_channels(mode), tile_h, tile_w), real, "pack_tiles_yuv420")
    if _native is None:
        out[...] = pack_tiles_yuv420_reference(y, u, v, matrix, o, tile_h, tile_w, mode, real, gain, bias)
        return out
    _native.pack_tiles_yuv420(y, u, v, *matrix, int(mode), o, tile_h, tile_w, gain, bias, out, _REAL_CODES[real])
    return out


# ---- unpack --------------------------------------------------------------------------------


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


def has_native() -> bool:
    """Whether the native kernels are loaded (not the numpy references)."""
    return _native is not None


def cap_plane(out: np.ndarray, prev: np.ndarray, limit: np.ndarray, lut: np.ndarray, rows: np.ndarray,
              cols: np.ndarray) -> None:
    """The change cap's clamp of one 8-bit plane (:mod:`srstream.engine.changecap`), in one pass:
    each ``out[Y, X]`` is clamped to within ``lut[limit[rows[Y], cols[X]]]`` of ``prev[Y, X]``
    (saturating at 0 and 255), and both planes take the result.

    ``out`` ``(H, W)`` uint8 with contiguous rows; ``prev`` a contiguous plane like it; ``limit``
    the cap at the input's size, uint8 with contiguous rows; ``lut`` 256 uint8 (the gain);
    ``rows`` ``(H,)`` and ``cols`` ``(W,)`` int32 indices into ``limit`` (the nearest-neighbour map).

    Raises:
        KernelError: other types or shapes, or an index out of range.
    """
    if _native is None:
        for name, a in (("out", out), ("prev", prev), ("limit", limit), ("lut", lut)):
            if a.dtype != np.uint8:
                raise KernelError(f"cap_plane: {name} must be uint8, got {a.dtype}")
        if prev.shape != out.shape or lut.shape != (256,) or rows.shape != out.shape[:1] or cols.shape != out.shape[1:]:
            raise KernelError(f"cap_plane: prev {prev.shape}, lut {lut.shape}, rows {rows.shape} and cols {cols.shape} "
                              f"do not fit out {out.shape}")
        if rows.min() < 0 or rows.max() >= limit.shape[0] or cols.min() < 0 or cols.max() >= limit.shape[1]:
            raise KernelError("cap_plane: a row or column map entry is out of range")
        out[...] = cap_plane_reference(out, prev, limit, lut, rows, cols)
        prev[...] = out
        return
    _native.cap_plane(out, prev, limit, lut, rows, cols)


def conv_tail(act: np.ndarray, act_scale: float, act_zero: int, weight: np.ndarray, bias: np.ndarray,
              skip: np.ndarray, scale: int, out: np.ndarray | None = None) -> np.ndarray:
    """A luma graph's last 3x3 conv (zero padding), its skip and its pixel shuffle, as an
    ``(H * scale, W * scale)`` float32 plane (see :func:`conv_tail_reference` for the arithmetic),
    written into ``out`` (a contiguous plane of that shape) when given, else a new one.

    ``act``: the ``(C, H, W)`` activations that conv reads, int8/uint8 (dequantised as
    ``(q - act_zero) * act_scale``) or float32; ``weight`` ``(scale^2, C, 3, 3)``, ``bias``
    ``(scale^2,)`` and ``skip`` ``(H, W)`` float32.

    Raises:
        KernelError: mismatched shapes or dtypes.
    """
    if act.ndim != 3 or act.dtype not in (np.int8, np.uint8, np.float32):
        raise KernelError(f"conv_tail: act must be (C, H, W) int8, uint8 or float32, got {act.dtype} {act.shape}")
    c, h, w = act.shape
    p = scale * scale
    weight, bias = np.ascontiguousarray(weight, np.float32), np.ascontiguousarray(bias, np.float32)
    skip = np.ascontiguousarray(skip, np.float32)
    if scale < 1 or weight.shape != (p, c, 3, 3) or bias.shape != (p,) or skip.shape != (h, w):
        raise KernelError(f"conv_tail: weight {weight.shape}, bias {bias.shape} and skip {skip.shape} do not fit "
                          f"activations {act.shape} at scale {scale}")
    if out is None:
        out = np.empty((h * scale, w * scale), np.float32)
    elif out.shape != (h * scale, w * scale) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise KernelError(f"conv_tail: out must be a contiguous float32 {(h * scale, w * scale)} plane, got "
                          f"{out.dtype} {out.shape}")
    if _native is None:
        out[...] = conv_tail_reference(act, act_scale, act_zero, weight, bias, skip, scale)
        return out
    _native.conv_tail(np.ascontiguousarray(act), float(act_scale), int(act_zero), weight, bias, skip, scale, out)
    return out


def unpack_luma_residual(luma: np.ndarray, base: np.ndarray, out: np.ndarray | None = None, *,
                         real: Any = np.float32, inv_gain: float = 1.0, inv_bias: float = 0.0) -> np.ndarray:
    """Luma models: ``base + (luma - luma(base))`` on R, G and B, as a frame.

    ``luma``: the model's ``(1, H, W)`` output (a strided crop is fine); ``base``: an RGB(A)
    frame whose chroma the result keeps: of the output size (an upscale of the input), or the
    input frame itself, of the output size divided by a whole scale, whose bilinear upscale
    (pixel centres, edges clamped: OpenCV's ``INTER_LINEAR``) is then made row by row in float,
    in the same pass. ``out``: an ``(H, W, 3|4)`` frame of base's type to fill (channels 0-2; it
    may be ``base`` itself when that is of the output size), else a new RGB frame.

    Raises:
        KernelError: mismatched shapes or dtypes.
    """
    real = _real(real)
    if luma.ndim == 2:
        luma = luma[None]
    _check_planes(luma, real, "unpack_luma_residual")
    base = _check_frame(base, "unpack_luma_residual")
    (height, width), (h, w) = luma.shape[1:], base.shape[:2]
    scale = height // h if h else 0
    if base.shape[2] < 3 or scale < 1 or (h * scale, w * scale) != (height, width):
        raise KernelError(f"unpack_luma_residual: base {base.shape} must be an RGB(A) frame of {luma.shape[1:]} "
                          "or of that size divided by a whole scale")
    if out is None:
        out = np.empty((height, width, 3), base.dtype)
    if out.ndim != 3 or out.shape[:2] != (height, width) or out.shape[2] < 3 or out.dtype != base.dtype:
        raise KernelError(f"unpack_luma_residual: frame {out.dtype} {out.shape} does not fit the luma "
                          f"{luma.shape[1:]} and base {base.dtype} {base.shape}")
    if scale > 1 and np.shares_memory(out, base):
        raise KernelError("unpack_luma_residual: the output cannot share memory with an input-sized base")
    if _native is None or _strided_rows(luma):
        out[:, :, :3] = unpack_luma_residual_reference(luma, base, real, inv_gain, inv_bias)
        return out
    _native.unpack_luma_residual(luma, _REAL_CODES[real], base, out, inv_gain, inv_bias, scale)
    return out


def stabilize_luma(y: np.ndarray, base: np.ndarray, flow: np.ndarray, prev_base: np.ndarray, prev_detail: np.ndarray,
                   *, scale: int, strength: float, tolerance: float, blend_base: bool,
                   out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The temporal stabiliser's per-pixel step (:mod:`srstream.engine.stabilize`), in one pass.

    ``y``: this frame's upscaled luma, ``base``: the bicubic upscale of its input's luma (both
    ``(H, W)`` float32, 0-255 scale); ``flow``: ``(H/scale, W/scale, 2)`` float32, where each
    input pixel was in the previous frame; ``prev_base``, ``prev_detail``: what the previous step
    returned. The flow is upsampled bilinearly (pixel centres, edges clamped), the previous base
    and detail are sampled bilinearly along it (edges replicated), and with weight =
    ``max(strength - |base - warped base| * strength / tolerance, 0)`` this frame's detail
    ``y - base`` moves towards the warped detail by that weight (and, with ``blend_base``, the
    base towards the warped base). Returns (change to add to ``y``, next base, next detail), in
    ``out`` if given: three planes like ``y``, none of them an input (a stabiliser alternates two
    sets for its state, so that no frame allocates).

    Raises:
        KernelError: planes of other types or sizes, a flow that is not the input's size, ``out``
            planes that are inputs.
    """
    out = _stabilize_checks("stabilize_luma", y, {"y": y, "base": base, "prev_base": prev_base,
                                                   "prev_detail": prev_detail}, flow, scale, tolerance, out, 3)
    if _native is None:
        for o, r in zip(out, stabilize_luma_reference(y, base, flow, prev_base, prev_detail, scale, strength,
                                                      tolerance, blend_base)):
            o[...] = r
        return out
    _native.stabilize_luma(y, base, flow, prev_base, prev_detail, *out, scale, strength, tolerance, blend_base)
    return out


def stabilize_luma_codes(codes: np.ndarray, base: np.ndarray, flow: np.ndarray, prev_base: np.ndarray,
                         prev_detail: np.ndarray, *, gain: float, offset: float, scale: int, strength: float,
                         tolerance: float, blend_base: bool,
                         out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stabilize_luma` on a frame's 8-bit luma codes (``(H, W)`` uint8, rows contiguous;
    luma = code * gain + offset on the 0-255 scale), updated in place to
    ``round(code + change / gain)`` clamped to 0-255: no float copy of the frame's luma and no
    change plane. Returns (next base, next detail), in ``out`` if given.

    Raises:
        KernelError: as :func:`stabilize_luma`; codes that are not a uint8 plane.
    """
    if codes.dtype != np.uint8 or codes.ndim != 2 or (codes.shape[1] > 1 and codes.strides[1] != 1):
        raise KernelError(f"stabilize_luma_codes: codes must be a uint8 (H, W) plane with contiguous rows, got "
                          f"{codes.dtype} {codes.shape}")
    out = _stabilize_checks("stabilize_luma_codes", codes, {"base": base, "prev_base": prev_base,
                                                            "prev_detail": prev_detail}, flow, scale, tolerance, out, 2)
    inv_gain = float(np.float32(1.0 / gain))
    if _native is None:
        updated, *state = stabilize_luma_codes_reference(codes, gain, offset, base, flow, prev_base, prev_detail,
                                                         scale, strength, tolerance, blend_base)
        codes[...] = updated
        for o, r in zip(out, state):
            o[...] = r
        return out
    _native.stabilize_luma_codes(codes, gain, offset, inv_gain, base, flow, prev_base, prev_detail, *out, scale,
                                 strength, tolerance, blend_base)
    return out


def stabilize_rgb(image: np.ndarray, base: np.ndarray, flow: np.ndarray, prev_base: np.ndarray,
                  prev_detail: np.ndarray, *, weights: tuple[float, float, float], scale: int, strength: float,
                  tolerance: float, blend_base: bool,
                  out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stabilize_luma` on an 8-bit RGB(A) frame (``(H, W, 3 or 4)`` uint8, rows contiguous):
    its luma is ``(wr * R + wg * G) + wb * B`` (``weights``, float32), and R, G and B are each updated
    in place to ``round(sample + change)`` clamped to 0-255, alpha kept: no float copy of the frame,
    no change plane and no merge. Returns (next base, next detail), in ``out`` if given.

    Raises:
        KernelError: as :func:`stabilize_luma`; an image that is not 8-bit RGB(A).
    """
    if (image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4) or image.strides[2] != 1
            or (image.shape[1] > 1 and image.strides[1] != image.shape[2])):
        raise KernelError(f"stabilize_rgb: image must be a uint8 (H, W, 3 or 4) array with contiguous rows, got "
                          f"{image.dtype} {image.shape}")
    planes = {"base": base, "prev_base": prev_base, "prev_detail": prev_detail}
    out = _stabilize_checks("stabilize_rgb", image[..., 0], planes, flow, scale, tolerance, out, 2)
    wr, wg, wb = (float(np.float32(w)) for w in weights)
    if _native is None:
        updated, *state = stabilize_rgb_reference(image, (wr, wg, wb), base, flow, prev_base, prev_detail, scale,
                                                  strength, tolerance, blend_base)
        image[...] = updated
        for o, r in zip(out, state):
            o[...] = r
        return out
    _native.stabilize_rgb(image, wr, wg, wb, base, flow, prev_base, prev_detail, *out, scale, strength, tolerance,
                          blend_base)
    return out


def _stabilize_checks(what: str, y: np.ndarray, planes: dict[str, np.ndarray], flow: np.ndarray, scale: int,
                      tolerance: float, out: tuple[np.ndarray, ...] | None, n_out: int) -> tuple[np.ndarray, ...]:
    """The stabiliser kernels' arguments checked; ``out`` or new float32 planes of ``y``'s size."""
    height, width = y.shape if y.ndim == 2 else (0, 0)
    for name, p in planes.items():
        if p.dtype != np.float32 or p.shape != (height, width) or not p.flags.c_contiguous or not height:
            raise KernelError(f"{what}: {name} must be a contiguous float32 (H, W) plane of the frame's size, got "
                              f"{p.dtype} {p.shape}")
    if (scale < 1 or flow.dtype != np.float32 or not flow.flags.c_contiguous
            or flow.shape != (height // scale, width // scale, 2) or height % scale or width % scale):
        raise KernelError(f"{what}: flow must be a contiguous float32 (H/{scale}, W/{scale}, 2) array for "
                          f"{height}x{width}, got {flow.dtype} {flow.shape}")
    if not tolerance > 0:
        raise KernelError(f"{what}: tolerance must be positive")
    if out is None:
        out = tuple(np.empty((height, width), np.float32) for _ in range(n_out))
    if len(out) != n_out:
        raise KernelError(f"{what}: out must hold {n_out} planes")
    for o in out:
        if o.dtype != np.float32 or o.shape != (height, width) or not o.flags.c_contiguous:
            raise KernelError(f"{what}: out planes must be contiguous float32 {(height, width)}, got {o.dtype} "
                              f"{o.shape}")
        if (any(np.may_share_memory(o, p) for p in (*planes.values(), flow, y))
                or sum(np.may_share_memory(o, q) for q in out) > 1):
            raise KernelError(f"{what}: the out planes must be separate arrays, none of them an input")
    return out


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
def tile_origins(plan: TilePlan) -> np.ndarray:
    """The plan's tile origins as the contiguous int32 ``(N, 2)`` array the kernels take (made
    once per plan, not per frame)."""
    origins = np.ascontiguousarray(plan.tiles, dtype=np.int32).reshape(-1, 2)
    origins.flags.writeable = False
    return origins


@lru_cache(maxsize=16)
def blend_tables(plan: TilePlan) -> tuple[np.ndarray, ...]:
    """The plan's blend tables as contiguous arrays (origins, row weights, tile rows, column
    weights, tile columns), as the CPU and CUDA blend kernels take them."""
    ncols = len(plan.cols.origins)
    index = np.arange(len(plan), dtype=np.int32)
    return (tile_origins(plan), np.stack(plan.row_weights), (index // ncols).astype(np.int32),
            np.stack(plan.col_weights), (index % ncols).astype(np.int32))


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
    origins, row_w, tile_row, col_w, tile_col = blend_tables(plan)
    out = np.empty((tiles.shape[1], *plan.output_shape), np.float32)
    _native.blend_tiles(tiles, _REAL_CODES[real], origins, s, row_w, tile_row, col_w, tile_col, out)
    return out


# ---- CUDA ----------------------------------------------------------------------------------


class CudaKernels:
    """The CUDA kernels on device buffers passed as integer pointers (pycuda, TensorRT, torch).

    Every call names each argument (the extension declares the names), so an argument passed in
    the wrong place fails with a TypeError instead of being read as another.

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
        self._m.pack_tiles(frame=frame, sample=_SAMPLE_CODES[np.dtype(sample)], h=h, w=w, c=c, row_stride=row_stride,
                           mode=int(mode), origins=origins, n=n_tiles, th=tile_h, tw=tile_w, gain=gain, bias=bias,
                           out=out, real=_REAL_CODES[_real(real)], stream=stream)

    def pack_tiles_yuv420(self, planes: Sequence[int], strides: tuple[int, int], frame_shape: tuple[int, int],
                          matrix: YuvMatrix, origins: int, n_tiles: int, tile_h: int, tile_w: int, mode: PackMode,
                          out: int, real: Any, gain: float = 1.0, bias: float = 0.0, stream: int = 0) -> None:
        """Device Y, U, V planes (``strides``: Y's and the chroma planes' row strides in bytes)
        of an ``(H, W)`` 4:2:0 frame -> tiles at ``out``, as :func:`pack_tiles_yuv420`."""
        y, u, v = planes
        kr, kb, full = matrix
        self._m.pack_tiles_yuv420(y=y, ys=strides[0], u=u, v=v, uvs=strides[1], h=frame_shape[0], w=frame_shape[1],
                                  kr=kr, kb=kb, full=full, mode=int(mode), origins=origins, n=n_tiles, th=tile_h,
                                  tw=tile_w, gain=gain, bias=bias, out=out, real=_REAL_CODES[_real(real)],
                                  stream=stream)

    def unpack_yuv420(self, planes: int, real: Any, shape: tuple[int, int], channel_stride: int, row_stride: int,
                      out: Sequence[int], strides: tuple[int, int], matrix: YuvMatrix, inv_gain: float = 1.0,
                      inv_bias: float = 0.0, stream: int = 0) -> None:
        """Device RGB planes ``(3, H, W)`` -> device Y, U, V planes, as :func:`unpack_yuv420`."""
        y, u, v = out
        kr, kb, full = matrix
        self._m.unpack_yuv420(planes=planes, real=_REAL_CODES[_real(real)], h=shape[0], w=shape[1], cs=channel_stride,
                              rs=row_stride, y=y, ys=strides[0], u=u, v=v, uvs=strides[1], kr=kr, kb=kb, full=full,
                              inv_gain=inv_gain, inv_bias=inv_bias, stream=stream)

    def unpack(self, planes: int, real: Any, planes_shape: tuple[int, int, int], channel_stride: int,
               row_stride: int, frame: int, frame_channels: int, sample: Any, frame_row_stride: int,
               inv_gain: float = 1.0, inv_bias: float = 0.0, stream: int = 0) -> None:
        """Device planes ``(C, H, W)`` -> device frame ``(H, W, frame_channels)``, channels 0..C-1."""
        c, h, w = planes_shape
        self._m.unpack(planes=planes, real=_REAL_CODES[_real(real)], c=c, h=h, w=w, cs=channel_stride, rs=row_stride,
                       frame=frame, sample=_SAMPLE_CODES[np.dtype(sample)], fc=frame_channels, frs=frame_row_stride,
                       inv_gain=inv_gain, inv_bias=inv_bias, stream=stream)

    def blend_tiles(self, tiles: int, real: Any, tiles_shape: tuple[int, int, int, int], tables: Sequence[int],
                    scale: int, out: int, out_shape: tuple[int, int], stream: int = 0) -> None:
        """Contiguous device tiles ``(N, C, h, w)`` -> device float32 ``(C, *out_shape)``. ``tables``:
        device pointers of :func:`blend_tables`' five arrays, in order."""
        n, c, h, w = tiles_shape
        origins, row_w, tile_row, col_w, tile_col = tables
        self._m.blend_tiles(tiles=tiles, real=_REAL_CODES[_real(real)], n=n, c=c, th=h, tw=w, ts=c * h * w, cs=h * w,
                            rs=w, origins=origins, scale=scale, row_w=row_w, tile_row=tile_row, col_w=col_w,
                            tile_col=tile_col, out=out, out_h=out_shape[0], out_w=out_shape[1], stream=stream)

