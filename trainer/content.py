"""Video-like training content made from the photos: animation, screen captures, game textures.

The shared training images are photographs, but users upscale animation, desktop recordings and
games, whose statistics differ: flat regions with clean edges, text and UI lines one pixel wide,
blocky magnified textures. A net that learns on photos how much to smooth per compression
strength smooths the wrong amount on those (see the realtime_x2_strength record). These
transforms turn an HR region of a photo into such content *before* it becomes the HR target,
so LR and HR stay an exact pair; nothing is downloaded and no test clip is used.

- ``cartoon``: mean-shift segmentation (flat regions, edges kept), optionally dark outlines
  along the region edges, as in cel-shaded or flat-shaded animation.
- ``screen``: a synthetic desktop: a flat themed background, panels with borders, lines of text
  in OpenCV's Hershey fonts at desktop sizes (anti-aliased or not), and sometimes part of the
  photo as a picture in a window.
- ``desktop``: a synthetic desktop drawn with TrueType fonts (editor, file tree, terminal, a
  board or table grid, icons, a pointer): :mod:`srstream.trainer.desktop`.
- ``desktop_subpixel``: the same with half the desktops' text in subpixel (ClearType) rendering,
  coloured fringes and all, as Windows and browsers draw it; ``desktop_cleartype``: all of it so.
- ``pixelart``: the photo area-downscaled 2-8x and magnified back with nearest neighbour, as
  voxel and retro games show their textures.

Each transform is a pure function of the region and a generator, so a sample stays a function
of ``(seed, index)``. OpenCV does the drawing and filtering; only the composition is ours.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from srstream.trainer.desktop import desktop, desktop_cleartype, desktop_subpixel
from srstream.trainer.recipe import ContentConfig

__all__ = ["CONTENT_KINDS", "choose", "make_content"]

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL)
_TEXT = string.ascii_letters + string.digits + "      .,;:(){}[]<>=+-*/_'\"#"


def _cartoon(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    flat = cv2.pyrMeanShiftFiltering(np.ascontiguousarray(region), sp=float(rng.uniform(5, 12)),
                                     sr=float(rng.uniform(18, 40)))
    if rng.random() < 0.5:
        gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(gray, 60, 160)
        if rng.random() < 0.5:
            edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
        flat[edges > 0] = rng.integers(0, 60, 3).astype(np.uint8)  # flat is OpenCV's new array: drawn on in place
    return flat


def _random_text(rng: np.random.Generator, length: int) -> str:
    return "".join(_TEXT[i] for i in rng.integers(0, len(_TEXT), length))


def _screen(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = region.shape[:2]
    dark = rng.random() < 0.5
    bg = rng.integers(15, 60, 3) if dark else rng.integers(200, 256, 3)
    canvas = np.empty_like(region)
    canvas[:] = bg.astype(np.uint8)
    if rng.random() < 0.4:  # a picture in a window: part of the photo, at its own resolution
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        y1, x1 = int(rng.integers(y0 + h // 4, h + 1)), int(rng.integers(x0 + w // 4, w + 1))
        canvas[y0:y1, x0:x1] = region[y0:y1, x0:x1]
    for _ in range(int(rng.integers(0, 4))):  # panels, title bars, buttons
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, x1 = int(rng.integers(y0, h + 1)), int(rng.integers(x0, w + 1))
        fill = rng.integers(0, 256, 3)
        if rng.random() < 0.6:
            cv2.rectangle(canvas, (x0, y0), (x1, y1), fill.tolist(), -1)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), rng.integers(0, 256, 3).tolist(), 1)
    font = _FONTS[int(rng.integers(0, len(_FONTS)))]
    size = float(rng.uniform(0.3, 0.7))
    line = int(cv2.getTextSize("Ag", font, size, 1)[0][1] * rng.uniform(1.6, 2.4)) + 2
    aa = cv2.LINE_AA if rng.random() < 0.7 else cv2.LINE_8
    ink = (220 + rng.integers(0, 36, 3)) if dark else rng.integers(0, 50, 3)
    y = int(rng.integers(line // 2, line + 1))
    while y < h + line:
        if rng.random() < 0.85:
            x = int(rng.integers(-4, 24))
            color = ink if rng.random() < 0.6 else rng.integers(0, 256, 3)
            cv2.putText(canvas, _random_text(rng, int(rng.integers(4, 40))), (x, y), font, size,
                        color.tolist(), 1, aa)
        y += line
    return canvas


def _pixelart(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = region.shape[:2]
    f = int(rng.integers(2, 9))
    small = cv2.resize(region, (max(1, -(-w // f)), max(1, -(-h // f))), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (small.shape[1] * f, small.shape[0] * f), interpolation=cv2.INTER_NEAREST)
    # a random phase of the block grid, so block edges fall anywhere relative to the LR grid
    dy, dx = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
    return np.ascontiguousarray(big[dy:dy + h, dx:dx + w])


CONTENT_KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "cartoon": _cartoon, "screen": _screen, "pixelart": _pixelart, "desktop": desktop,
    "desktop_subpixel": desktop_subpixel, "desktop_cleartype": desktop_cleartype}


def choose(configs: Sequence[ContentConfig], rng: np.random.Generator) -> str | None:
    """One kind for a sample (their ``prob`` add up to at most 1), or None: the photo as it is."""
    u, total = rng.random(), 0.0
    for c in configs:
        total += c.prob
        if u < total:
            return c.kind
    return None


def make_content(kind: str, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``region`` (uint8 RGB, HxWx3) turned into content of ``kind``: uint8, the same shape."""
    out = CONTENT_KINDS[kind](region, rng)
    assert out.shape == region.shape and out.dtype == np.uint8
    return out
