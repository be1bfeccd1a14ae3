"""Property tests of the tile planner (hypothesis) and its reference gather/blend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srstream.errors import TilingError
from srstream.spec import ModelSpec
from srstream.tiling import blend_tiles, extract_tiles, plan_axis, plan_for_spec, plan_tiles


@st.composite
def axis_cases(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    """(length, tile, overlap, margin, size_multiple) that form a valid plan."""
    multiple = draw(st.sampled_from([1, 1, 2, 4, 8]))
    overlap = draw(st.integers(0, 12))
    margin = draw(st.integers(0, overlap))
    min_tile = -(-(2 * overlap + multiple) // multiple) * multiple
    tile = draw(st.integers(min_tile // multiple, min_tile // multiple + 12)) * multiple
    length = draw(st.integers(1, 3 * tile + 40))
    return length, tile, overlap, margin, multiple


@given(axis_cases())
@settings(max_examples=400)
def test_axis_plan_covers_every_pixel_with_static_tiles(case: tuple[int, int, int, int, int]) -> None:
    length, tile, overlap, _, multiple = case
    axis = plan_axis(length, tile, overlap, multiple)
    assert axis.tile == tile
    assert axis.padded >= max(length, tile) and axis.padded % multiple == 0
    assert axis.padded - length < max(tile, multiple)  # padding only what is needed
    assert axis.origins[0] == 0 and axis.origins[-1] == axis.padded - tile  # clamped last tile
    assert all(o % multiple == 0 for o in axis.origins)
    covered = np.zeros(axis.padded, dtype=bool)
    for origin in axis.origins:
        assert 0 <= origin and origin + tile <= axis.padded  # every tile full size, in bounds
        covered[origin:origin + tile] = True
    assert covered.all()


@given(axis_cases())
@settings(max_examples=400)
def test_adjacent_tiles_share_at_least_twice_the_overlap(case: tuple[int, int, int, int, int]) -> None:
    length, tile, overlap, _, multiple = case
    origins = plan_axis(length, tile, overlap, multiple).origins
    assert list(origins) == sorted(set(origins))
    for left, right in zip(origins, origins[1:]):
        assert left + tile - right >= 2 * overlap


@given(axis_cases(), st.integers(1, 4))
@settings(max_examples=300)
def test_blend_weights_sum_to_one_and_skip_untrusted_pixels(
    case: tuple[int, int, int, int, int], scale: int
) -> None:
    length, tile, overlap, margin, multiple = case
    plan = plan_tiles(length, 3, tile=(tile, 0), overlap=overlap, scale=scale, margin=margin,
                      size_multiple=multiple)
    rows = plan.rows
    total = np.zeros(rows.padded * scale)
    for origin, w in zip(rows.origins, plan.row_weights):
        assert w.shape == (tile * scale,) and w.dtype == np.float32 and (w >= 0).all()
        band = margin * scale
        if origin > 0 and band:
            assert not w[:band].any()  # within the margin of an inner edge: never trusted
        if origin + tile < rows.padded and band:
            assert not w[-band:].any()
        total[origin * scale:(origin + tile) * scale] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def _box_model(x: np.ndarray, radius: int, scale: int) -> np.ndarray:
    """A stand-in 'network': (2r+1)^2 weighted sum with zero padding, then nearest upscaling.

    Its receptive-field margin is exactly ``radius``, like a conv stack with zero padding.
    """
    c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(x, dtype=np.float64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out += padded[:, radius + dy:radius + dy + h, radius + dx:radius + dx + w] * (1 + 0.1 * dy + 0.01 * dx)
    return out.repeat(scale, axis=1).repeat(scale, axis=2)


@given(
    h=st.integers(1, 70), w=st.integers(1, 70), scale=st.integers(1, 4),
    margin=st.integers(0, 4), extra=st.integers(0, 3), tile_extra=st.integers(1, 20),
    channels=st.sampled_from([1, 3]), seed=st.integers(0, 2**16),
)
@settings(max_examples=120, deadline=None)
def test_tiled_result_equals_whole_frame(
    h: int, w: int, scale: int, margin: int, extra: int, tile_extra: int, channels: int, seed: int
) -> None:
    overlap = margin + extra
    tile = 2 * overlap + tile_extra
    image = np.random.default_rng(seed).random((channels, h, w)).astype(np.float32)
    plan = plan_tiles(h, w, tile=tile, overlap=overlap, scale=scale, margin=margin)
    tiles = extract_tiles(image, plan)
    assert tiles.shape == (len(plan), channels, tile, tile)
    out = blend_tiles(np.stack([_box_model(t, margin, scale) for t in tiles]).astype(np.float32), plan)
    ph, pw = plan.padded_shape
    whole = _box_model(np.pad(image, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect"), margin, scale)
    assert out.shape == (channels, h * scale, w * scale)
    np.testing.assert_allclose(out, whole[:, :h * scale, :w * scale], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_image_smaller_than_tile_is_padded_and_cropped_back(scale: int) -> None:
    image = np.arange(3 * 5 * 7, dtype=np.float32).reshape(3, 5, 7)
    plan = plan_tiles(5, 7, tile=16, overlap=4, scale=scale)
    assert len(plan) == 1 and plan.padded_shape == (16, 16) and plan.output_shape == (5 * scale, 7 * scale)
    tiles = extract_tiles(image, plan)
    np.testing.assert_array_equal(tiles[0][:, :5, :7], image)  # original pixels at the top-left
    np.testing.assert_array_equal(tiles[0][:, 5, :7], image[:, 3, :])  # reflect, not edge
    up = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    np.testing.assert_array_equal(blend_tiles(up, plan), image.repeat(scale, 1).repeat(scale, 2))


def test_one_by_one_frame() -> None:
    plan = plan_tiles(1, 1, tile=8, overlap=2, scale=2)
    image = np.full((3, 1, 1), 0.25, dtype=np.float32)
    tiles = extract_tiles(image, plan)
    assert tiles.shape == (1, 3, 8, 8) and np.all(tiles == 0.25)


def test_whole_frame_tile_zero_respects_size_multiple() -> None:
    plan = plan_tiles(33, 50, tile=0, overlap=0, scale=2, size_multiple=4)
    assert plan.tile_shape == (36, 52) and len(plan) == 1


def test_known_plan() -> None:
    axis = plan_axis(100, tile=32, overlap=4)
    assert axis.origins == (0, 24, 48, 68)  # step 24, last clamped to 100 - 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 8, "overlap": 4, "scale": 2}, "too small .*use a tile of 9 or more \\(--tile\\), 0 for whole"),
        ({"tile": 32, "overlap": 2, "scale": 2, "margin": 3}, "receptive-field margin"),
        ({"tile": 30, "overlap": 2, "scale": 2, "size_multiple": 4}, "multiple"),
        ({"tile": 32, "overlap": 2, "scale": 0}, "scale"),
    ],
)
def test_impossible_plans_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(TilingError, match=message):
        plan_tiles(100, 100, **kwargs)


def test_zero_size_frame_raises() -> None:
    with pytest.raises(TilingError, match="at least 1x1"):
        plan_tiles(0, 10, tile=8, overlap=1, scale=2)


def test_mismatched_arrays_raise() -> None:
    plan = plan_tiles(20, 20, tile=12, overlap=2, scale=2)
    with pytest.raises(TilingError, match="does not match"):
        extract_tiles(np.zeros((3, 21, 20), np.float32), plan)
    with pytest.raises(TilingError, match="do not match"):
        blend_tiles(np.zeros((len(plan), 3, 12, 12), np.float32), plan)


def test_plan_for_spec_uses_the_model_advice() -> None:
    spec = ModelSpec(name="m", arch="a", scale=3, margin=5, tile=64, tile_overlap=8, size_multiple=2)
    plan = plan_for_spec(spec, 200, 150)
    assert plan.tile_shape == (64, 64) and plan.overlap == 8 and plan.margin == 5 and plan.scale == 3
    whole = plan_for_spec(spec, 99, 51, tile=0)
    assert whole.tile_shape == (100, 52) and len(whole) == 1
