"""Validation during training: Y-PSNR/SSIM on a folder of HR images, and comparison strips.

LR images are made exactly as the benchmark protocol makes them (MATLAB bicubic, uint8), the
model runs on whole images, its output is rounded to uint8 and scored on the BT.601 Y channel
with ``scale`` border pixels cropped. One-channel models are scored on grey images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from srstream.imresize import bicubic_degrade, bicubic_upscale
from srstream.metrics import psnr_y, ssim_y
from srstream.trainer.data import list_images, read_image

__all__ = ["ValidationSet", "comparison_strip", "upscale_image", "write_png"]


def _gray(rgb: np.ndarray) -> np.ndarray:
    return np.floor(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) + 0.5).astype(np.uint8)[..., None]


@torch.no_grad()
def upscale_image(model: torch.nn.Module, lr: np.ndarray, device: torch.device) -> np.ndarray:
    """Run ``model`` on a whole uint8 ``(H, W, C)`` image; returns the rounded uint8 output."""
    x = torch.from_numpy(lr.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)
    y = model(x).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    return np.floor(y * 255.0 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class _Pair:
    name: str
    lr: np.ndarray
    hr: np.ndarray


class ValidationSet:
    """HR images of ``folder`` with their benchmark LR images, prepared once.

    A grayscale HR image (Set14's bridge) is fed to an RGB model as three equal channels and
    scored, like the benchmark protocol, on its own grey levels (the output's luma).
    """

    def __init__(self, folder: Path, scale: int, channels: int = 3, limit: int = 0) -> None:
        self.scale, self.channels = scale, channels
        self.pairs = []
        self.gray_sources = []
        for path in list_images([folder])[: limit or None]:
            stored = read_image(path)
            self.gray_sources.append(stored.ndim == 2)  # a grey *file*, not grey-looking RGB
            hr = np.repeat(stored[:, :, None], 3, axis=2) if stored.ndim == 2 else stored
            if channels == 1:
                hr = _gray(hr)
            h, w = hr.shape[:2]
            hr = hr[: h - h % scale, : w - w % scale]
            self.pairs.append(_Pair(path.stem, bicubic_degrade(hr, scale).reshape(-1, w // scale, hr.shape[2]), hr))
        self.bicubic = self._score([bicubic_upscale(p.lr, scale).reshape(p.hr.shape) for p in self.pairs])

    def _score(self, outputs: list[np.ndarray]) -> tuple[float, float]:
        s = self.scale
        pairs = [(o, p.hr) if not (gray and o.shape[2] == 3) else (_gray(o), p.hr[..., :1])
                 for o, p, gray in zip(outputs, self.pairs, self.gray_sources)]
        psnrs = [psnr_y(o, hr, s) for o, hr in pairs]
        ssims = [ssim_y(o, hr, s) for o, hr in pairs]
        return float(np.mean(psnrs)), float(np.mean(ssims))

    def evaluate(self, model: torch.nn.Module, device: torch.device) -> tuple[float, float, list[np.ndarray]]:
        """Mean Y-PSNR, mean Y-SSIM and the uint8 outputs, with ``model`` in eval mode."""
        was_training = model.training
        model.eval()
        outputs = [upscale_image(model, p.lr, device) for p in self.pairs]
        model.train(was_training)
        psnr, ssim = self._score(outputs)
        return psnr, ssim, outputs


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
