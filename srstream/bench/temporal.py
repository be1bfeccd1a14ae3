"""Temporal error: does an upscaled video change from frame to frame the way the truth does?

PSNR scores frames one by one; flicker (detail that shimmers, compression noise sharpened
differently in every frame) hides in it. This measures it against the HR frames:

* optical flow between consecutive HR frames (OpenCV's DIS, on BT.601 luma, both directions),
  kept only where it is consistent forward and backward (occlusions and flow failures drop out);
* for each pair, the output's change along that flow, ``SR_t - warp(SR_{t+1})``, against the
  truth's own change, ``HR_t - warp(HR_{t+1})``;
* the temporal error is the RMS of their difference over the consistent pixels of all pairs, in
  8-bit luma levels. 0: the output changes exactly as the truth does; a static error (blur, a
  constant offset) costs nothing here, an error that changes from frame to frame does.

Torch-free: numpy and OpenCV only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from srstream.metrics import rgb_to_y

__all__ = ["FlowPair", "hr_flows", "temporal_error"]

#: Forward-backward consistency: ``|F(x) + B(x + F(x))|`` below this (pixels), plus a share of
#: the motion (the usual occlusion test of Sundaram et al. 2010).
_CONSISTENT_PX, _CONSISTENT_SHARE = 0.5, 0.05


@dataclass(frozen=True)
class FlowPair:
    """The flow from HR frame t to t+1 as a remap grid, and where it can be trusted."""

    map_x: np.ndarray  # float32 (H, W): where pixel (y, x) of frame t is in frame t+1
    map_y: np.ndarray
    mask: np.ndarray  # bool (H, W)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb_to_y(rgb), 0, 255).astype(np.uint8)


def hr_flows(hr_frames: Sequence[np.ndarray]) -> list[FlowPair]:
    """Consistent flows between each pair of consecutive uint8 RGB HR frames."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    lumas = [_luma(f) for f in hr_frames]
    h, w = lumas[0].shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pairs = []
    for a, b in zip(lumas, lumas[1:]):
        fwd = dis.calc(a, b, None)
        bwd = dis.calc(b, a, None)
        map_x, map_y = xx + fwd[..., 0], yy + fwd[..., 1]
        back = cv2.remap(bwd, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1e4)
        err = np.linalg.norm(fwd + back, axis=-1)
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        mask = inside & (err < _CONSISTENT_PX + _CONSISTENT_SHARE * np.linalg.norm(fwd, axis=-1))
        pairs.append(FlowPair(map_x, map_y, mask))
    return pairs


def temporal_error(sr_frames: Sequence[np.ndarray], hr_frames: Sequence[np.ndarray], flows: Sequence[FlowPair],
                   border: int = 0) -> float:
    """RMS (luma levels) of how the output's motion-compensated change departs from the HR's.

    ``sr_frames`` and ``hr_frames`` are consecutive uint8 RGB frames of one size; ``flows`` from
    :func:`hr_flows` on ``hr_frames``; ``border`` pixels are left out on every side.
    """
    if len(sr_frames) != len(hr_frames) or len(flows) != len(hr_frames) - 1:
        raise ValueError("one flow per consecutive pair of frames, and as many outputs as HR frames")
    total, count = 0.0, 0
    err = [rgb_to_y(s).astype(np.float32) - rgb_to_y(h).astype(np.float32) for s, h in zip(sr_frames, hr_frames)]
    for t, pair in enumerate(flows):
        warped = cv2.remap(err[t + 1], pair.map_x, pair.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        d = err[t] - warped  # (SR_t - warp SR_t+1) - (HR_t - warp HR_t+1)
        mask = pair.mask
        if border:
            mask = mask.copy()
            mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = False, False, False, False
        total += float((d[mask] ** 2).sum())
        count += int(mask.sum())
    return float(np.sqrt(total / max(count, 1)))
