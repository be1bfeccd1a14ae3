"""One frame in, one upscaled frame out: colour handling, tiling, batching and blending.

The tile plan comes from the core planner (one static tile shape per frame size, overlap >= the
model's receptive-field margin, blend weights that make the tiled result equal the whole-frame
one) and is made once per resolution. Frames go straight from uint8/uint16 samples into the
backend's tile batches, and the outputs straight back into samples, through the native kernels
of :mod:`srstream.engine.kernels` (numpy references when the extension is not built).

Colour: RGB models see RGB; a grey image is fed as three equal channels and its luma kept. Luma
(``y``) models see the BT.601 luma of a colour frame; the result is the bicubic upscale with its
luma replaced by the model's (chroma kept). An alpha channel is upscaled bicubically. 16-bit
images stay 16-bit.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from srstream.engine import kernels
from srstream.engine.backends.base import Backend
from srstream.engine.reuse import RegionReuse, ReuseStats
from srstream.errors import ConfigError, InputError, ModelError
from srstream.images import LUMA_BT601
from srstream.spec import ModelSpec
from srstream.tiling import TilePlan, plan_for_spec

__all__ = ["FrameUpscaler", "OutputSize", "ResizedUpscaler", "TileableUpscaler", "choose_tile", "for_pictures",
           "in_lane", "lanes_of", "later", "output_size", "wrapped_sideways"]

#: A frame whose upscale would hold more than a quarter of this machine's memory in working buffers
#: at once (the network's float32 output planes, twice over while tiles are blended, and a 16-bit
#: base image for luma models: about 18 bytes per output pixel; None: that quarter, or a number of
#: bytes) is upscaled in bands of input rows of about :data:`BAND_BYTES` each, every band with the
#: model's margin of context above and below, cropped and written into the output: the same
#: samples, and memory that grows with the output's samples alone. A 12-megapixel photo at x4
#: (2-core first-generation Zen, OpenVINO fp32): 3.32 GB peak in one piece, 2.07 GB in bands, for
#: 9% more time (the context rows upscaled twice); so only where memory is short.
BAND_FROM_BYTES: int | None = None
BAND_BYTES = 512 << 20

_LUMA = np.array(LUMA_BT601, np.float32)


_LANE = threading.local()  # which of a run's network threads this is (see in_lane)


@contextmanager
def in_lane(index: int) -> Iterator[None]:
    """While in this block, the calling thread is lane ``index`` of a run that upscales several
    frames at once (a file's: ``UpscaleStage.lanes``): each :class:`FrameUpscaler` then runs its
    frames on its own copy for that lane, with the backend's :meth:`~Backend.lane` (its own requests,
    tile buffers and region reuse), so the lanes never wait for each other; outside, on one."""
    _LANE.index = index
    try:
        yield
    finally:
        _LANE.index = None


def later(upscaler: Any, method: str, *args: Any) -> Callable[[], np.ndarray]:  # noqa: ANN401 - any upscaler
    """``upscaler.<method>(*args)`` (``upscale`` or ``upscale_yuv420``) in two parts: the network's,
    run now, and the steps that wrappers add after it (the stabiliser, the change cap, a resize),
    run when the returned function is called. With lanes (a file's frames two at a time: see
    :func:`in_lane`) the pipeline calls it on its ``finish`` thread, in order, while the lanes run
    the network on the frames after.

    A wrapper splits its frames by a ``<method>_later`` method of its class, which calls this on the
    upscaler it wraps and returns a function that finishes the frame. Any other upscaler (the plain
    :class:`FrameUpscaler`, a wrapper without one) runs the whole call now. Each returned function
    is to be called once, in the order of the calls that made them: the steps keep the frame before
    as their state. The network's part of later frames may run meanwhile."""
    split = getattr(type(upscaler), f"{method}_later", None)  # the class's own: never the wrapped one's
    if split is not None:
        return split(upscaler, *args)
    done = getattr(upscaler, method)(*args)
    return lambda: done


def lanes_of(upscaler: Any) -> int:  # noqa: ANN401 - any upscaler
    """How many frames ``upscaler`` may run at once (:func:`in_lane`): the ``lanes`` of the upscaler at
    the bottom of its wrappers (a :class:`FrameUpscaler`'s: its backend's) where every wrapper above
    it splits its frames (``upscale_later``: :func:`later`), so that their steps, which keep the
    frame before, run once per frame and in order; 1 where one does not."""
    while "inner" in vars(upscaler):
        if getattr(type(upscaler), "upscale_later", None) is None:
            return 1
        upscaler = vars(upscaler)["inner"]
    return max(1, int(getattr(upscaler, "lanes", 1)))


@functools.cache
def _quarter_of_memory() -> int:
    from srstream.sysinfo import total_memory

    return total_memory() // 4


def choose_tile(spec: ModelSpec, backend: Backend, height: int, width: int, requested: int | str = "auto") -> int:
    """``--tile``: an explicit size, or ``auto``.

    ``auto``: the backend's static tile if it has one; whole frames (0) when the estimated
    activation memory of one frame fits the backend's budget, since tiles repeat the overlap;
    else the spec's recommended tile. The estimate counts ``features`` float32 maps at input
    resolution three times over (a conv's input, output and a skip) plus the upsampled ones.
    """
    if backend.fixed_tile:  # a graph of one input size: tiles of that size, whatever the frame's (whole: none)
        if requested not in ("auto", 0, backend.fixed_tile):
            raise ConfigError(f"--tile {requested}: {spec.name} takes {backend.fixed_tile}x{backend.fixed_tile} "
                              f"pictures only; drop --tile or pass --tile {backend.fixed_tile}")
        return backend.fixed_tile
    if requested != "auto":
        # a tile as large as the frame is the whole frame: never pad a frame up to a huge tile
        return 0 if int(requested) >= max(height, width) else int(requested)
    features = int(spec.arch_params.get("features", 64))
    estimate = 4 * height * width * features * (3 + spec.scale * spec.scale)
    return 0 if estimate <= backend.memory_budget() else spec.tile


class FrameUpscaler:
    """Upscale ``(H, W, C)`` uint8/uint16 frames (C = 1, 2 (grey and alpha), 3 or 4; RGB order) with ``backend``."""

    def __init__(self, backend: Backend, spec: ModelSpec, tile: int | str = "auto", *, ensemble: bool = False,
                 reuse: bool = False) -> None:
        self.backend, self.spec, self.tile, self.ensemble = backend, spec, tile, ensemble
        # frames in order (a video, a live source): run the network only where the input changed
        # (srstream.engine.reuse); off where the same frame is timed over and over (autotune, bench), and
        # where the margin is no bound: a net that reaches the whole picture (its spec says whole frames
        # only, tile 0: a GroupNorm's statistics) or a foreign graph's, measured to half a level, not exact
        exact_margin = spec.tile > 0 and spec.arch != "foreign"
        self._reuse = RegionReuse(spec.margin, spec.scale, backend.max_batch) \
            if reuse and exact_margin and not ensemble and not backend.fixed_tile and spec.size_multiple == 1 else None
        self._plans: dict[tuple[int, int], TilePlan] = {}
        self._tiles: dict[TilePlan, np.ndarray] = {}  # packed-tile buffers, reused frame after frame
        low, high = spec.value_range
        self._gain, self._bias = high - low, low  # [0, 1] -> the model's value range
        self._inv_gain, self._inv_bias = 1.0 / (high - low), -low / (high - low)  # and back
        # a luma model, or an RGB compact_y model whose backend runs its luma-only graph (then the
        # chroma is carried bilinearly, as that model's own graph carries it)
        self._luma = spec.color_space == "y" or backend.luma_graph
        self._chroma = cv2.INTER_LINEAR if backend.luma_graph else cv2.INTER_CUBIC
        self._channels = 1 if self._luma else spec.in_channels
        self._mode = kernels.PackMode.LUMA if self._luma else kernels.PackMode.RGB
        self._lanes: dict[int, FrameUpscaler] = {}  # in_lane: a copy per lane, made when first used
        self._making = threading.Lock()

    @property
    def lanes(self) -> int:
        """How many frames this runs at once to best effect when frames queue up: the backend's
        :meth:`~srstream.engine.backends.base.Backend.lanes` (1 with the self-ensemble)."""
        return 1 if self.ensemble else self.backend.lanes()

    def _in_lane(self) -> FrameUpscaler:
        """The copy of this upscaler for the calling thread's lane (:func:`in_lane`), or itself."""
        index = getattr(_LANE, "index", None)
        if index is None or self.lanes < 2:
            return self
        lane = self._lanes.get(index)
        if lane is None:
            with self._making:
                lane = self._lanes.get(index)
                if lane is None:
                    lane = FrameUpscaler(self.backend.lane(), self.spec, self.tile, reuse=self._reuse is not None)
                    self._lanes[index] = lane
        return lane

    @property
    def reuse_stats(self) -> ReuseStats | None:
        """What running the network only where frames changed spared (None: not on), lanes included."""
        if self._reuse is None:
            return None
        if not self._lanes:
            return self._reuse.stats
        return ReuseStats.total([self._reuse.stats, *(lane._reuse.stats for lane in self._lanes.values())])

    def _tile_buffer(self, plan: TilePlan) -> np.ndarray:
        """The ``(N, C_in, tile_h, tile_w)`` input buffer of ``plan``, allocated once: a fresh one
        per frame would cost a page fault per 4 KiB (about 0.3 ms per 1080p frame)."""
        if plan not in self._tiles:
            shape = (len(plan), self._channels, *plan.tile_shape)
            self._tiles = {plan: np.empty(shape, self.backend.input_dtype)}
        return self._tiles[plan]

    def plan(self, height: int, width: int) -> TilePlan:
        key = (height, width)
        if key not in self._plans:
            tile = choose_tile(self.spec, self.backend, height, width, self.tile)
            self._plans[key] = plan_for_spec(self.spec, height, width, tile=tile)
        return self._plans[key]

    def tile_label(self, height: int, width: int) -> str:
        plan = self.plan(height, width)
        th, tw = plan.tile_shape
        return "whole frame" if len(plan) == 1 else f"{th}x{tw} tiles (overlap {plan.overlap}), {len(plan)} per frame"

    def _infer(self, tiles: np.ndarray, plan: TilePlan) -> np.ndarray:
        """Packed tiles -> the network's blended ``(C_out, H*s, W*s)`` float32 planes in its value
        range (a view of the backend's output, or of the output kept for reuse, when one tile
        covers the frame)."""
        if self._reuse is not None:
            out = self._reuse.run(tiles, self._run) if len(plan) == 1 else self._reuse.run_tiles(tiles, self._run)
        else:
            step = max(1, self.backend.max_batch)
            outputs = self.backend.infer_batches([tiles[i:i + step] for i in range(0, len(tiles), step)])
            out = np.concatenate(outputs) if len(outputs) > 1 else outputs[0]
            out = self._check(np.asarray(out, dtype=np.float32), tiles)
        if len(plan) == 1:
            oh, ow = plan.output_shape
            return out[0, :, :oh, :ow]
        return kernels.blend_tiles(out, plan)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        """One batch of at most ``max_batch`` tiles through the backend, its output checked."""
        return self._check(np.asarray(self.backend.infer(tiles), dtype=np.float32), tiles)

    def _check(self, out: np.ndarray, tiles: np.ndarray) -> np.ndarray:
        """``out``, the backend's float32 output for ``tiles``, checked against the spec."""
        s, (th, tw) = self.spec.scale, tiles.shape[2:]
        expected = (len(tiles), self._channels, th * s, tw * s)
        if out.shape != expected:
            raise ModelError(f"model {self.spec.name} returned {tuple(out.shape)} for {tuple(tiles.shape)} tiles, "
                             f"where its spec (x{s}, {self._channels} channels out) promises {expected}; "
                             "the file's spec does not describe its graph: re-export it with sr-stream export")
        return out

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        """The upscaled frame, same dtype and channel count.

        With ``ensemble``: the x8 geometric self-ensemble (EDSR+, Lim et al. 2017): the frame is
        upscaled in all 8 flips/rotations, each result turned back and the 8 averaged. 8x the
        time for about 0.1 dB; for stills and offline video. 8-bit frames run as 16-bit so the
        average is rounded once, not 8 times.

        Raises:
            InputError: unsupported dtype or channel count.
        """
        if (lane := self._in_lane()) is not self:
            return lane.upscale(frame)
        if not self.ensemble:
            return self._upscale(frame)
        if frame.dtype not in (np.uint8, np.uint16):
            raise InputError(f"unsupported sample type {frame.dtype}; sr-stream reads 8- and 16-bit images")
        wide = frame.astype(np.uint16) * np.uint16(257) if frame.dtype == np.uint8 else frame
        total = None
        for k in range(8):
            turned = np.rot90(wide, k % 4)
            if k >= 4:
                turned = turned[:, ::-1]
            out = self._upscale(np.ascontiguousarray(turned)).astype(np.float32)
            if k >= 4:
                out = out[:, ::-1]
            out = np.rot90(out, -(k % 4))
            total = out if total is None else total + out
        mean = total / (8 * 257) if frame.dtype == np.uint8 else total / 8
        limit = 255 if frame.dtype == np.uint8 else 65535
        return np.clip(np.rint(mean), 0, limit).astype(frame.dtype)

    def _upscale(self, frame: np.ndarray) -> np.ndarray:
        """One frame, in bands of rows where it is large (:data:`BAND_FROM_BYTES`); the bands'
        outputs equal the whole frame's, each output row computed with its whole receptive field
        (and the base resize's 2 rows) inside its band, each band a whole number of tile rows tall."""
        height, width = frame.shape[:2]
        s = self.spec.scale
        planes = 1 if self._luma else self.spec.out_channels
        kept = 4 * planes + 4 if self._reuse is not None else 0  # the output (and input) kept for reuse
        per_row = width * s * s * (8 * planes + 6 + frame.itemsize * 4 + kept)  # working bytes per input row
        limit = BAND_FROM_BYTES if BAND_FROM_BYTES is not None else _quarter_of_memory()
        if height * per_row <= limit or height < 4:
            return self._upscale_whole(frame)
        context = max(self.spec.margin, 2)
        plan = self.plan(height, width)
        tall = 2 * context + 1
        rows = max(1, BAND_BYTES // per_row)
        step = overlap = 0
        if len(plan) > 1:
            # each band a whole number of tile rows tall (context included): a band cut across a tile
            # row pads it and upscales the padding; and at least a tile tall, or the model would see
            # that padding at the frame's bottom edge instead of its own border
            tall, overlap = max(plan.tile_shape[0], tall), plan.overlap
            step = plan.tile_shape[0] - overlap
            rows = max(1, max(1, (rows + 2 * context - overlap) // step) * step + overlap - 2 * context)
        out = None
        multiple = self.spec.size_multiple  # a model on pixel phases (unshuffle) sees each band's as the frame's
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            first = max(0, min(top - context, height - tall))
            first -= first % multiple
            last = min(height, max(bottom + context, first + tall))
            if step:
                last = min(height, last + (-(last - first - overlap)) % step)
            band = self._upscale_whole(np.ascontiguousarray(frame[first:last]))
            if out is None:
                out = np.empty((height * s, width * s, *band.shape[2:]), band.dtype)
            out[top * s:bottom * s] = band[(top - first) * s:(bottom - first) * s]
        return out

    def _upscale_whole(self, frame: np.ndarray) -> np.ndarray:
        if frame.dtype not in (np.uint8, np.uint16):
            raise InputError(f"unsupported sample type {frame.dtype}; sr-stream reads 8- and 16-bit images")
        if frame.ndim == 2:
            frame = frame[:, :, None]
        channels = frame.shape[2]
        if channels == 2:  # grey and alpha (a signature, a mask): the grey upscaled, the alpha bicubic as RGBA's
            grey = self._upscale_whole(np.ascontiguousarray(frame[:, :, :1]))
            out = np.empty((*grey.shape[:2], 2), frame.dtype)
            out[:, :, 0] = grey[:, :, 0]
            out[:, :, 1] = cv2.resize(np.ascontiguousarray(frame[:, :, 1]), grey.shape[1::-1],
                                      interpolation=cv2.INTER_CUBIC)
            return out
        if channels not in (1, 3, 4):
            raise InputError(f"unsupported channel count {channels}; expected grey, grey and alpha, RGB or RGBA")
        back = {"inv_gain": self._inv_gain, "inv_bias": self._inv_bias}
        plan = self.plan(*frame.shape[:2])
        oh, ow = plan.output_shape
        rgb = not self._luma
        finished = rgb and channels >= 3  # a device path may hand back finished samples
        samples = self.backend.run_frame_samples(frame, plan, self._mode, self._gain, self._bias,
                                                 (self._inv_gain, self._inv_bias)) if finished else None
        if samples is not None:
            out = samples
        else:
            planes = self.backend.run_frame_planes(frame, plan, self._mode, self._gain, self._bias)
            if planes is None:  # no device path: pack, infer and blend here
                tiles = kernels.pack_tiles(frame, kernels.tile_origins(plan), *plan.tile_shape, self._mode,
                                           self.backend.input_dtype, self._gain, self._bias,
                                           out=self._tile_buffer(plan))
                planes = self._infer(tiles, plan)
            if not rgb and channels >= 3:
                # bicubic (bilinear for a compact_y luma graph) upscale, alpha included, then its luma
                # replaced by the model's, in place
                if self._chroma == cv2.INTER_LINEAR:
                    # the bilinear upscale made in float by the residual pass itself, row by row (exact,
                    # where a resize first rounds it), on the kernels' threads: 1-5 ms less a 640x360 frame
                    # x2 than OpenCV's resize, whose threads contend with the backend's
                    # (benchmarks/results/cpu/intel-spr-amx.md); the numpy fallback is as fast as before
                    out = np.empty((oh, ow, channels), frame.dtype)
                    kernels.unpack_luma_residual(planes, frame, out, **back)
                else:
                    out = cv2.resize(frame, (ow, oh), interpolation=self._chroma)
                    out = kernels.unpack_luma_residual(planes, out, out, **back)
                if channels == 4 and self._chroma != cv2.INTER_CUBIC:  # alpha is bicubic on every path
                    out[:, :, 3] = cv2.resize(frame[:, :, 3], (ow, oh), interpolation=cv2.INTER_CUBIC)
                return out
            out = np.empty((oh, ow, channels), frame.dtype)
            if channels == 1 and planes.shape[0] == 3:  # a grey image through an RGB model keeps its luma
                y = planes[0] * _LUMA[0]
                y += planes[1] * _LUMA[1]
                y += planes[2] * _LUMA[2]
                planes = y[None]
            kernels.unpack(planes, out, **back)
        if channels == 4:
            out[:, :, 3] = cv2.resize(frame[:, :, 3], (ow, oh), interpolation=cv2.INTER_CUBIC)
        return out

    def takes_yuv420(self, height: int, width: int) -> bool:
        """Whether :meth:`upscale_yuv420` applies: an RGB or luma model and an even output size."""
        s = self.spec.scale
        return not self.ensemble and (self.spec.color_space == "y" or self.spec.in_channels == 3) \
            and (height * s) % 2 == 0 \
            and (width * s) % 2 == 0

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                       matrix: kernels.YuvMatrix = kernels.BT601) -> np.ndarray:
        """Upscale a decoded 8-bit 4:2:0 frame into the encoder's 4:2:0 frame, with no separate
        colour conversion pass (``matrix``: the frame's Y'CbCr matrix and range).

        RGB models: the planes are converted to RGB tiles as they are packed and the output
        planes back to Y'CbCr as they are unpacked (MPEG-2/H.264 chroma siting both ways). Luma
        models: the model sees Y' (rescaled to [0, 1]) and writes the output's Y'; Cb and Cr are
        upscaled bicubically. Returns the ``(H*s*3/2, W*s)`` uint8 array of a yuv420p frame (Y
        rows, then U and V), as ``av.VideoFrame.from_ndarray`` takes it.

        Raises:
            InputError: see :meth:`takes_yuv420`.
        """
        if (lane := self._in_lane()) is not self:
            return lane.upscale_yuv420(y, u, v, matrix)
        h, w = y.shape
        if not self.takes_yuv420(h, w):
            raise InputError(f"the yuv420 path needs an RGB or luma model and an even output size, not "
                             f"{self.spec.color_space} with {self.spec.in_channels} channel(s) at "
                             f"{w * self.spec.scale}x{h * self.spec.scale}")
        plan = self.plan(h, w)
        luma = self._luma
        if not luma:  # a device path converts, runs and converts back where the model runs
            done = self.backend.run_frame_yuv420((y, u, v), matrix, plan, self._gain, self._bias,
                                                 (self._inv_gain, self._inv_bias))
            if done is not None:
                return done
        tiles = kernels.pack_tiles_yuv420(y, u, v, matrix, kernels.tile_origins(plan), *plan.tile_shape, self._mode,
                                          self.backend.input_dtype, self._gain, self._bias,
                                          out=self._tile_buffer(plan))
        planes = self._infer(tiles, plan)
        oh, ow = plan.output_shape
        frame = np.empty((oh * 3 // 2, ow), np.uint8)
        chroma = frame[oh:].reshape(2, oh // 2, ow // 2)
        if not luma:
            kernels.unpack_yuv420(planes, matrix, inv_gain=self._inv_gain, inv_bias=self._inv_bias,
                                  out=(frame[:oh], chroma[0], chroma[1]))
            return frame
        span, offset = (255.0, 0.0) if matrix[2] else (219.0, 16.0)  # [0, 1] -> the frame's code range
        inv_gain = self._inv_gain * span / 255.0
        inv_bias = offset / 255.0 + self._inv_bias * span / 255.0
        kernels.unpack(planes, frame[:oh, :, None], inv_gain=inv_gain, inv_bias=inv_bias)
        for src, dst in zip((u, v), chroma):
            cv2.resize(src, (ow // 2, oh // 2), dst=dst, interpolation=self._chroma)
        return frame


class TileableUpscaler:
    """An upscaler for a texture that repeats edge to edge (a game's or a 3D scene's tileable
    texture): each frame is upscaled as if it wrapped around, padded with its own opposite edges
    as far as the model's receptive field reaches (``spec.margin``, and the 2 pixels of the base
    resize), so every output pixel near an edge sees what lies across it when the texture is
    laid in a grid. The output then tiles without seams (it equals the middle of the upscaled
    grid), where a plain upscale mirrors each edge and leaves a visible line at every repeat.
    The padding costs ``(1 + 2 * margin / side)**2`` times a frame's work. Frames take the RGB
    path (no 4:2:0 kernels: those do not pad); everything else is the wrapped upscaler's.

    ``sides_only``: wrapped from left to right only (an equirectangular 360-degree picture, whose
    left and right edges are one meridian; its top and bottom are the poles, padded as any frame is).
    """

    def __init__(self, upscaler: Any, sides_only: bool = False) -> None:
        self.inner, self.sides_only = upscaler, sides_only
        multiple = upscaler.spec.size_multiple  # a model on pixel phases (unshuffle): the frame's own phases
        self.pad = -(-max(upscaler.spec.margin, 2) // multiple) * multiple

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        return self.upscale_later(frame)()

    def upscale_later(self, frame: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`upscale` in two parts (see :func:`later`): the crop is the second."""
        p, s = self.pad, self.inner.spec.scale
        q = 0 if self.sides_only else p  # rows padded
        padded = np.pad(frame, ((q, q), (p, p)) + ((0, 0),) * (frame.ndim - 2), mode="wrap")
        rest = later(self.inner, "upscale", padded)

        def finish() -> np.ndarray:
            out = rest()
            return np.ascontiguousarray(out[q * s:out.shape[0] - q * s, p * s:out.shape[1] - p * s])
        return finish

    def takes_yuv420(self, height: int, width: int) -> bool:
        return False

    def tile_label(self, height: int, width: int) -> str:
        rows = 0 if self.sides_only else 2 * self.pad
        return f"{self.inner.tile_label(height + rows, width + 2 * self.pad)}, wrapped around" + \
            (" left to right" if self.sides_only else "")

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, backend, ensemble, tile, plan, ...
        return getattr(self.inner, name)


@dataclass(frozen=True)
class OutputSize:
    """An output size other than the model's own factor (``--scale 1.5``, ``--height 1080``):
    ``scale``, any factor of 1 or more, or ``height`` in pixels with the width that keeps the
    aspect ratio. With ``even`` (video: 4:2:0 needs it) both sides are rounded to even numbers;
    without (:func:`for_pictures`: images and arrays) to the nearest pixel, the height asked
    exactly."""

    scale: float | None = None
    height: int | None = None
    even: bool = True

    def __post_init__(self) -> None:
        from srstream.errors import ConfigError

        if (self.scale is None) == (self.height is None):
            raise ConfigError("give an output scale or an output height, not both")
        if self.scale is not None and not self.scale >= 1:
            raise ConfigError(f"--scale {self.scale:g}: a factor of 1 or more (sr-stream does not shrink)")
        if self.scale is not None and self.scale == float("inf"):  # failed later: "cannot convert float infinity"
            raise ConfigError("--scale inf: a factor such as 2, 1.5 or 3")
        if self.height is not None and self.height < 2:
            raise ConfigError(f"--height {self.height}: at least 2 pixels")

    def __call__(self, width: int, height: int) -> tuple[int, int]:
        """The output (width, height) for an input of ``width`` x ``height``."""
        factor = self.scale if self.scale is not None else self.height / height
        if not self.even:
            return max(1, int(width * factor + 0.5)), self.height or max(1, int(height * factor + 0.5))
        return max(2, 2 * int(width * factor / 2 + 0.5)), max(2, 2 * int(height * factor / 2 + 0.5))

    @property
    def label(self) -> str:
        """``x1.5`` or ``1080p``: for output names and messages."""
        return f"x{self.scale:g}" if self.scale is not None else f"{self.height}p"

    def model_scale(self, scales: tuple[int, ...] = (2, 4)) -> int:
        """The smallest model factor that reaches ``scale`` (its output is then shrunk, as upscaling
        from a larger result is the sharper way); the largest when none does; 2 for a height."""
        if self.scale is None:
            return scales[0]
        return next((s for s in scales if s >= self.scale - 1e-9), scales[-1])


class ResizedUpscaler:
    """An upscaler (plain, steadied or capped) whose frames are resized to an :class:`OutputSize`:
    shrunk with OpenCV's area filter from the model's output when that is larger (a model of a
    larger factor, then down: what Real-ESRGAN's ``--outscale`` does too), enlarged with Lanczos
    when the model's factor falls short. On the kernels' 4:2:0 path the frame's planes are resized
    alike (the output's sides are even, so its chroma planes are exactly half); everything else is
    the wrapped upscaler's."""

    def __init__(self, upscaler: Any, size: OutputSize) -> None:
        self.inner, self.size = upscaler, size

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return self.size(width, height)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        return self.upscale_later(frame)()

    def upscale_later(self, frame: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`upscale` in two parts (see :func:`later`): the resize is the second."""
        rest = later(self.inner, "upscale", frame)
        width, height = self.size(frame.shape[1], frame.shape[0])

        def finish() -> np.ndarray:
            out = rest()
            if (out.shape[1], out.shape[0]) == (width, height):
                return out
            shrink = width <= out.shape[1] and height <= out.shape[0]
            how = cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4
            resized = cv2.resize(out, (width, height), interpolation=how)
            return resized if resized.ndim == out.ndim else resized[:, :, None]
        return finish

    def takes_yuv420(self, height: int, width: int) -> bool:
        return self.inner.takes_yuv420(height, width)

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix=None) -> np.ndarray:  # noqa: ANN001
        """The wrapped upscaler's yuv420p frame, each plane resized to the output size."""
        return self.upscale_yuv420_later(y, u, v, matrix)()

    def upscale_yuv420_later(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                             matrix=None) -> Callable[[], np.ndarray]:  # noqa: ANN001
        """:meth:`upscale_yuv420` in two parts (see :func:`later`): the resize is the second."""
        rest = later(self.inner, "upscale_yuv420", y, u, v) if matrix is None else \
            later(self.inner, "upscale_yuv420", y, u, v, matrix)
        width, height = self.size(y.shape[1], y.shape[0])

        def finish() -> np.ndarray:
            frame = rest()
            oh, ow = frame.shape[0] * 2 // 3, frame.shape[1]
            if (ow, oh) == (width, height):
                return frame
            shrink = width <= ow and height <= oh
            how = cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4
            out = np.empty((height * 3 // 2, width), np.uint8)
            cv2.resize(frame[:oh], (width, height), dst=out[:height], interpolation=how)
            chroma_in = frame[oh:].reshape(2, oh // 2, ow // 2)
            chroma_out = out[height:].reshape(2, height // 2, width // 2)
            for src, dst in zip(chroma_in, chroma_out):
                cv2.resize(src, (width // 2, height // 2), dst=dst, interpolation=how)
            return out
        return finish

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, backend, stabilizer, change_cap, tile_label, ...
        return getattr(self.inner, name)


def for_pictures(upscaler: Any) -> Any:  # noqa: ANN401 - any upscaler of this module's interface
    """``upscaler`` for images and arrays: resized (:class:`ResizedUpscaler`) to the size asked to the
    pixel, where a video's sides are rounded to even numbers for its 4:2:0 encoder."""
    if isinstance(upscaler, ResizedUpscaler) and upscaler.size.even:
        return ResizedUpscaler(upscaler.inner, replace(upscaler.size, even=False))
    return upscaler


def output_size(upscaler: Any, width: int, height: int) -> tuple[int, int]:
    """The size ``upscaler``'s frames come out at for a ``width`` x ``height`` input."""
    sized = getattr(upscaler, "output_size", None)
    if callable(sized):
        return sized(width, height)
    scale = upscaler.spec.scale
    return width * scale, height * scale


def wrapped_sideways(upscaler: Any) -> Any:  # noqa: ANN401 - any upscaler of this module's interface
    """``upscaler`` with each frame wrapped around from left to right (:class:`TileableUpscaler`,
    ``sides_only``), inside the resize to an output size; as it was where it wraps already."""
    if isinstance(upscaler, ResizedUpscaler):
        return ResizedUpscaler(wrapped_sideways(upscaler.inner), upscaler.size)
    return upscaler if isinstance(upscaler, TileableUpscaler) else TileableUpscaler(upscaler, sides_only=True)
