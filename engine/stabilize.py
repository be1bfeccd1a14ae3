"""A causal temporal stabiliser: upscaled detail that does not flicker, at real-time cost.

A per-frame network sharpens the compression noise of each frame differently, so detail that
should stand still shimmers. This keeps the model's output where the picture really changes and
steadies it where it does not:

* the output's luma splits into a *base*, the bicubic upscale of this frame's input, and the
  *detail* the model added on top;
* a fast optical flow at input resolution (OpenCV's DIS, ultrafast preset) finds where each pixel
  of this frame was in the previous one; the previous frame's (already steadied) detail and base
  are warped along it;
* where the warped previous base matches this frame's base within ``tolerance`` luma levels (the
  content is the same, only moved), the detail is blended towards the warped previous detail with
  weight ``strength``, fading to 0 as the mismatch reaches ``tolerance``: real changes (new
  content, occlusions, lighting, a failed flow) keep this frame's own detail, so nothing moving
  is smeared; with ``base`` (what ``--stabilize`` runs) the base is blended with the same weight
  too, steadying the input's own frame-to-frame compression noise;
* with ``still`` (screen recordings: :func:`still_setting`), a frame that stands still (at least
  :data:`STILL_SHARE` of its pixels moved less than :data:`STILL_MOTION` input pixels, and the
  picture as a whole not at all: its median motion under :data:`STILL_DRIFT`, so a slow pan is not
  still) is held harder, at ``still`` strength, and its pixels that moved less than that are taken
  as not moved at all: the flow's fraction of a pixel on static text is the encoder's noise, and
  warping along it made the text's detail shimmer.

The warp, the comparison and the blend are one pass over the output frame
(:func:`srstream.engine.kernels.stabilize_luma`, a native kernel with a numpy reference), which
on the video path reads and rewrites the frame's 8-bit luma codes directly.

It is recursive (each frame blends with the previous *output*), so steady regions converge to a
temporal average of the model's detail. Only luma changes, added equally to R, G and B, as the
luma models do. Works the same for files and live sources; it needs frames in order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np

from srstream.engine.kernels import stabilize_luma, stabilize_luma_codes, stabilize_rgb
from srstream.engine.kernels_ref import rgb_luma_reference
from srstream.engine.upscaler import later
from srstream.images import LUMA_BT601

__all__ = ["COMPRESSED_TOLERANCE", "DEFAULT_STRENGTH", "DEFAULT_TOLERANCE", "STILL_DRIFT", "STILL_MOTION",
           "STILL_SHARE", "STILL_STRENGTH", "StabilizedUpscaler", "TemporalStabilizer", "setting", "still_setting"]

#: ``--stabilize`` without a value. Measured on 30 frames of Big Buck Bunny x2 (clean, x264 CRF 18,
#: 23, 30; the previous output's base blended too): strength 0.5 with tolerance 6 costs 0.04 dB on
#: clean input and gains 0.03-0.05 dB on compressed input, with temporal error below bicubic's at
#: CRF 18 and 23 and 0.7% above it at CRF 30. Stronger settings steady more and blur clean detail
#: (0.85 / 12: -1.0 dB on clean input). ``benchmarks/results/bench/stabilizer_sweep.md``.
DEFAULT_STRENGTH, DEFAULT_TOLERANCE = 0.5, 6.0
#: A frame stands still when at least ``STILL_SHARE`` of its input pixels moved less than
#: ``STILL_MOTION`` input pixels (the stabiliser's own flow); with the rule on, it is then steadied at
#: ``STILL_STRENGTH`` (or the strength asked, if higher). Measured on 30 frames x2, fp32, the change cap
#: after (``benchmarks/results/bench/stabilizer_still.md``, 2026-12-03): on the desktop capture at CRF 23
#: and 30 it takes the temporal error from above bicubic's to below it, for no PSNR; Big Buck Bunny's
#: frames (median share 0.87) and the voxel game's moving ones never stand still by this rule (a share
#: of 0.9 would cost Big Buck Bunny 0.09 dB at CRF 23, one of 0.8 0.30 dB); but a street filmed from a
#: fixed camera stands still in most frames, and there the stronger blend reaches the moving cars too
#: (-0.010 dB, temporal error +0.3%): so only screen recordings take the rule (:func:`still_setting`):
#: video files that look like one, and screen and window captures that take the screen variant. On the
#: desktop capture's clean frames, as such a capture gives them (``stabilizer_still_live.md``,
#: 2026-12-03): temporal error 0.223 unsteadied, 0.204 steadied, 0.185 with the rule (bicubic 0.171).
STILL_SHARE, STILL_MOTION, STILL_STRENGTH = 0.95, 0.5, 0.85
#: ... and its median motion (input pixels) is under this: a pan of a third of a pixel a frame moves
#: every pixel by less than ``STILL_MOTION``, but the whole picture the same way.
STILL_DRIFT = 0.1
#: The tolerance for a stream compressed hard (the mean quantiser that takes the compressed variant,
#: :data:`srstream.engine.models.COMPRESSED_VARIANTS`), where a video run steadies by default. Measured
#: on 30 frames x2 with realtime-x2-compressed (``benchmarks/results/bench/stabilizer_sweep_{bbb,game,desktop}.md``,
#: 2026-12-01): on Big Buck Bunny, with the base blended, temporal error falls below bicubic's at CRF
#: 18, 23 and 30 (2.416 against 2.497 at CRF 30; tolerance 6 leaves it at 2.525) and Y-PSNR gains
#: 0.04-0.06 dB; on a game and a desktop capture it changes neither by more than 0.002 dB / 0.01.
#: On clean input it would cost 0.17 dB, so clean streams keep ``--stabilize`` opt-in.
COMPRESSED_TOLERANCE = 12.0


def still_setting(screen: bool) -> float:
    """The ``still`` strength for a stream that is, or is not, a screen recording (it took the screen
    variant): :data:`STILL_STRENGTH` for one, whose frames mostly stand still and hold static text,
    off (0) for other video (see :data:`STILL_SHARE`)."""
    return STILL_STRENGTH if screen else 0.0


def setting(asked: str | float, hard: bool) -> tuple[float, float]:
    """``(strength, tolerance)`` for ``--stabilize ASKED`` on a stream that is, or is not, ``hard``:
    compressed hard (its quantiser took the compressed variant) or a screen recording (it took the
    screen variant). ``auto`` steadies only such streams, and those at :data:`COMPRESSED_TOLERANCE`.
    Strength 0 means off."""
    strength = (DEFAULT_STRENGTH if hard else 0.0) if asked == "auto" else float(asked)
    return strength, COMPRESSED_TOLERANCE if hard else DEFAULT_TOLERANCE

_LUMA = np.array(LUMA_BT601, np.float32)
_BELOW_STILL_MOTION = float(np.nextafter(np.float32(STILL_MOTION), np.float32(0)))


def _round_u8(luma: np.ndarray) -> np.ndarray:
    """Float luma (0-255) -> uint8, rounded half up and saturated."""
    return np.clip(luma + 0.5, 0, 255).astype(np.uint8)


def _codes_to_luma(codes: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """8-bit Y' codes -> float32 luma on the 0-255 scale (``codes * gain + offset``)."""
    return cv2.addWeighted(codes, gain, codes, 0.0, offset, dtype=cv2.CV_32F)


@functools.lru_cache(maxsize=4)
def _codes_to_luma_u8(gain: float, offset: float) -> np.ndarray:
    """The 256-entry table of :func:`_round_u8` of :func:`_codes_to_luma`: the same values by one
    ``cv2.LUT`` pass over the codes (0.06 ms at 720p) instead of three over floats (0.35 ms)."""
    return _round_u8(_codes_to_luma(np.arange(256, dtype=np.uint8).reshape(1, 256), gain, offset))


class TemporalStabilizer:
    """Call with each (input frame, upscaled frame) in order; returns the steadied frame.

    Args:
        scale: the upscaling factor.
        strength: weight of the previous detail where the content matches (0: off; 1: frozen).
        tolerance: luma mismatch (levels, 8-bit scale) at which the blend fades out.
        still: the strength for a frame that stands still (see :data:`STILL_SHARE`; 0, the default:
            as any other).
    """

    def __init__(self, scale: int, strength: float = 0.5, tolerance: float = 6.0, base: bool = False,
                 still: float = 0.0) -> None:
        self.scale, self.strength, self.tolerance, self.blend_base = scale, strength, tolerance, base
        self.still = still
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # LR luma u8, HR base, HR detail
        self._spare: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the next step's output planes

    def reset(self) -> None:
        """Forget the previous frame (a cut, a seek, a new source)."""
        self._prev = None

    @staticmethod
    def _luma(rgb: np.ndarray) -> np.ndarray:
        weights = _LUMA / 257.0 if rgb.dtype == np.uint16 else _LUMA
        return cv2.transform(rgb[..., :3].astype(np.float32), weights.reshape(1, 3))  # a compact copy

    def __call__(self, lr: np.ndarray, sr: np.ndarray) -> np.ndarray:
        """``lr`` (h, w, C) and ``sr`` (h*s, w*s, C), uint8 or uint16, RGB(A): the steadied ``sr``."""
        if lr.ndim != 3 or lr.shape[2] < 3 or self.strength <= 0:
            return sr
        if sr.dtype == np.uint8 and sr.ndim == 3 and sr.shape[2] in (3, 4):
            return self._steady_rgb(self._luma(lr), sr)
        change = self._change(self._luma(lr), self._luma(sr))
        if change is None:
            return sr
        if sr.dtype == np.uint16:
            change = change * 257.0
        channels = sr.shape[2]
        delta = cv2.merge([change] * 3 + [np.zeros_like(change)] * (channels - 3))
        depth = cv2.CV_16U if sr.dtype == np.uint16 else cv2.CV_8U
        return cv2.add(sr, delta, dtype=depth)  # rounded and saturated to the frame's type

    def steady_luma(self, lr_y: np.ndarray, out_y: np.ndarray, full_range: bool = False) -> None:
        """The same on a 4:2:0 frame's luma plane, in place: ``lr_y`` (h, w) is the input's Y'
        plane, ``out_y`` (h*s, w*s) the upscaled frame's, both uint8 (``full_range``: 0-255 codes,
        else 16-235). Y' is read as 0-255 luma, so the tolerance and the blend are the RGB
        path's, and the change is written back in Y' codes, rounded, by the kernel itself: no
        colour conversion and no float copy of the output frame. The video path stays 4:2:0 from
        decoder to encoder."""
        if self.strength <= 0:
            return
        gain, offset = (1.0, 0.0) if full_range else (255.0 / 219.0, -16.0 * 255.0 / 219.0)
        lr_u8, base, flow = self._start(_codes_to_luma(lr_y, gain, offset), out_y.shape,
                                        cv2.LUT(lr_y, _codes_to_luma_u8(gain, offset)))
        if flow is None:
            self._first(lr_u8, base, _codes_to_luma(out_y, gain, offset))
            return
        _, prev_base, prev_detail = self._prev
        next_base, next_detail = stabilize_luma_codes(
            out_y, base, flow, prev_base, prev_detail, gain=gain, offset=offset, scale=self.scale,
            strength=self._strength(flow), tolerance=self.tolerance, blend_base=self.blend_base, out=self._spare[1:])
        self._keep(lr_u8, self._spare[0], next_base, next_detail)

    def _steady_rgb(self, lr_y: np.ndarray, sr: np.ndarray) -> np.ndarray:
        """A steadied copy of the 8-bit RGB(A) frame ``sr``, made by one native pass that reads its luma
        and adds the change to R, G and B, in place of a float luma plane, a change plane, a merge and
        an add; ``lr_y``: its input's float luma."""
        lr_u8, base, flow = self._start(lr_y, sr.shape[:2])
        if flow is None:
            self._first(lr_u8, base, rgb_luma_reference(sr, LUMA_BT601))
            return sr
        _, prev_base, prev_detail = self._prev
        sr = np.array(sr, copy=True)  # the caller's frame stays as it was
        next_base, next_detail = stabilize_rgb(
            sr, base, flow, prev_base, prev_detail, weights=LUMA_BT601, scale=self.scale,
            strength=self._strength(flow), tolerance=self.tolerance, blend_base=self.blend_base, out=self._spare[1:])
        self._keep(lr_u8, self._spare[0], next_base, next_detail)
        return sr

    def _change(self, lr_y: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The luma change (float32, 0-255 scale, at ``y``'s size) that steadies this frame, given
        its input's luma ``lr_y`` and its output's ``y``; ``None`` for the first frame."""
        lr_u8, base, flow = self._start(lr_y, y.shape)
        if flow is None:
            self._first(lr_u8, base, y)
            return None
        _, prev_base, prev_detail = self._prev
        # warp, compare, blend: one pass over the output (native kernel; numpy reference without it)
        change, next_base, next_detail = stabilize_luma(
            np.ascontiguousarray(y, np.float32), base, flow, prev_base, prev_detail, scale=self.scale,
            strength=self._strength(flow), tolerance=self.tolerance, blend_base=self.blend_base, out=self._spare)
        self._keep(lr_u8, change, next_base, next_detail)
        return change

    def _start(self, lr_y: np.ndarray, size: tuple[int, int],
               lr_u8: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """This frame's input luma ``lr_y`` (float32, 0-255) -> (as uint8, its bicubic upscale to
        ``size``, the flow to the previous frame: ``None`` when there is none of this size).
        ``lr_u8``: ``lr_y`` rounded to uint8 where the caller has it already."""
        h, w = size
        if lr_u8 is None:
            lr_u8 = _round_u8(lr_y)
        base = cv2.resize(lr_y, (w, h), interpolation=cv2.INTER_CUBIC)
        if self._prev is None or self._prev[0].shape != lr_u8.shape or self._prev[1].shape != base.shape:
            return lr_u8, base, None
        if np.array_equal(lr_u8, self._prev[0]):  # a repeated frame (screens, games): DIS would find 0 too
            return lr_u8, base, np.zeros((*lr_u8.shape, 2), np.float32)
        return lr_u8, base, self.flow.calc(lr_u8, self._prev[0], None)  # where each pixel was before

    def _strength(self, flow: np.ndarray) -> float:
        """This frame's strength, given its flow (input pixels, (h, w, 2)): :attr:`still` if the frame
        stands still, its small motions then set to none (in place)."""
        if self.still <= self.strength:
            return self.strength
        # 1 where a pixel moved at least STILL_MOTION, else 0 (OpenCV's threshold is strict: >, so the
        # float32 just below it); a float mask, so that zeroing the rest is one multiply, not a
        # boolean-indexed assignment (19 ms at 720p on a 2-core Zen 4, most of this step)
        moving = cv2.threshold(cv2.magnitude(flow[..., 0], flow[..., 1]), _BELOW_STILL_MOTION, 1.0,
                               cv2.THRESH_BINARY)[1]
        if moving.size - cv2.countNonZero(moving) < STILL_SHARE * moving.size:
            return self.strength
        if np.hypot(*np.median(flow[::4, ::4].reshape(-1, 2), axis=0)) >= STILL_DRIFT:  # a slow pan
            return self.strength
        cv2.multiply(flow, cv2.merge([moving, moving]), dst=flow)
        return self.still

    def _first(self, lr_u8: np.ndarray, base: np.ndarray, y: np.ndarray) -> None:
        """Start the state from a first frame (float32 luma ``y``), and the planes the kernel
        will write the next state into."""
        self._prev = (lr_u8, base, cv2.subtract(y, base))
        self._spare = (np.empty_like(base), np.empty_like(base), np.empty_like(base))

    def _keep(self, lr_u8: np.ndarray, change: np.ndarray, next_base: np.ndarray, next_detail: np.ndarray) -> None:
        """The kernel's output becomes the state; the previous state's planes (and the change
        plane) are written over by the next step, so no frame allocates."""
        _, prev_base, prev_detail = self._prev
        self._prev, self._spare = (lr_u8, next_base, next_detail), (change, prev_base, prev_detail)


class StabilizedUpscaler:
    """A :class:`~srstream.engine.upscaler.FrameUpscaler` whose frames go through a
    :class:`TemporalStabilizer`: RGB frames, and the 4:2:0 video path's luma plane (the same
    blend, without a colour conversion). Frames must come in order; everything else is the
    wrapped upscaler's."""

    def __init__(self, upscaler, strength: float = DEFAULT_STRENGTH,  # noqa: ANN001
                 tolerance: float = DEFAULT_TOLERANCE, still: float = 0.0) -> None:
        self.inner = upscaler
        self.stabilizer = TemporalStabilizer(upscaler.spec.scale, strength, tolerance, base=True, still=still)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        return self.upscale_later(frame)()

    def upscale_later(self, frame: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`upscale` in two parts (:func:`srstream.engine.upscaler.later`): the network's,
        then the stabiliser's."""
        rest = later(self.inner, "upscale", frame)
        return lambda: self.stabilizer(frame, rest())

    def takes_yuv420(self, height: int, width: int) -> bool:
        return self.inner.takes_yuv420(height, width)

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix=None) -> np.ndarray:  # noqa: ANN001
        """The wrapped upscaler's 4:2:0 frame, its luma plane steadied in place."""
        return self.upscale_yuv420_later(y, u, v, matrix)()

    def upscale_yuv420_later(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                             matrix=None) -> Callable[[], np.ndarray]:  # noqa: ANN001
        """:meth:`upscale_yuv420` in two parts: the network's, then the stabiliser's."""
        from srstream.engine.kernels import BT601
        matrix = BT601 if matrix is None else matrix
        rest = later(self.inner, "upscale_yuv420", y, u, v, matrix)

        def finish() -> np.ndarray:
            frame = rest()
            self.stabilizer.steady_luma(y, frame[:frame.shape[0] * 2 // 3], full_range=bool(matrix[2]))
            return frame
        return finish

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, backend, tile_label, ...
        return getattr(self.inner, name)
