"""Synthetic HR images for training tests (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_images(folder: Path, count: int = 6, size: tuple[int, int] = (80, 96), seed: int = 0) -> Path:
    """Images with edges, gradients and texture: something an SR net can learn quickly."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(count):
        image = np.zeros((h, w, 3), np.float64)
        for c in range(3):
            fy, fx = rng.uniform(0.02, 0.25, 2)
            image[..., c] = 127 + 100 * np.sin(fy * yy + fx * xx + rng.uniform(0, 6))
        for _ in range(4):
            y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
            image[y0:y0 + rng.integers(5, 30), x0:x0 + rng.integers(5, 30)] = rng.uniform(0, 255, 3)
        cv2.imwrite(str(folder / f"img{i}.png"), np.clip(image, 0, 255).astype(np.uint8))
    return folder


@pytest.fixture(scope="session")
def hr_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("hr"))


@pytest.fixture(scope="session")
def val_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("val"), count=2, size=(48, 40), seed=1)
