"""Compression strength: the one number a strength-conditioned net is told about its input.

A net trained with ``strength: true`` (:mod:`srstream.archs.compact`) takes ``s`` in [0, 1]: 0 for
clean input, 1 for the heaviest compression it was trained on. ``s`` is read off the stream's mean
H.264 block quantiser (:mod:`srstream.engine.compression` at run time; the trainer decodes its own
training clips the same way), mapped linearly between :data:`QP_CLEAN` and :data:`QP_HEAVY`. The
quantiser, not bits per pixel or the encoder's CRF, because it is what the decoder sees of any
stream, whoever encoded it.
"""

from __future__ import annotations

import math

__all__ = ["QP_CLEAN", "QP_HEAVY", "from_qp"]

#: A mean quantiser at or below this is clean input (s = 0) ...
QP_CLEAN = 10.0
#: ... and at or above this the heaviest trained (s = 1). On the trainer's 52-pixel clips libx264
#: lands about 1 under the CRF, on real 540p-1080p streams 4-6 over it, but at one quantiser both
#: lose the same (benchmarks/results/training/realtime_x2_strength/calibration.md), so one scale
#: serves both.
QP_HEAVY = 45.0


def from_qp(qp: float | None) -> float:
    """``s`` for a mean H.264 quantiser (0-51); None (no quantiser known: a still image, an
    uncompressed or intra-only source whose decoder exports none) is clean, 0."""
    if qp is None or not math.isfinite(qp):
        return 0.0
    return min(max((qp - QP_CLEAN) / (QP_HEAVY - QP_CLEAN), 0.0), 1.0)
