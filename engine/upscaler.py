"""One frame in, one upscaled frame out: colour handling, tiling, batching and blending.

The tile plan comes from the core planner (one static tile shape per frame size, overlap >= the
model's receptive-field margin, blend weights that make the tiled result equal the whole-frame
one) and is made once per resolution. Frames are packed and blended with the numpy reference
kernels of :mod:`srstream.tiling` (native kernels are issue 6).

Colour: RGB models see RGB; a grey image is fed as three equal channels and its luma kept. Luma
(``y``) models see the BT.601 luma of a colour frame while its chroma is upscaled bicubically.
An alpha channel is upscaled separately (bicubic) and re-attached. 16-bit images stay 16-bit.
"""

from __future__ import annotations

import cv2
import numpy as np

from srstream.engine.backends.base import Backend
from srstream.errors import InputError
from srstream.images import LUMA_BT601
from srstream.spec import ModelSpec
from srstream.tiling import TilePlan, blend_tiles, extract_tiles, plan_for_spec

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

    def _run(self, chw: np.ndarray) -> np.ndarray:
        """float32 ``(C, H, W)`` in [0, 1] -> ``(C, H*s, W*s)`` through the tiles and the backend."""
        low, high = self.spec.value_range
        plan = self.plan(*chw.shape[1:])
        whole = len(plan) == 1 and plan.padded_shape == chw.shape[1:]
        tiles = chw[None] if whole else extract_tiles(chw, plan)  # no copy for an unpadded whole frame
        if (low, high) != (0.0, 1.0):
            tiles = tiles * (high - low) + low
        step = max(1, self.backend.max_batch)
        batches = [np.ascontiguousarray(tiles[i:i + step], dtype=np.float32) for i in range(0, len(tiles), step)]
        outputs = self.backend.infer_batches(batches)
        out = np.concatenate(outputs) if len(outputs) > 1 else outputs[0]
        if (low, high) != (0.0, 1.0):
            out = (out - low) / (high - low)
        if len(plan) == 1:
            oh, ow = plan.output_shape
            return out[0, :, :oh, :ow]
        return blend_tiles(out, plan)

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
        peak = 255.0 if frame.dtype == np.uint8 else 65535.0
        x = frame.astype(np.float32)
        x *= np.float32(1.0 / peak)
        alpha = x[:, :, 3] if channels == 4 else None
        colour = x[:, :, :3] if channels >= 3 else x
        out = self._colour(colour)
        s = self.spec.scale
        if alpha is not None:
            up_alpha = cv2.resize(alpha, (alpha.shape[1] * s, alpha.shape[0] * s), interpolation=cv2.INTER_CUBIC)
            out = np.concatenate([out, up_alpha[:, :, None]], axis=2)
        out = np.multiply(out, np.float32(peak), dtype=np.float32)  # a fresh array: never the backend's buffer
        out += np.float32(0.5)
        np.clip(out, 0.0, peak, out=out)
        return out.astype(frame.dtype)  # truncating non-negative values: floor(x * peak + 0.5)

    def _colour(self, x: np.ndarray) -> np.ndarray:
        """``(H, W, 1|3)`` float in [0, 1] -> upscaled ``(H*s, W*s, 1|3)``."""
        if self.spec.color_space == "rgb":
            rgb = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
            out = self._run(np.ascontiguousarray(rgb.transpose(2, 0, 1))).transpose(1, 2, 0)
            return (out @ _LUMA)[:, :, None] if x.shape[2] == 1 else out
        if x.shape[2] == 1:
            return self._run(np.ascontiguousarray(x.transpose(2, 0, 1))).transpose(1, 2, 0)
        y = x @ _LUMA  # full-range BT.601, as the y models were trained
        y_up = self._run(y[None])[0]
        h, w = y_up.shape
        up = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
        return up + (y_up - up @ _LUMA)[:, :, None]  # same chroma as bicubic, luma from the model
