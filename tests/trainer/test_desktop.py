"""The synthetic desktops' subpixel (ClearType-like) text: coloured fringes where grey text on a
grey panel would have none, the panel untouched away from the glyphs, the same draw for the same
generator."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")

from srstream.trainer.desktop import _subpixel_text  # noqa: E402


def test_subpixel_text_has_colour_fringes_and_leaves_the_panel() -> None:
    canvas = np.full((90, 160, 3), 30, np.uint8)
    ink = np.array([230, 230, 230])
    boxes = [(4, 0, 160, 90)]
    fringed = 0
    for seed in range(4):
        out = _subpixel_text(canvas, boxes, ink, np.random.default_rng(seed))
        assert out.shape == canvas.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, _subpixel_text(canvas, boxes, ink, np.random.default_rng(seed)))
        wide = out.astype(int)
        touched = np.any(wide != 30, axis=2)
        if not touched.any():  # the block drew no line (15% of blocks are left empty)
            continue
        assert touched.mean() < 0.6  # text, not a filled panel
        # grey on grey: only the stripes' own coverage can make red and blue differ
        fringed += int(np.abs(wide[..., 0] - wide[..., 2]).max() > 40)
        rows = np.flatnonzero(touched.any(axis=1))
        assert np.all(out[: rows[0]] == 30) and np.all(out[rows[-1] + 1:] == 30)
    assert fringed >= 2
