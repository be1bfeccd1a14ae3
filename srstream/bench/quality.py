"""``sr-stream bench quality``: one method on one benchmark folder, scored as the SR literature scores.

Protocol (shared with the trainer's validation through :class:`srstream.evalset.BenchmarkSet`):
HR cropped to a multiple of the scale; LR made with MATLAB-compatible antialiased bicubic
``imresize`` and rounded to uint8; the method's uint8 output scored on the BT.601 Y channel
(16 + 65.481 R + 128.553 G + 24.966 B, rounded) with ``scale`` pixels cropped from each border:
PSNR in float64, SSIM with an 11x11 Gaussian window (sigma 1.5), MSE, VIF-pixel; and PSNR over
the RGB channels. Dataset scores are means over images (PSNR averaged in dB, as papers do).
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from srstream.atomic import write_atomic
from srstream.bench.methods import Method, MethodInfo
from srstream.bench.results import record, write_json
from srstream.evalset import BenchmarkSet, Pair, y_planes
from srstream.metrics import crop_border, mse, psnr, ssim, vif_p

__all__ = ["PROTOCOL", "ImageScore", "QualityResult", "evaluate", "score_image", "write_result"]

PROTOCOL = ("LR: MATLAB-compatible bicubic imresize (antialiased), uint8; Y: BT.601 16+65.481R+128.553G+24.966B "
            "rounded; border = scale px cropped; PSNR float64 peak 255; SSIM 11x11 Gaussian sigma 1.5; "
            "VIF-pixel (vifp_mscale); dataset score = mean over images")

METRICS = ("psnr_y", "ssim_y", "mse_y", "psnr_rgb", "vifp_y")


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr_y: float
    ssim_y: float
    mse_y: float
    psnr_rgb: float
    vifp_y: float
    seconds: float


def score_image(out: np.ndarray, pair: Pair, scale: int, seconds: float = 0.0) -> ImageScore:
    """Every metric of one uint8 output against its HR image (grey files scored on grey)."""
    if out.shape != pair.hr.shape:
        raise ValueError(f"{pair.name}: output {out.shape} for HR {pair.hr.shape}")
    y_sr, y_hr = y_planes(out, pair, scale)
    rgb_sr, rgb_hr = crop_border(out, scale), crop_border(pair.hr, scale)
    return ImageScore(pair.name, psnr(y_sr, y_hr), ssim(y_sr, y_hr), mse(y_sr, y_hr), psnr(rgb_sr, rgb_hr),
                      vif_p(y_hr, y_sr), seconds)


@dataclass(frozen=True)
class QualityResult:
    dataset: str
    scale: int
    model: str
    images: int
    psnr_y: float
    ssim_y: float
    mse_y: float
    psnr_rgb: float
    vifp_y: float
    bicubic_psnr_y: float
    bicubic_ssim_y: float
    seconds_per_image: float
    per_image: list[ImageScore]

    def summary(self) -> dict[str, object]:
        """The JSON fields (rounded), without the per-image list."""
        out = {k: v for k, v in asdict(self).items() if k != "per_image"}
        for key in (*METRICS, "bicubic_psnr_y", "bicubic_ssim_y", "seconds_per_image"):
            out[key] = _round(out[key], 4 if "ssim" in key or "vif" in key else 3)
        return out

    def csv_text(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["image", *METRICS, "seconds"])
        for s in self.per_image:
            writer.writerow([s.name, *(_round(getattr(s, m), 6) for m in METRICS), _round(s.seconds, 4)])
        return buf.getvalue()


def _round(value: float, digits: int) -> float | None:
    return None if value is None or math.isnan(value) else (value if math.isinf(value) else round(value, digits))


def evaluate(method: Method, bench: BenchmarkSet, progress=None) -> QualityResult:  # noqa: ANN001 - tqdm-like
    """Run ``method`` on every LR image of ``bench`` and score the outputs.

    Raises:
        ValueError: the method returned a wrongly sized image.
    """
    scores = []
    for pair in bench.pairs:
        start = time.perf_counter()
        out = method(pair.lr)
        seconds = time.perf_counter() - start
        scores.append(score_image(np.ascontiguousarray(out), pair, bench.scale, seconds))
        if progress is not None:
            progress(1)
    def mean(key: str) -> float:
        return float(np.mean([getattr(s, key) for s in scores]))
    return QualityResult(bench.folder.name, bench.scale, method.info.name, len(scores), *(mean(m) for m in METRICS),
                         bench.bicubic[0], bench.bicubic[1], mean("seconds"), scores)


def write_result(result: QualityResult, info: MethodInfo, data: str, json_path: Path | None,
                 csv_path: Path | None = None) -> None:
    """The JSON (summary, protocol, per-image scores, method, machine) and the per-image CSV
    (default: beside the JSON); either may be None."""
    if json_path:
        write_json(json_path, record({**result.summary(), "protocol": PROTOCOL, "data": data,
                                      "per_image": [vars(s) for s in result.per_image]}, info))
    csv_path = csv_path or (json_path.with_suffix(".csv") if json_path else None)
    if csv_path:
        write_atomic(csv_path, result.csv_text().encode())
