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
  is smeared, and the base (the input itself) is never touched.

It is recursive (each frame blends with the previous *output*), so steady regions converge to a
temporal average of the model's detail. Only luma changes, added equally to R, G and B, as the
luma models do. Works the same for files and live sources; it needs frames in order.
"""

from __future__ import annotations

import cv2
import numpy as np

from srstream.images import LUMA_BT601

__all__ = ["DEFAULT_STRENGTH", "DEFAULT_TOLERANCE", "StabilizedUpscaler", "TemporalStabilizer"]

#: ``--stabilize`` without a value. Measured on 30 frames of Big Buck Bunny x2 (clean, x264 CRF 18,
#: 23, 30; the previous output's base blended too): strength 0.5 with tolerance 6 costs 0.04 dB on
#: clean input and gains 0.03-0.05 dB on compressed input, with temporal error below bicubic's at
#: CRF 18 and 23 and 0.7% above it at CRF 30. Stronger settings steady more and blur clean detail
#: (0.85 / 12: -1.0 dB on clean input). ``benchmarks/results/bench/stabilizer_sweep.md``.
DEFAULT_STRENGTH, DEFAULT_TOLERANCE = 0.5, 6.0

_LUMA = np.array(LUMA_BT601, np.float32)


class TemporalStabilizer:
    """Call with each (input frame, upscaled frame) in order; returns the steadied frame.

    Args:
        scale: the upscaling factor.
        strength: weight of the previous detail where the content matches (0: off; 1: frozen).
        tolerance: luma mismatch (levels, 8-bit scale) at which the blend fades out.
    """

    def __init__(self, scale: int, strength: float = 0.5, tolerance: float = 6.0, base: bool = False) -> None:
        self.scale, self.strength, self.tolerance, self.blend_base = scale, strength, tolerance, base
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # LR luma u8, HR base, HR detail
        self._grid: np.ndarray | None = None  # (h, w, 2) pixel coordinates

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
        else 16-235). Y' is rescaled to 0-255 luma first, so the tolerance and the blend are the
        RGB path's; only the change is written back, in Y' codes. No colour conversion either way:
        the video path stays 4:2:0 from decoder to encoder."""
        if self.strength <= 0:
            return
        gain, offset = (1.0, 0.0) if full_range else (255.0 / 219.0, -16.0 * 255.0 / 219.0)
        # one pass each from the uint8 codes to float32 0-255 luma (no separate astype copy)
        change = self._change(cv2.addWeighted(lr_y, gain, lr_y, 0.0, offset, dtype=cv2.CV_32F),
                              cv2.addWeighted(out_y, gain, out_y, 0.0, offset, dtype=cv2.CV_32F))
        if change is None:
            return
        if not full_range:
            change = cv2.multiply(change, 1.0 / gain)  # back to Y' codes
        cv2.add(out_y, change, dst=out_y, dtype=cv2.CV_8U)  # rounded and saturated

    def _change(self, lr_y: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The luma change (float32, 0-255 scale, at ``y``'s size) that steadies this frame, given
        its input's luma ``lr_y`` and its output's ``y``; ``None`` for the first frame."""
        h, w = y.shape
        lr_u8 = np.clip(lr_y + 0.5, 0, 255).astype(np.uint8)
        base = cv2.resize(lr_y, (w, h), interpolation=cv2.INTER_CUBIC)
        if self._prev is None or self._prev[0].shape != lr_u8.shape:
            self._prev = (lr_u8, base, cv2.subtract(y, base))
            return None
        prev_u8, prev_base, prev_detail = self._prev
        flow = self.flow.calc(lr_u8, prev_u8, None)  # where each pixel of this frame was before
        detail = cv2.subtract(y, base)
        if self._grid is None or self._grid.shape[:2] != (h, w):
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            self._grid = np.dstack([xx, yy])
        # OpenCV's own arithmetic (vectorised, threaded) throughout: the same float32 formulas as
        # written in the comments, at a third of numpy's time on full-resolution frames
        up = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        where = cv2.scaleAdd(up, float(self.scale), self._grid)  # map = grid + scale * flow
        warped_base = cv2.remap(prev_base, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_detail = cv2.remap(prev_detail, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # weight = strength * clip(1 - |base - warped_base| / tolerance, 0, 1)
        mismatch = cv2.absdiff(base, warped_base)
        weight = cv2.max(cv2.addWeighted(mismatch, -self.strength / self.tolerance, mismatch, 0.0, self.strength), 0.0)
        change = cv2.multiply(weight, cv2.subtract(warped_detail, detail))  # steady - detail
        steady = cv2.add(detail, change)
        if self.blend_base:  # also steady the input's own frame-to-frame noise (a temporal denoiser)
            moved = cv2.multiply(weight, cv2.subtract(warped_base, base))
            change = cv2.add(change, moved)
            self._prev = (lr_u8, cv2.add(base, moved), steady)
        else:
            self._prev = (lr_u8, base, steady)
        return change


class StabilizedUpscaler:
    """A :class:`~srstream.engine.upscaler.FrameUpscaler` whose frames go through a
    :class:`TemporalStabilizer`: RGB frames, and the 4:2:0 video path's luma plane (the same
    blend, without a colour conversion). Frames must come in order; everything else is the
    wrapped upscaler's."""

    def __init__(self, upscaler, strength: float = DEFAULT_STRENGTH,  # noqa: ANN001
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.inner = upscaler
        self.stabilizer = TemporalStabilizer(upscaler.spec.scale, strength, tolerance, base=True)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        return self.stabilizer(frame, self.inner.upscale(frame))

    def takes_yuv420(self, height: int, width: int) -> bool:
        return self.inner.takes_yuv420(height, width)

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix=None) -> np.ndarray:  # noqa: ANN001
        """The wrapped upscaler's 4:2:0 frame, its luma plane steadied in place."""
        from srstream.engine.kernels import BT601

        matrix = BT601 if matrix is None else matrix
        frame = self.inner.upscale_yuv420(y, u, v, matrix)
        self.stabilizer.steady_luma(y, frame[:frame.shape[0] * 2 // 3], full_range=bool(matrix[2]))
        return frame

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, backend, tile_label, ...
        return getattr(self.inner, name)
