"""Comparison grids: for a few benchmark images, the same crop through every method, beside the LR
input and the HR original, in one PNG (one row per image, one column per method).

Each method runs on the whole LR image (as in the quality benchmark) and its output is cropped,
so borders and tiling behave as they do for users. The crop is the most detailed square of the
HR image (largest mean gradient magnitude on a grid of candidates), chosen the same way every
run. Column labels carry the method and its Y-PSNR on that crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from srstream.bench.methods import Method
from srstream.engine.stills import write_still
from srstream.evalset import BenchmarkSet
from srstream.metrics import psnr, rgb_to_y

__all__ = ["comparison_grid", "detailed_crop", "join", "label"]

GAP = 4


def detailed_crop(hr: np.ndarray, size: int, scale: int) -> tuple[int, int]:
    """``(y, x)`` of the ``size``-pixel square of ``hr`` with the most gradient energy, aligned to
    ``scale`` so the LR crop is exact; candidates step by a quarter of ``size``."""
    grey = cv2.cvtColor(hr, cv2.COLOR_RGB2GRAY).astype(np.float32) if hr.shape[2] == 3 else hr[..., 0].astype(np.float32)
    energy = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    integral = cv2.integral(energy)
    h, w = grey.shape
    step = max(scale, (size // 4) // scale * scale)
    best, where = -1.0, (0, 0)
    for y in range(0, max(h - size, 0) + 1, step):
        for x in range(0, max(w - size, 0) + 1, step):
            total = integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x] + integral[y, x]
            if total > best:
                best, where = float(total), (y, x)
    return where


def label(tile: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``tile`` (uint8 RGB) under a white band holding ``lines`` of text, 15 px each."""
    band = 4 + 15 * len(lines)
    out = np.full((tile.shape[0] + band, tile.shape[1], 3), 255, np.uint8)
    out[band:] = tile
    for i, text in enumerate(lines):
        cv2.putText(out, text, (3, 14 + 15 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def join(images: Sequence[np.ndarray], axis: int, gap: int = GAP) -> np.ndarray:
    """uint8 RGB images side by side (``axis=1``) or stacked (``axis=0``) with white gaps; shorter
    ones are padded with white at their end."""
    size = max(img.shape[1 - axis] for img in images)
    parts = []
    for img in images:
        pad = [(0, 0)] * 3
        pad[1 - axis] = (0, size - img.shape[1 - axis])
        if parts:
            gap_shape = [size, size, 3]
            gap_shape[axis] = gap
            parts.append(np.full(gap_shape, 255, np.uint8))
        parts.append(np.pad(img, pad, constant_values=255))
    return np.concatenate(parts, axis=axis)


def comparison_grid(data: Path, scale: int, methods: Sequence[Method], out: Path, *, images: int = 3,
                    crop: int = 0) -> np.ndarray:
    """Write the grid PNG for the first ``images`` images of ``data``; returns the RGB grid.

    Raises:
        InputError: the folder is missing or holds unreadable images.
        OutputError: the PNG cannot be written.
    """
    if images < 1 or crop < 0:  # images=0 would be every image of the set (BenchmarkSet's limit 0)
        from srstream.errors import ConfigError

        raise ConfigError(f"images={images}, crop={crop}: 1 image or more, and a crop of 0 (the default) or more")
    bench = BenchmarkSet(data, scale, limit=images)
    size = crop or min(48 * scale, 192)
    size -= size % scale
    zoom = max(1, 192 // size)
    rows = []
    for pair in bench.pairs:
        hr = pair.hr
        size_here = min(size, (min(hr.shape[:2]) // scale) * scale)
        y, x = detailed_crop(hr, size_here, scale)
        hr_crop = hr[y:y + size_here, x:x + size_here]
        lr_crop = pair.lr[y // scale:(y + size_here) // scale, x // scale:(x + size_here) // scale]

        def show(img: np.ndarray) -> np.ndarray:
            img = img if img.shape[2] == 3 else np.repeat(img, 3, axis=2)
            return cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)

        tiles = [label(show(cv2.resize(lr_crop, (size_here, size_here), interpolation=cv2.INTER_NEAREST)),
                       [f"{pair.name} LR x{scale}", "(nearest)"])]
        for method in methods:
            sr_crop = np.ascontiguousarray(method(pair.lr))[y:y + size_here, x:x + size_here]
            score = psnr(rgb_to_y(sr_crop), rgb_to_y(hr_crop))
            tiles.append(label(show(sr_crop), [method.info.name[:28], f"{score:.2f} dB (crop Y)"]))
        tiles.append(label(show(hr_crop), ["HR", f"({y}, {x})"]))
        rows.append(join(tiles, axis=1))
    grid = join(rows, axis=0)
    write_still(out, grid, png_compression=9)
    return grid
