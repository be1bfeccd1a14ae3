"""Tile planning: the one place that decides how a frame is cut into tiles and put back.

Shared by the trainer's validation, export checks and the engine. Planning is integer maths on
one axis at a time; the blend weights follow from the plan.

Conventions (all sizes in input pixels unless stated):

* Every tile has the same static shape ``(tile_h, tile_w)``. Tiles start every
  ``tile - 2 * overlap`` pixels; the last row/column is clamped to the border (it overlaps its
  neighbour more), never ragged.
* A frame smaller than a tile, or not a multiple of ``size_multiple``, is reflect-padded at the
  bottom/right to the planned size and the output is cropped back.
* ``overlap`` is the context each tile carries on each inner side; adjacent tiles share at least
  ``2 * overlap`` pixels. ``margin`` is the model's receptive-field margin (``overlap >= margin``):
  output pixels closer than ``margin`` to an inner tile edge are not trusted and get weight 0.
  Across the rest of the shared band the weights ramp linearly so neighbours cross-fade, and
  the weights of every output pixel sum to 1. With a purely convolutional model the blended
  result therefore equals the whole-frame result of the padded frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from srstream.errors import TilingError
from srstream.spec import ModelSpec

__all__ = ["AxisPlan", "TilePlan", "blend_tiles", "extract_tiles", "plan_axis", "plan_for_spec", "plan_tiles"]


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class AxisPlan:
    """Tiling of one axis.

    Attributes:
        length: the frame's length on this axis.
        padded: length after reflect padding at the end (``>= tile``, multiple of the model's
            size multiple).
        tile: the static tile length.
        origins: start of every tile, increasing; the last is ``padded - tile``.
    """

    length: int
    padded: int
    tile: int
    origins: tuple[int, ...]


def plan_axis(length: int, tile: int, overlap: int, size_multiple: int = 1) -> AxisPlan:
    """Plan one axis. ``tile=0`` means one tile covering the whole (padded) axis.

    Raises:
        TilingError: non-positive length, a tile that is not a multiple of ``size_multiple``,
            or a tile too small for the overlap (``tile >= 2 * overlap + size_multiple``).
    """
    if length < 1:
        raise TilingError(f"cannot tile an axis of length {length}; frames must be at least 1x1")
    if size_multiple < 1 or overlap < 0 or tile < 0:
        raise TilingError(
            f"invalid tiling: tile={tile}, overlap={overlap}, size_multiple={size_multiple}"
        )
    if tile == 0:
        tile = _ceil_to(length, size_multiple)
    if tile % size_multiple:
        raise TilingError(f"tile {tile} is not a multiple of the model's size multiple {size_multiple}")
    padded = max(_ceil_to(length, size_multiple), tile)
    if padded == tile:
        return AxisPlan(length, padded, tile, (0,))
    step = (tile - 2 * overlap) // size_multiple * size_multiple
    if step < size_multiple:
        raise TilingError(
            f"tile {tile} is too small for overlap {overlap}: a tile holds the overlap on both sides and "
            f"{size_multiple} pixel{'s' if size_multiple > 1 else ''} more; use a tile of "
            f"{2 * overlap + size_multiple} or more (--tile), 0 for whole frames, or a smaller overlap"
        )
    origins = list(range(0, padded - tile, step))
    origins.append(padded - tile)
    return AxisPlan(length, padded, tile, tuple(origins))


def _axis_weights(axis: AxisPlan, overlap: int, margin: int, scale: int) -> tuple[np.ndarray, ...]:
    """Per-tile 1-D blend weights at output resolution, normalised to sum to 1 per pixel."""
    n = axis.tile * scale
    d = np.arange(n, dtype=np.float64) + 0.5  # distance of each output pixel centre from the start
    lo, ramp = margin * scale, (2 * overlap - 2 * margin) * scale

    def edge(dist: np.ndarray) -> np.ndarray:
        if ramp == 0:
            return (dist > lo).astype(np.float64)
        return np.clip((dist - lo) / ramp, 0.0, 1.0)

    raw = []
    for origin in axis.origins:
        w = np.ones(n, dtype=np.float64)
        if origin > 0:
            w *= edge(d)
        if origin + axis.tile < axis.padded:
            w *= edge(n - d)
        raw.append(w)
    total = np.zeros(axis.padded * scale, dtype=np.float64)
    for origin, w in zip(axis.origins, raw):
        total[origin * scale:origin * scale + n] += w
    if not np.all(total > 0):  # guaranteed by plan_axis when overlap >= margin; keep it honest
        raise TilingError("tile plan leaves output pixels without a trusted tile")
    return tuple(
        (w / total[o * scale:o * scale + n]).astype(np.float32) for o, w in zip(axis.origins, raw)
    )


@dataclass(frozen=True)
class TilePlan:
    """How one frame size is cut into tiles of one static shape and blended back.

    Build it with :func:`plan_tiles`. Tiles are ordered row-major: ``tiles[i] = (y, x)``.
    """

    height: int
    width: int
    rows: AxisPlan
    cols: AxisPlan
    overlap: int
    margin: int
    scale: int

    @property
    def tile_shape(self) -> tuple[int, int]:
        """``(tile_h, tile_w)`` in input pixels."""
        return self.rows.tile, self.cols.tile

    @property
    def padded_shape(self) -> tuple[int, int]:
        return self.rows.padded, self.cols.padded

    @property
    def output_shape(self) -> tuple[int, int]:
        """``(height * scale, width * scale)``: the cropped output frame."""
        return self.height * self.scale, self.width * self.scale

    @property
    def tiles(self) -> tuple[tuple[int, int], ...]:
        return tuple((y, x) for y in self.rows.origins for x in self.cols.origins)

    def __len__(self) -> int:
        return len(self.rows.origins) * len(self.cols.origins)

    @cached_property
    def row_weights(self) -> tuple[np.ndarray, ...]:
        """Per tile row: float32 weights of length ``tile_h * scale``."""
        return _axis_weights(self.rows, self.overlap, self.margin, self.scale)

    @cached_property
    def col_weights(self) -> tuple[np.ndarray, ...]:
        """Per tile column: float32 weights of length ``tile_w * scale``."""
        return _axis_weights(self.cols, self.overlap, self.margin, self.scale)

    def weight(self, index: int) -> np.ndarray:
        """The 2-D float32 weight map of tile ``index`` (outer product of its row/col weights)."""
        r, c = divmod(index, len(self.cols.origins))
        return np.outer(self.row_weights[r], self.col_weights[c])


def plan_tiles(
    height: int,
    width: int,
    *,
    tile: int | tuple[int, int],
    overlap: int,
    scale: int,
    margin: int | None = None,
    size_multiple: int = 1,
) -> TilePlan:
    """Plan the tiles of a ``height x width`` frame.

    Args:
        tile: square tile size, or ``(tile_h, tile_w)``; 0 on an axis means the whole axis.
        overlap: context per inner tile side, ``>= margin``.
        scale: the model's upscaling factor (>= 1).
        margin: the model's receptive-field margin; defaults to ``overlap``.
        size_multiple: the model's input size multiple.

    Raises:
        TilingError: impossible combination (see :func:`plan_axis`), ``overlap < margin``.
    """
    tile_h, tile_w = (tile, tile) if isinstance(tile, int) else tile
    margin = overlap if margin is None else margin
    if scale < 1:
        raise TilingError(f"scale must be >= 1, got {scale}")
    if not 0 <= margin <= overlap:
        raise TilingError(
            f"overlap {overlap} is below the model's receptive-field margin {margin}: tiles would "
            "show seams; use an overlap of at least the margin"
        )
    rows = plan_axis(height, tile_h, overlap, size_multiple)
    cols = plan_axis(width, tile_w, overlap, size_multiple)
    return TilePlan(height, width, rows, cols, overlap, margin, scale)


def extract_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Reference (numpy) gather: ``(C, H, W)`` frame -> ``(N, C, tile_h, tile_w)`` batch.

    The frame is reflect-padded at the bottom/right to ``plan.padded_shape`` first.
    """
    if image.ndim != 3 or image.shape[1:] != (plan.height, plan.width):
        raise TilingError(
            f"frame of shape {image.shape} does not match the plan's (C, {plan.height}, {plan.width})"
        )
    pad_h, pad_w = plan.rows.padded - plan.height, plan.cols.padded - plan.width
    padded = np.pad(image, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect") if pad_h or pad_w else image
    th, tw = plan.tile_shape
    return np.stack([padded[:, y:y + th, x:x + tw] for y, x in plan.tiles])


def blend_tiles(tiles: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Reference (numpy) blend: ``(N, C, tile_h*s, tile_w*s)`` outputs -> ``(C, H*s, W*s)`` frame."""
    s = plan.scale
    th, tw = plan.tile_shape
    if tiles.ndim != 4 or tiles.shape[0] != len(plan) or tiles.shape[2:] != (th * s, tw * s):
        raise TilingError(
            f"tile outputs of shape {tiles.shape} do not match the plan: expected "
            f"({len(plan)}, C, {th * s}, {tw * s})"
        )
    out = np.zeros((tiles.shape[1], plan.rows.padded * s, plan.cols.padded * s), dtype=np.float32)
    for i, (y, x) in enumerate(plan.tiles):
        out[:, y * s:(y + th) * s, x * s:(x + tw) * s] += tiles[i] * plan.weight(i)
    oh, ow = plan.output_shape
    return out[:, :oh, :ow]


def plan_for_spec(
    spec: ModelSpec, height: int, width: int, *, tile: int | None = None, overlap: int | None = None
) -> TilePlan:
    """:func:`plan_tiles` with the model's scale, margin, size multiple and tiling advice.

    ``tile``/``overlap`` default to the spec's recommendation; ``tile=0`` means whole frames.
    """
    return plan_tiles(
        height,
        width,
        tile=spec.tile if tile is None else tile,
        overlap=spec.tile_overlap if overlap is None else overlap,
        scale=spec.scale,
        margin=spec.margin,
        size_multiple=spec.size_multiple,
    )
