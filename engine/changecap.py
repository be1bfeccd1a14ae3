"""A change cap: the output changes from frame to frame no more than its input does.

A network sees a window of the input many pixels wide, so a change anywhere in that window moves
its output here too: a blinking cursor, a scrolling line or the encoder's noise a few pixels away
makes detail shimmer over a desktop that stands still, where a bicubic upscale, whose support is
two pixels, stays put. This caps each output pixel's change since the previous output at
``gain`` times the largest change, since the previous frame, of the input pixels within
``radius`` of the one it is made from:

* where the input did not change, the output keeps the previous frame's values exactly;
* where it changed by a little (compression noise), the output may change by ``gain`` times that;
* where it changed a lot (motion, a cut, new content), the cap is far above any change the model
  makes, and the output is the model's own.

A neighbour's change counts only when it is more than :data:`NOISE_LEVEL` levels: a change of a
few levels is the source's or the encoder's noise, and the network's response to noise a pixel
away is what shimmers, while a moving edge or new content changes by more than that. Noise at
the pixel itself still counts, so nothing is held against its own input.

It compares each frame with the previous one only: the output follows every change of the input
within one frame (less the cap), so nothing freezes or drifts behind a slow fade, and there is no
optical flow to go wrong. ``benchmarks/results/bench/change_cap_zen3.md`` has what it does to
Y-PSNR and to the benchmark's temporal error on real clips, ``change_cap_noise_zen3.md`` what the
noise level does. Integer arithmetic on the frame's own samples (uint8 or uint16): OpenCV passes
at the input's size, then over the output a few more (RGB frames) or, on the video path's 8-bit
planes, one native pass per plane (:func:`srstream.engine.kernels.cap_plane`, the same result).
On a 2-core Zen 3, 2.6 ms per 1280x720 4:2:0 frame with OpenCV passes only, and 18 ms per RGB
frame; the noise level adds about a tenth (0.7 and 2 ms, timed against the rule without it in one
interleaved run). On a 2-core Sapphire Rapids the native pass took a 4:2:0 frame of the traffic
clip from 2.95 to 1.86 ms (median of five interleaved runs of 60 frames).

Frames must come in order; :meth:`ChangeCap.reset` after a seek or between unrelated pictures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from srstream.engine import kernels
from srstream.engine.upscaler import later
from srstream.errors import ConfigError

__all__ = ["DEFAULT_GAIN", "DEFAULT_RADIUS", "NOISE_LEVEL", "CappedUpscaler", "ChangeCap"]

#: ``--change-cap auto``: see the module docstring and the benchmark record it names.
DEFAULT_GAIN, DEFAULT_RADIUS = 2.0, 1
#: The largest change (8-bit levels) of a neighbour that does not count for a pixel's cap: its own
#: change always counts. ``benchmarks/results/bench/change_cap_noise_zen3.md``: on the desktop
#: capture this takes the temporal error from 1-2% over bicubic's to bicubic's at CRF 23 and 30,
#: for 0.01 dB on Big Buck Bunny.
NOISE_LEVEL = 4
#: A frame where more than this share of the input pixels changed by more than ``CUT_LEVEL`` (8-bit
#: levels; a pixel's change is its neighbourhood's, as the cap reads it) is a new picture (a cut, a
#: flash, a fast pan): it is not capped, so that no pixel of the new picture keeps the old one's
#: detail because its own value happened to stay the same.
CUT_SHARE, CUT_LEVEL = 0.5, 12


class ChangeCap:
    """Call with each (input frame, upscaled frame) in order; returns the capped frame.

    Args:
        scale: the upscaling factor (output pixels per input pixel along each side).
        gain: the output may change by ``gain`` times the input's change (above 0).
        radius: input pixels around each one whose change counts (0: its own only).
        noise: a neighbour's change counts only above this many 8-bit levels (0: every change).

    Raises:
        ConfigError: a gain of 0 or less, a negative radius or noise level, a scale under 1.
    """

    def __init__(self, scale: int, gain: float = DEFAULT_GAIN, radius: int = DEFAULT_RADIUS,
                 noise: int = NOISE_LEVEL) -> None:
        if scale < 1 or not gain > 0 or radius < 0 or noise < 0:
            raise ConfigError(f"change cap: scale {scale}, gain {gain}, radius {radius}, noise {noise}: expected a "
                              "scale of at least 1, a gain above 0, a radius and a noise level of at least 0")
        self.scale, self.gain, self.radius, self.noise = scale, float(gain), int(radius), int(noise)
        self._kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8) if radius else None
        self._prev: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # plane -> (its input, its output)
        ramp = np.arange(256, dtype=np.uint8)[None]
        # an 8-bit change -> the cap it allows, as _cap's cv2.multiply computes it (the native clamp's table)
        self._gain_table = np.ascontiguousarray((ramp if self.gain == 1.0 else
                                                 cv2.multiply(ramp, self.gain, dtype=cv2.CV_8U))[0])

    def reset(self) -> None:
        """Forget the previous frame (a cut, a seek, a new source)."""
        self._prev.clear()

    def __call__(self, lr: np.ndarray, sr: np.ndarray) -> np.ndarray:
        """``lr`` (h, w[, C]) and ``sr`` (h*s, w*s[, C]) of one dtype (uint8 or uint16): ``sr`` capped,
        in place. A frame of a new size starts over."""
        change = self._input_change("rgb", lr, sr.shape[:2])
        kept = change is not None and not self._is_cut(change) and self._cap("rgb", sr, change)
        self._keep("rgb", lr, sr, out_kept=kept)
        return sr

    def planes(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, frame: np.ndarray) -> None:
        """The same on a 4:2:0 frame: ``y``, ``u``, ``v`` the input's planes (uint8, rows may
        be padded), ``frame`` the ``(H*3/2, W)`` uint8 output frame (Y rows, then U and V),
        capped in place. A luma change counts for the chroma samples it shares and a chroma
        change for the luma beneath it, since an RGB model mixes them."""
        oh = frame.shape[0] * 2 // 3
        chroma = frame[oh:].reshape(2, oh // 2, -1)
        planes = {"y": (y, frame[:oh]), "u": (u, chroma[0]), "v": (v, chroma[1])}
        changes = {key: self._input_change(key, lr, out.shape) for key, (lr, out) in planes.items()}
        dy, du, dv = changes["y"], changes["u"], changes["v"]
        kept = set()  # planes whose previous output the native clamp already holds
        if dy is not None and du is not None and dv is not None and not self._is_cut(dy):
            dc = cv2.max(du, dv)
            # each chroma sample's 2 x 2 luma samples: their largest change (edges: those there are)
            pooled = cv2.dilate(dy, np.ones((2, 2), np.uint8), anchor=(0, 0))[::2, ::2]
            if self._cap("y", planes["y"][1],
                         cv2.max(dy, cv2.resize(dc, dy.shape[::-1], interpolation=cv2.INTER_NEAREST))):
                kept.add("y")
            for key in ("u", "v"):
                if self._cap(key, planes[key][1], cv2.max(dc, pooled)):
                    kept.add(key)
        for key, (lr, out) in planes.items():
            self._keep(key, lr, out, out_kept=key in kept)

    def _input_change(self, key: str, lr: np.ndarray, size: tuple[int, ...]) -> np.ndarray | None:
        """The largest change of each input pixel's neighbourhood since the previous frame (the
        input's dtype, one channel; a neighbour's only above the noise level), or None when there
        is no previous frame of these sizes."""
        prev = self._prev.get(key)
        if prev is None or (prev[0].shape, prev[0].dtype, prev[1].shape[:2]) != (lr.shape, lr.dtype, tuple(size[:2])):
            return None
        change = cv2.absdiff(np.ascontiguousarray(lr), prev[0])
        if change.ndim == 3:  # the largest over channels (OpenCV: numpy's max(axis=2) is ten times slower)
            channels = cv2.split(change)
            change = channels[0]
            for other in channels[1:]:
                change = cv2.max(change, other)
        if self._kernel is not None:  # the neighbours' changes above noise (at level 0: all of them)
            above = cv2.threshold(change, _levels(self.noise, change.dtype), 0, cv2.THRESH_TOZERO)[1]
            change = cv2.max(change, cv2.dilate(above, self._kernel))
        return change

    @staticmethod
    def _is_cut(change: np.ndarray) -> bool:
        share = cv2.countNonZero((change > _levels(CUT_LEVEL, change.dtype)).view(np.uint8))
        return share > CUT_SHARE * change.size

    def _cap(self, key: str, out: np.ndarray, change: np.ndarray) -> bool:
        """Clamp ``out`` (in place) to within ``gain * change`` of the previous output. True when
        the previous output took the result too (the native one-pass clamp of an 8-bit plane)."""
        previous = self._prev[key][1]
        h, w = out.shape[:2]
        channels = out.shape[2] if out.ndim == 3 else 1
        if out.dtype == np.uint8 and kernels.has_native() and (out.ndim == 2 or out.flags.c_contiguous):
            # an interleaved frame is a plane of w * channels samples a row, each taking its pixel's cap
            kernels.cap_plane(out.reshape(h, w * channels), previous.reshape(h, w * channels), change,
                              self._gain_table, _nearest(change.shape[0], h), _nearest(change.shape[1], w, channels))
            return True
        if self.gain != 1.0:
            change = cv2.multiply(change, self.gain, dtype=cv2.CV_16U if change.dtype == np.uint16 else cv2.CV_8U)
        if channels > 1:  # the same limit for every channel, spread at the input's size (4x fewer pixels)
            change = cv2.merge([change] * channels)
        limit = cv2.resize(change, (w, h), interpolation=cv2.INTER_NEAREST).reshape(out.shape)
        low = cv2.subtract(previous, limit)  # saturating, in the samples' own type
        high = cv2.add(previous, limit, dst=limit)
        capped = cv2.min(cv2.max(out, low, dst=low), high, dst=high)
        np.copyto(out, capped.reshape(out.shape))
        return False

    def _keep(self, key: str, lr: np.ndarray, out: np.ndarray, out_kept: bool = False) -> None:
        prev = self._prev.get(key)
        if prev is not None and prev[0].shape == lr.shape and prev[1].shape == out.shape:
            np.copyto(prev[0], lr)  # reuse the buffers frame after frame
            if not out_kept:
                np.copyto(prev[1], out)
        else:
            self._prev[key] = (np.array(lr, copy=True), np.array(out, copy=True))


@functools.lru_cache(maxsize=16)
def _nearest(source: int, size: int, channels: int = 1) -> np.ndarray:
    """For each of ``size`` samples along an axis, the one of ``source`` that cv2.resize's
    nearest-neighbour mode takes (int32), each repeated ``channels`` times (the samples of an
    interleaved pixel): the native clamp spreads the cap exactly as the OpenCV path does."""
    index = cv2.resize(np.arange(source, dtype=np.float32)[None], (size, 1), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(np.repeat(index[0].astype(np.int32), channels))


def _levels(eight_bit: int, dtype: np.dtype) -> int:
    """An 8-bit level in samples of ``dtype`` (uint8 or uint16)."""
    return eight_bit * 257 if dtype == np.uint16 else eight_bit


class CappedUpscaler:
    """A :class:`~srstream.engine.upscaler.FrameUpscaler` (or a stabilised one) whose frames go
    through a :class:`ChangeCap`: RGB frames, and the 4:2:0 video path's planes. Frames must
    come in order; everything else is the wrapped upscaler's."""

    def __init__(self, upscaler: Any, gain: float = DEFAULT_GAIN, radius: int = DEFAULT_RADIUS) -> None:
        self.inner = upscaler
        self.change_cap = ChangeCap(upscaler.spec.scale, gain, radius)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        return self.upscale_later(frame)()

    def upscale_later(self, frame: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`upscale` in two parts (:func:`srstream.engine.upscaler.later`): the network's
        (and the steps before the cap's), then the cap's."""
        rest = later(self.inner, "upscale", frame)
        return lambda: self.change_cap(frame, rest())

    def takes_yuv420(self, height: int, width: int) -> bool:
        return self.inner.takes_yuv420(height, width)

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix=None) -> np.ndarray:  # noqa: ANN001
        """The wrapped upscaler's 4:2:0 frame, capped in place."""
        return self.upscale_yuv420_later(y, u, v, matrix)()

    def upscale_yuv420_later(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                             matrix=None) -> Callable[[], np.ndarray]:  # noqa: ANN001
        """:meth:`upscale_yuv420` in two parts: the network's, then the cap's."""
        from srstream.engine.kernels import BT601
        rest = later(self.inner, "upscale_yuv420", y, u, v, BT601 if matrix is None else matrix)

        def finish() -> np.ndarray:
            frame = rest()
            self.change_cap.planes(y, u, v, frame)
            return frame
        return finish

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, backend, stabilizer, tile_label, ...
        return getattr(self.inner, name)
