"""Validation during training: Y-PSNR/SSIM on a folder of HR images, and comparison strips.

LR images are made exactly as the benchmark protocol makes them (MATLAB bicubic, uint8), the
model runs on whole images, its output is rounded to uint8 and scored on the BT.601 Y channel
with ``scale`` border pixels cropped. One-channel models are scored on grey images.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from srstream.evalset import BenchmarkSet
from srstream.imresize import bicubic_upscale

__all__ = ["ValidationSet", "comparison_strip", "upscale_image", "write_png"]


@torch.no_grad()
def upscale_image(model: torch.nn.Module, lr: np.ndarray, device: torch.device) -> np.ndarray:
    """Run ``model`` on a whole uint8 ``(H, W, C)`` image; returns the rounded uint8 output."""
    x = torch.from_numpy(lr.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)
    y = model(x).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    return np.floor(y * 255.0 + 0.5).astype(np.uint8)


class ValidationSet(BenchmarkSet):
    """:class:`~srstream.evalset.BenchmarkSet` evaluated with a torch model."""

    def evaluate_model(self, model: torch.nn.Module, device: torch.device) -> tuple[float, float, list[np.ndarray]]:
        """Mean Y-PSNR, mean Y-SSIM and the uint8 outputs, with ``model`` in eval mode."""
        was_training = model.training
        model.eval()
        try:
            return self.evaluate(lambda lr: upscale_image(model, lr, device))
        finally:
            model.train(was_training)


def comparison_strip(lr: np.ndarray, hr: np.ndarray, sr: np.ndarray, scale: int, crop: int = 128) -> np.ndarray:
    """``LR (nearest) | bicubic | SR | HR`` of the central ``crop`` HR pixels, as one RGB image."""
    h, w = hr.shape[:2]
    crop = min(crop, h, w) // scale * scale
    y, x = (h - crop) // 2 // scale * scale, (w - crop) // 2 // scale * scale
    bic = bicubic_upscale(lr, scale).reshape(hr.shape)
    near = np.repeat(np.repeat(lr, scale, 0), scale, 1).reshape(hr.shape)
    tiles = [img[y:y + crop, x:x + crop] for img in (near, bic, sr, hr)]
    gap = np.full((crop, 4, hr.shape[2]), 255, np.uint8)
    strip = np.concatenate([t for img in tiles for t in (img, gap)][:-1], axis=1)
    return strip if strip.shape[2] == 3 else np.repeat(strip, 3, axis=2)


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
