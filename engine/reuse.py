"""Run the network only where a frame changed: the rest of its output is the frame before's.

An output pixel of the network depends on the input pixels within ``margin`` of it (the model's
receptive field) and on nothing else. So where a frame's input equals the previous frame's within
that reach, its output equals the previous output there, exactly. Screen recordings, games with a
still camera or a HUD, slides and desktop captures repeat most of each frame bit for bit (their
encoders skip unchanged blocks); a camera's noise repeats nothing, and there this costs one compare
a frame and changes nothing.

:class:`RegionReuse` keeps the last whole-frame input (packed as the backend takes it) and the
network's output for it. For each new frame it finds the blocks of :data:`BLOCK` input pixels with
a changed input within ``margin`` of them, and runs the network on those blocks alone, each in a
window of ``BLOCK + 2 * margin`` pixels (shifted inside the frame at its edges, so every block sees
its whole receptive field, or the frame's own border as the whole frame does), batched
``max_batch`` windows at a time, one batch shape for the backend to compile. Their centres go into
the kept output. A frame identical to the one before runs nothing.

Windows cost more per pixel than a whole frame (their halos, and a small picture's lower
efficiency: about 1.2x per pixel for realtime-x2 INT8 with OpenVINO, up to 1.3-3.8x for tiny-x2 on
a 2-core Zen 4). So each frame takes the cheaper of the two by the time per input pixel each has
taken on this run so far (a running mean of both, measured as they run), never a fixed ratio.

It needs the margin to be a true bound: the upscaler leaves it off for a net that reaches the
whole picture (a spec of whole frames only) and for a foreign graph (its margin measured, not known).

The windows' results equal the whole frame's in exact arithmetic; INT8, fp32 and bf16 graphs on
ONNX Runtime and OpenVINO gave the same samples to the bit on a Zen 4. Elsewhere a kernel chosen
for the window's shape may round an fp32 sum differently: one level in an output sample at most.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import cv2
import numpy as np

__all__ = ["BLOCK", "RegionReuse", "ReuseStats"]

#: Block side in input pixels. Among 16-64 the screen capture and the game clip in the shared data
#: needed the least work at 24-32 (with realtime-x2's margin of 8): smaller blocks follow the changes
#: more closely but repeat their halos more.
BLOCK = 32

#: How far a window's measured cost per pixel may rise before the whole frame is taken: windows run
#: only where their estimated time is below this share of the whole frame's.
WHOLE_ABOVE = 0.9


@dataclass
class ReuseStats:
    """What the network was spared: frames seen, frames identical to the one before, and the
    input pixels it ran on against the frames' own."""

    frames: int = 0
    still_frames: int = 0
    window_frames: int = 0
    pixels_run: int = 0
    pixels_total: int = 0

    @classmethod
    def total(cls, stats: Iterable[ReuseStats | None]) -> ReuseStats:
        """The sum of several upscalers' (the rungs of a live run's ladder; None: reuse off)."""
        out = cls()
        for one in stats:
            if one is not None:
                for name in ("frames", "still_frames", "window_frames", "pixels_run", "pixels_total"):
                    setattr(out, name, getattr(out, name) + getattr(one, name))
        return out

    @property
    def share_run(self) -> float:
        """The share of the frames' area the network ran on (windows' halos counted)."""
        return self.pixels_run / self.pixels_total if self.pixels_total else 1.0

    def describe(self) -> str | None:
        """A line for the run summary, or None when nothing was reused."""
        if not self.still_frames and not self.window_frames:
            return None
        return (f"the network ran on {100 * self.share_run:.0f}% of the frames' area, the rest unchanged from the "
                f"frame before and its output reused ({self.still_frames} frames identical to the one before, "
                f"{self.window_frames} recomputed in part; --no-reuse runs every frame whole)")


class RegionReuse:
    """The network's whole-frame output, recomputed only where the input changed (see the module).

    ``margin``: the model's receptive-field margin in input pixels; ``scale``: its factor;
    ``max_batch``: the most windows per backend call.
    """

    def __init__(self, margin: int, scale: int, max_batch: int) -> None:
        self.margin, self.scale, self.batch = int(margin), int(scale), max(1, int(max_batch))
        self.window = BLOCK + 2 * self.margin
        self.stats = ReuseStats()
        self._kernel = np.ones((2 * self.margin + 1, 2 * self.margin + 1), np.uint8)
        self._input: np.ndarray | None = None  # (C, H, W): the last whole frame's packed input
        self._output: np.ndarray | None = None  # (C_out, H*s, W*s) float32: the network's output for it
        self._buffer: np.ndarray | None = None  # (batch, C, window, window)
        self._tiles_in: np.ndarray | None = None  # a tiled frame's (N, C, h, w) packed tiles
        self._tiles_out: np.ndarray | None = None  # and the network's (N, C_out, h*s, w*s) outputs for them
        self._tile_batch: np.ndarray | None = None
        self._rate_whole: float | None = None  # seconds per input pixel, running means
        self._rate_window: float | None = None

    def reset(self) -> None:
        """Forget the last frame (the next one runs whole)."""
        self._input = self._output = self._tiles_in = self._tiles_out = None

    def run(self, tiles: np.ndarray, infer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The network's ``(1, C_out, H*s, W*s)`` output for the one whole-frame tile ``tiles``
        ``(1, C, H, W)``; ``infer`` runs a batch. The result is this object's own buffer, valid
        until the next call. A failure (``infer`` raising, an interrupt) forgets the last frame:
        its kept output may then be part new, part old."""
        return self._forgetting_on_failure(self._run, tiles, infer)

    def _forgetting_on_failure(self, step: Callable[..., np.ndarray], *args: object) -> np.ndarray:
        try:
            return step(*args)
        except BaseException:
            self.reset()
            raise

    def _run(self, tiles: np.ndarray, infer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        x = tiles[0]
        _, height, width = x.shape
        self.stats.frames += 1
        self.stats.pixels_total += height * width
        prev = self._input
        if prev is None or prev.shape != x.shape or prev.dtype != x.dtype:
            return self._whole(tiles, infer)
        changed = np.not_equal(x[0], prev[0])
        for c in range(1, x.shape[0]):
            changed |= np.not_equal(x[c], prev[c])
        count = np.count_nonzero(changed)
        if not count:
            self.stats.still_frames += 1
            return self._output[None]
        if height < self.window or width < self.window or not self._cheaper(-(-count // BLOCK ** 2), height * width):
            return self._whole(tiles, infer)  # a camera's noise: every frame changes all over (no block map made)
        blocks = self._changed_blocks(changed)
        if not self._cheaper(len(blocks), height * width):
            return self._whole(tiles, infer)
        return self._windows(x, blocks, infer, self._pixels(len(blocks)))

    def _pixels(self, blocks: int) -> int:
        """The input pixels the windows of ``blocks`` blocks take, in whole batches."""
        return -(-blocks // self.batch) * self.batch * self.window * self.window

    def _cheaper(self, blocks: int, frame_pixels: int) -> bool:
        """Whether ``blocks`` blocks' windows are estimated to take less time than the whole frame."""
        whole_rate = self._rate_whole
        window_rate = self._rate_window if self._rate_window is not None else 1.3 * whole_rate
        return self._pixels(blocks) * window_rate < WHOLE_ABOVE * frame_pixels * whole_rate

    def run_tiles(self, tiles: np.ndarray, infer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The network's ``(N, C_out, h*s, w*s)`` outputs for a frame's ``N`` tiles ``(N, C, h, w)``
        (a frame too large for one piece, blended by the caller), recomputing only the tiles whose
        input changed: each tile is run alone, its output a function of its own input. ``infer``
        runs up to ``max_batch`` tiles. The result is this object's own buffer, valid until the
        next call. A failure forgets the last frame, as :meth:`run`'s does."""
        return self._forgetting_on_failure(self._run_tiles, tiles, infer)

    def _run_tiles(self, tiles: np.ndarray, infer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        n, _, height, width = tiles.shape
        self.stats.frames += 1
        self.stats.pixels_total += n * height * width
        prev = self._tiles_in
        fresh = prev is None or prev.shape != tiles.shape or prev.dtype != tiles.dtype
        changed = list(range(n)) if fresh else [i for i in range(n) if not np.array_equal(tiles[i], prev[i])]
        if not changed:
            self.stats.still_frames += 1
            return self._tiles_out
        for first in range(0, len(changed), self.batch):
            group = changed[first:first + self.batch]
            if len(group) == self.batch and group[-1] - group[0] == self.batch - 1:  # a full batch in a row: no copy
                out = infer(tiles[group[0]:group[-1] + 1])
            else:  # a full batch whatever the count (one shape for the backend; spare places hold stale tiles)
                self._tile_batch = _scratch(self._tile_batch, (self.batch, *tiles.shape[1:]), tiles.dtype)
                for j, i in enumerate(group):
                    self._tile_batch[j] = tiles[i]
                out = infer(self._tile_batch)
            if fresh and first == 0:
                self._tiles_in = np.empty_like(tiles)
                self._tiles_out = np.empty((n, *out.shape[1:]), np.float32)
            for j, i in enumerate(group):
                self._tiles_out[i] = out[j]
            self.stats.pixels_run += len(out) * height * width
        np.copyto(self._tiles_in, tiles)
        if not fresh:
            self.stats.window_frames += 1
        return self._tiles_out

    def _whole(self, tiles: np.ndarray, infer: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        start = time.perf_counter()
        out = infer(tiles)
        seconds = time.perf_counter() - start
        _, _, height, width = tiles.shape
        self._rate_whole = _mean(self._rate_whole, seconds / (height * width))
        self.stats.pixels_run += height * width
        if self._input is None or self._input.shape != tiles.shape[1:] or self._input.dtype != tiles.dtype:
            self._input = np.empty(tiles.shape[1:], tiles.dtype)
            self._output = np.empty(out.shape[1:], np.float32)
        np.copyto(self._input, tiles[0])
        np.copyto(self._output, out[0])
        return self._output[None]

    def _changed_blocks(self, changed: np.ndarray) -> list[tuple[int, int]]:
        """The ``(top, left)`` of every block with a changed input pixel within ``margin`` of it."""
        height, width = changed.shape
        near = cv2.dilate(changed.view(np.uint8), self._kernel) if self.margin else changed.view(np.uint8)
        rows, cols = -(-height // BLOCK), -(-width // BLOCK)
        padded = np.zeros((rows * BLOCK, cols * BLOCK), np.uint8)
        padded[:height, :width] = near
        hit = padded.reshape(rows, BLOCK, cols, BLOCK).max(axis=(1, 3))
        return [(int(r) * BLOCK, int(c) * BLOCK) for r, c in zip(*np.nonzero(hit))]

    def _windows(self, x: np.ndarray, blocks: list[tuple[int, int]], infer: Callable[[np.ndarray], np.ndarray],
                 pixels: int) -> np.ndarray:
        channels, height, width = x.shape
        w, s, m = self.window, self.scale, self.margin
        self._buffer = _scratch(self._buffer, (self.batch, channels, w, w), x.dtype)
        start = time.perf_counter()
        for first in range(0, len(blocks), self.batch):
            group = blocks[first:first + self.batch]
            origins = []
            for i, (top, left) in enumerate(group):
                wy, wx = min(max(0, top - m), height - w), min(max(0, left - m), width - w)
                self._buffer[i] = x[:, wy:wy + w, wx:wx + w]
                origins.append((wy, wx))
            out = infer(self._buffer)  # the unused places hold earlier windows: one batch shape throughout
            for i, ((top, left), (wy, wx)) in enumerate(zip(group, origins)):
                bh, bw = min(BLOCK, height - top), min(BLOCK, width - left)
                oy, ox = (top - wy) * s, (left - wx) * s
                self._output[:, top * s:(top + bh) * s, left * s:(left + bw) * s] = \
                    out[i, :, oy:oy + bh * s, ox:ox + bw * s]
        seconds = time.perf_counter() - start
        self._rate_window = _mean(self._rate_window, seconds / pixels)
        np.copyto(self._input, x)
        self.stats.window_frames += 1
        self.stats.pixels_run += pixels
        return self._output[None]


def _scratch(buffer: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``buffer`` if it has this shape and type, else a new zeroed one (kept from frame to frame)."""
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        return np.zeros(shape, dtype)
    return buffer


def _mean(old: float | None, new: float) -> float:
    """A running mean that follows the last ten or so frames."""
    return new if old is None else 0.8 * old + 0.2 * new
