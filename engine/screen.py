"""Does a video look like a screen recording? Two shares of its luma, from its first frames.

A desktop, an editor or a slide is mostly exactly flat ground with sharp, dense edges on it
(text, rules, icons). Camera footage and rendered films are either textured, with little ground
that is exactly flat over 5x5 pixels (Big Buck Bunny 2-12%, the traffic clip 13-15%), or flat
with few sharp edges (a plain wall: the bottles clip, 42% flat, 0.4% of neighbour pairs sharp
against the desktop capture's 2-3.5%). So a frame looks like a screen when at least
:data:`FLAT_SHARE` of its pixels are flat *and* at least :data:`EDGE_SHARE` of its horizontal
neighbour pairs differ by more than :data:`EDGE_STEP` levels. Measured on the shared clips (at
their own size, as the benchmarks' LR, and that LR through x264 at CRF 23 and 30) and on 696
stills (``benchmarks/results/bench/screen_content.md``): the desktop capture 56-68% flat with
2.0-3.5% edges, the voxel game capture 48-61% with 1.1-1.5%; no natural clip and no photo passes
(the flattest photo, 28%); Set14's slide (ppt3) does.

Black bars (letterboxing) are cut off first: they are flat and would count for any film.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["EDGE_SHARE", "FLAT_SHARE", "Look", "look", "mean_look"]

#: The share of pixels whose 5x5 neighbourhood is one luma level exactly.
FLAT_SHARE = 0.35
#: The share of horizontal neighbour pairs more than :data:`EDGE_STEP` levels apart.
EDGE_SHARE = 0.008
EDGE_STEP = 48


@dataclass(frozen=True)
class Look:
    """``flat``: the share of flat pixels; ``edges``: the share of sharp horizontal steps."""

    flat: float
    edges: float

    @property
    def screen(self) -> bool:
        """Flat ground with dense sharp edges: text, rules and panels, as a screen shows."""
        return self.flat >= FLAT_SHARE and self.edges >= EDGE_SHARE

    def describe(self) -> str:
        return f"{self.flat:.0%} flat, {self.edges:.1%} sharp edges"


def _cut_bars(y: np.ndarray) -> np.ndarray:
    """``y`` without the rows and columns at its borders that span at most two levels (black bars)."""
    rows = np.flatnonzero(np.ptp(y, axis=1) > 2)
    cols = np.flatnonzero(np.ptp(y, axis=0) > 2)
    if not len(rows) or not len(cols):
        return y[:0, :0]
    return y[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def look(luma: np.ndarray) -> Look:
    """The :class:`Look` of one frame's 8-bit luma (HxW uint8). A blank frame has no look:
    flat 0, edges 0 (it says nothing about the content)."""
    import cv2

    y = _cut_bars(np.ascontiguousarray(luma, dtype=np.uint8))
    if y.shape[0] < 5 or y.shape[1] < 5:
        return Look(0.0, 0.0)
    kernel = np.ones((5, 5), np.uint8)
    flat = cv2.dilate(y, kernel) == cv2.erode(y, kernel)
    steps = np.abs(np.diff(y.astype(np.int16), axis=1)) > EDGE_STEP
    return Look(float(np.mean(flat)), float(np.mean(steps)))


def mean_look(looks: Iterable[Look]) -> Look | None:
    """The mean of several frames' looks, blank frames left out (None when none is left): a screen
    recording that opens on a black frame is still a screen recording."""
    found = [f for f in looks if f != Look(0.0, 0.0)]
    if not found:
        return None
    return Look(float(np.mean([f.flat for f in found])), float(np.mean([f.edges for f in found])))
