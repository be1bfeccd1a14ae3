"""Is a backend at a precision numerically right on *this* machine? Checked against fp32.

The same INT8 graph can be exact on one CPU and wrong on another: ONNX Runtime's U8S8 kernels on
x86 without VNNI add pairs of u8 x s8 products into a saturating int16, and OpenVINO runs fp32
graphs in bf16 on CPUs with native bf16 unless told otherwise. So before ``--precision auto``
takes a candidate, it upscales the bundled check crops (``engine/checks/``: bright flat areas
beside edges, text, a smooth gradient; downscaled with MATLAB bicubic by the model's factor) with
it and with the fp32 graph on ONNX Runtime, and compares:

* **PSNR cost**: the Y-PSNR against the HR crops (benchmark protocol: BT.601 luma, ``scale``
  border pixels cropped), over all crops together, below the reference's;
* **tail error**: the 99.9th percentile of ``|candidate - reference|`` in 8-bit luma levels;
* **pattern**: the largest amplitude of a period-2 pattern (checkerboard, horizontal or vertical
  stripes) in the difference, over 16x16 blocks: what int16 saturation in bright areas looks like.

A candidate passes when all three are within :data:`LIMITS`. Calibration, realtime-x2 INT8 on
the crops: accurate graphs (S8S8 anywhere; U8S8 on AVX-512 VNNI) cost 0.01-0.02 dB with a tail
of 1-3 levels and patterns of 0.14-0.24 levels; U8S8 under an emulated AVX2-only CPU cost 0.53 dB
with tails of 5-29 levels and patterns of 1.5-4.4 levels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from srstream.images import load_rgb
from srstream.imresize import imresize
from srstream.metrics import crop_border, rgb_to_y

__all__ = ["CHECKS_DIR", "FP32_METRIC", "INT8_METRIC", "LIMITS", "Accuracy", "Limits", "check_pairs", "compare",
           "recorded_int8_costs"]

#: The bundled HR check crops.
CHECKS_DIR = Path(__file__).with_name("checks")


@dataclass(frozen=True)
class Limits:
    cost_db: float = 0.05
    tail_levels: float = 8.0
    pattern_levels: float = 0.75


LIMITS = Limits()

#: How ``sr-stream export --int8 --val SET`` records the INT8 graph's quality on that whole set in
#: the spec's metrics: ``<set>_x<scale>_psnr_y`` + :data:`INT8_METRIC` for the INT8 graph and
#: + :data:`FP32_METRIC` for the fp32 ONNX graph.
INT8_METRIC, FP32_METRIC = "_int8", "_onnx_fp32"


def recorded_int8_costs(metrics: Mapping[str, float]) -> dict[str, float]:
    """``{"<set>_x<scale>_psnr_y": fp32 - int8 Y-PSNR}`` for every pair export recorded in ``metrics``."""
    out = {}
    for key, int8 in metrics.items():
        base = key.removesuffix(INT8_METRIC)
        if base != key and (fp32 := metrics.get(base + FP32_METRIC)) is not None:
            out[base] = fp32 - int8
    return out


@dataclass(frozen=True)
class Accuracy:
    """How a candidate's output departs from the fp32 reference on the check crops."""

    cost_db: float  # Y-PSNR below the reference's, all crops together (negative: better)
    tail_levels: float  # 99.9th percentile |difference|, 8-bit luma levels
    pattern_levels: float  # largest period-2 pattern amplitude in a 16x16 block, levels

    def problems(self, limits: Limits = LIMITS) -> list[str]:
        """What is out of bounds, in words; empty when the candidate is accurate."""
        out = []
        if self.cost_db > limits.cost_db:
            out.append(f"costs {self.cost_db:.2f} dB against fp32 (limit {limits.cost_db})")
        if self.tail_levels > limits.tail_levels:
            out.append(f"errs by up to {self.tail_levels:.0f} levels (limit {limits.tail_levels:.0f})")
        if self.pattern_levels > limits.pattern_levels:
            out.append(f"draws stripes/checkers of {self.pattern_levels:.1f} levels (limit {limits.pattern_levels})")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


@lru_cache(maxsize=8)
def check_pairs(scale: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``(lr, hr)`` uint8 RGB pairs of the check crops at ``scale`` (HR cropped to a multiple)."""
    pairs = []
    for path in sorted(CHECKS_DIR.glob("*.png")):
        hr = load_rgb(path)
        h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
        hr = np.ascontiguousarray(hr[:h, :w])
        lr = np.clip(np.floor(imresize(hr, 1 / scale) + 0.5), 0, 255).astype(np.uint8)
        pairs.append((lr, hr))
    return tuple(pairs)


def _pattern(diff: np.ndarray, block: int = 16) -> float:
    h, w = (diff.shape[0] // block) * block, (diff.shape[1] // block) * block
    if not h or not w:
        return 0.0
    d = diff[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w]
    worst = 0.0
    for sign in ((yy + xx) % 2, yy % 2, xx % 2):
        modulated = d * (1.0 - 2.0 * sign)
        means = modulated.reshape(h // block, block, w // block, block).mean(axis=(1, 3))
        worst = max(worst, float(np.abs(means).max()))
    return worst


def compare(candidate: Callable[[np.ndarray], np.ndarray], reference: Callable[[np.ndarray], np.ndarray],
            scale: int) -> Accuracy:
    """Score ``candidate`` against ``reference`` (both ``uint8 RGB (h, w, 3) -> (h*s, w*s, 3)``)."""
    se_cand = se_ref = 0.0
    tails, patterns = [], []
    for lr, hr in check_pairs(scale):
        truth = crop_border(rgb_to_y(hr), scale)
        ref = crop_border(rgb_to_y(reference(lr)), scale)
        out = crop_border(rgb_to_y(candidate(lr)), scale)
        se_ref += float(((ref - truth) ** 2).sum())
        se_cand += float(((out - truth) ** 2).sum())
        diff = out - ref
        tails.append(float(np.percentile(np.abs(diff), 99.9)))
        patterns.append(_pattern(diff))
    cost = 10.0 * np.log10(max(se_cand, 1e-12) / max(se_ref, 1e-12))
    return Accuracy(float(cost), max(tails), max(patterns))
