"""Benchmark-protocol evaluation on a folder of HR images, for any upscaler (torch-free).

LR images are made exactly as the SR literature makes them (MATLAB bicubic, uint8); the
upscaler's uint8 output is scored on the BT.601 Y channel with ``scale`` border pixels cropped.
A grayscale HR *file* (Set14's bridge) is fed to an RGB model as three equal channels and scored
on its own grey levels; one-channel models are fed and scored on grey images.

The trainer's validation, the exporter's INT8 quality check and the benchmarks share this, so
every PSNR the project reports is computed one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srstream.images import LUMA_BT601, list_images, read_image
from srstream.imresize import bicubic_degrade, bicubic_upscale
from srstream.metrics import crop_border, psnr, rgb_to_y, ssim

__all__ = ["BenchmarkSet", "Pair", "Upscaler", "to_gray", "y_planes"]

#: ``uint8 (h, w, C) -> uint8 (h * scale, w * scale, C)``.
Upscaler = Callable[[np.ndarray], np.ndarray]


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 RGB image, rounded, as ``(H, W, 1)`` uint8."""
    return np.floor(rgb.astype(np.float64) @ np.array(LUMA_BT601) + 0.5).astype(np.uint8)[..., None]


@dataclass(frozen=True)
class Pair:
    name: str
    lr: np.ndarray
    hr: np.ndarray
    gray_source: bool  # the file itself is grayscale


def y_planes(out: np.ndarray, pair: Pair, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """What every score compares: the float64 BT.601 luma of ``out`` and of its HR image, ``scale``
    border pixels cropped. For a grey file scored from an RGB output, the output's luma against
    the file's grey levels."""
    hr = pair.hr
    if pair.gray_source and out.shape[2] == 3:
        out, hr = to_gray(out), hr[..., :1]
    return crop_border(rgb_to_y(out), scale), crop_border(rgb_to_y(hr), scale)


class BenchmarkSet:
    """HR images of ``folder`` with their benchmark LR images, prepared once.

    Args:
        folder: HR images (e.g. ``../shared/data/val/Set5``).
        scale: the upscaling factor.
        channels: 3 for RGB models, 1 for grey/luma models.
        limit: use only the first ``limit`` images (0: all).

    Raises:
        InputError: the folder is missing, empty, or holds an unreadable image.
    """

    def __init__(self, folder: Path, scale: int, channels: int = 3, limit: int = 0) -> None:
        if limit < 0:  # a slice's [:-1] would drop the last image and the scores would still name the set
            from srstream.errors import ConfigError

            raise ConfigError(f"limit {limit}: the first N images, or 0 for all")
        self.folder, self.scale, self.channels = Path(folder), scale, channels
        self.pairs: list[Pair] = []
        for path in list_images([folder])[: limit or None]:
            stored = read_image(path)
            hr = np.repeat(stored[:, :, None], 3, axis=2) if stored.ndim == 2 else stored
            if channels == 1:
                hr = to_gray(hr)
            h, w = hr.shape[:2]
            hr = hr[: h - h % scale, : w - w % scale]
            lr = bicubic_degrade(hr, scale).reshape(-1, w // scale, hr.shape[2])
            self.pairs.append(Pair(path.stem, lr, hr, stored.ndim == 2))
        self.bicubic = self.score([bicubic_upscale(p.lr, scale).reshape(p.hr.shape) for p in self.pairs])

    def score(self, outputs: list[np.ndarray]) -> tuple[float, float]:
        """Mean Y-PSNR (dB) and mean Y-SSIM of uint8 ``outputs``, one per pair, in order."""
        planes = [y_planes(o, p, self.scale) for o, p in zip(outputs, self.pairs, strict=True)]
        return float(np.mean([psnr(a, b) for a, b in planes])), float(np.mean([ssim(a, b) for a, b in planes]))

    def evaluate(self, upscale: Upscaler) -> tuple[float, float, list[np.ndarray]]:
        """Run ``upscale`` on every LR image; mean Y-PSNR, mean Y-SSIM and the outputs."""
        outputs = [upscale(p.lr) for p in self.pairs]
        psnr, ssim = self.score(outputs)
        return psnr, ssim, outputs
