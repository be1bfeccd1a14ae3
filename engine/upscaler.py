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

import cv2
import numpy as np

from srstream.engine import kernels
from srstream.engine.backends.base import Backend
from srstream.errors import InputError
from srstream.images import LUMA_BT601
from srstream.spec import ModelSpec
from srstream.tiling import TilePlan, plan_for_spec

__all__ = ["FrameUpscaler", "choose_tile"]

_LUMA = np.array(LUMA_BT601, np.float32)


def choose_tile(spec: ModelSpec, backend: Backend, height: int, width: int, requested: int | str = "auto") -> int:
    """``--tile``: an explicit size, or ``auto``.

    ``auto``: the backend's static tile if it has one; whole frames (0) when the estimated
    activation memory of one frame fits the backend's budget, since tiles repeat the overlap;
    else the spec's recommended tile. The estimate counts ``features`` float32 maps at input
    resolution three times over (a conv's input, output and a skip) plus the upsampled ones.
    """
    if requested != "auto":
        return int(requested)
    if backend.fixed_tile:
        return backend.fixed_tile
    features = int(spec.arch_params.get("features", 64))
    estimate = 4 * height * width * features * (3 + spec.scale * spec.scale)
    return 0 if estimate <= backend.memory_budget() else spec.tile


class FrameUpscaler:
    """Upscale ``(H, W, C)`` uint8/uint16 frames (C = 1, 3 or 4; RGB order) with ``backend``."""

    def __init__(self, backend: Backend, spec: ModelSpec, tile: int | str = "auto") -> None:
        self.backend, self.spec, self.tile = backend, spec, tile
        self._plans: dict[tuple[int, int], TilePlan] = {}

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

    def _run(self, frame: np.ndarray, plan: TilePlan, mode: kernels.PackMode) -> np.ndarray:
        """``(H, W, C)`` samples -> the network's ``(C_out, H*s, W*s)`` float32 planes in its value
        range (a view of the backend's output when one tile covers the frame)."""
        low, high = self.spec.value_range
        tiles = kernels.pack_tiles(frame, plan.tiles, *plan.tile_shape, mode, self.backend.input_dtype,
                                   gain=high - low, bias=low)
        step = max(1, self.backend.max_batch)
        outputs = self.backend.infer_batches([tiles[i:i + step] for i in range(0, len(tiles), step)])
        out = np.concatenate(outputs) if len(outputs) > 1 else outputs[0]
        out = np.asarray(out, dtype=np.float32)
        if len(plan) == 1:
            oh, ow = plan.output_shape
            return out[0, :, :oh, :ow]
        return kernels.blend_tiles(out, plan)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        """The upscaled frame, same dtype and channel count.

        Raises:
            InputError: unsupported dtype or channel count.
        """
        if frame.dtype not in (np.uint8, np.uint16):
            raise InputError(f"unsupported sample type {frame.dtype}; sr-stream reads 8- and 16-bit images")
        if frame.ndim == 2:
            frame = frame[:, :, None]
        channels = frame.shape[2]
        if channels not in (1, 3, 4):
            raise InputError(f"unsupported channel count {channels}; expected grey, RGB or RGBA")
        low, high = self.spec.value_range
        gain, bias = high - low, low
        back = {"inv_gain": 1.0 / (high - low), "inv_bias": -low / (high - low)}
        plan = self.plan(*frame.shape[:2])
        oh, ow = plan.output_shape
        rgb = self.spec.color_space == "rgb"
        mode = kernels.PackMode.RGB if rgb else kernels.PackMode.LUMA
        if rgb and channels >= 3:  # a device path may return finished samples
            done = self.backend.run_frame(frame, plan, mode, gain, bias, (back["inv_gain"], back["inv_bias"]))
            if done is not None:
                if channels == 4:
                    done[:, :, 3] = cv2.resize(frame[:, :, 3], (ow, oh), interpolation=cv2.INTER_CUBIC)
                return done
        planes = self.backend.run_frame(frame, plan, mode, gain, bias, None)
        if planes is None:
            planes = self._run(frame, plan, mode)
        if not rgb and channels >= 3:
            # bicubic upscale (alpha included), then its luma replaced by the model's, in place
            out = cv2.resize(frame, (ow, oh), interpolation=cv2.INTER_CUBIC)
            return kernels.unpack_luma_residual(planes, out, out, **back)
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
