"""The strength a conditioned net is told: linear in the stream's quantiser, clean when unknown."""

from __future__ import annotations

import math

from srstream.strength import QP_CLEAN, QP_HEAVY, from_qp


def test_strength_maps_the_quantiser_linearly_and_clamps() -> None:
    assert from_qp(None) == 0.0 and from_qp(math.nan) == 0.0
    assert from_qp(QP_CLEAN) == 0.0 and from_qp(0.0) == 0.0
    assert from_qp(QP_HEAVY) == 1.0 and from_qp(51.0) == 1.0
    middle = (QP_CLEAN + QP_HEAVY) / 2
    assert math.isclose(from_qp(middle), 0.5)
    assert from_qp(25.0) < from_qp(30.0) < from_qp(35.0)
