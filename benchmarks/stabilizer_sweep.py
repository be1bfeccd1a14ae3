"""The temporal stabiliser's settings, swept on one clip: PSNR and temporal error per setting.

    python benchmarks/stabilizer_sweep.py --data ../shared/data --clip bbb_1080p30_5s.mp4 --frames 30 \
        --out benchmarks/results/bench/stabilizer_sweep

The clip's first ``--frames`` frames are downscaled x2 (MATLAB bicubic) and, for each condition,
encoded with x264 (``benchmarks/compressed_video.py``'s round trip); the model the default run
would take (realtime-x2 for clean input, realtime-x2-compressed for compressed) upscales them once,
and every (base blending, strength, tolerance) of the grid steadies those outputs. Scored against
the original frames: Y-PSNR and the temporal error of :mod:`srstream.bench.temporal`.

``--prefilter`` adds the alternative the engine does not ship: steadying the *input* instead of
the output (:class:`LowResPrefilter`, the same flow, gate and recursive blend on the low-resolution
luma, before the model). It would cost a quarter of the pixels; it scores worse (see the record).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compressed_video import h264_round_trip, read_frames  # noqa: E402

from srstream.atomic import write_atomic  # noqa: E402
from srstream.bench.methods import open_method  # noqa: E402
from srstream.bench.results import machine, write_json  # noqa: E402
from srstream.bench.temporal import hr_flows, temporal_error  # noqa: E402
from srstream.engine.stabilize import TemporalStabilizer  # noqa: E402
from srstream.images import LUMA_BT601  # noqa: E402
from srstream.imresize import bicubic_degrade  # noqa: E402
from srstream.metrics import psnr_y  # noqa: E402


class LowResPrefilter:
    """A causal motion-compensated filter on the input's luma: DIS flow (ultrafast) to the
    previous input, the previous *filtered* luma warped along it and blended in with weight
    ``strength`` where the warped previous raw luma matches this frame's within ``tolerance``
    levels (3x3-smoothed mismatch, fading linearly), the change added to R, G and B."""

    def __init__(self, strength: float, tolerance: float) -> None:
        self.strength, self.tolerance = strength, tolerance
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # u8 luma, raw, filtered
        self.grid: tuple[np.ndarray, np.ndarray] | None = None  # pixel coordinates, made once per size

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        y = cv2.transform(rgb.astype(np.float32), np.float32([LUMA_BT601]))
        y8 = np.clip(y + 0.5, 0, 255).astype(np.uint8)
        if self.prev is None or self.prev[0].shape != y8.shape:
            h, w = y.shape
            self.prev = (y8, y, y)
            self.grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            return rgb
        prev8, prev_raw, prev_filtered = self.prev
        flow = self.flow.calc(y8, prev8, None)
        mx, my = self.grid[0] + flow[..., 0], self.grid[1] + flow[..., 1]
        raw = cv2.remap(prev_raw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        filtered = cv2.remap(prev_filtered, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = self.strength * np.clip(1 - np.abs(cv2.GaussianBlur(raw - y, (3, 3), 0)) / self.tolerance, 0, 1)
        out = y + weight * (filtered - y)
        self.prev = (y8, y, out)
        return np.clip(rgb.astype(np.float32) + (out - y)[..., None] + 0.5, 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", default="bbb_1080p30_5s.mp4")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    parser.add_argument("--prefilter", action="store_true", help="also steady the input instead (LowResPrefilter)")
    args = parser.parse_args()
    path = args.data / "video" / args.clip
    if not path.is_file():
        raise SystemExit(f"{path} is not there: pass --data with the shared data folder")
    hr = read_frames(path, args.frames / 30 + 0.01, 4)[:args.frames]
    lr = [bicubic_degrade(f, 2) for f in hr]
    flows = hr_flows(hr)
    bicubic = open_method("bicubic", scale=2)
    models = {m: open_method(m, scale=2) for m in ("realtime-x2", "realtime-x2-compressed")}
    rows = []

    def score(setting: str, method: str, cond: str, outs: list[np.ndarray]) -> None:
        row = {"condition": cond, "method": method, "setting": setting,
               "psnr_y": float(np.mean([psnr_y(o, h, 2) for o, h in zip(outs, hr)])),
               "temporal_error": temporal_error(outs, hr, flows, border=2)}
        rows.append(row)
        print(f"{cond:6s} {method:22s} {setting:22s} {row['psnr_y']:.3f} dB  T {row['temporal_error']:.3f}", flush=True)

    for cond, crf in (("clean", None), ("crf18", 18), ("crf23", 23), ("crf30", 30)):
        frames = lr if crf is None else h264_round_trip(lr, crf)[0]
        model = "realtime-x2" if crf is None else "realtime-x2-compressed"
        outs = [models[model](x) for x in frames]
        score("bicubic", "bicubic", cond, [bicubic(x) for x in frames])
        score("model", model, cond, outs)
        for base, strength, tolerance in itertools.product((False, True), (0.5, 0.85), (4, 6, 12)):
            steady = TemporalStabilizer(2, strength, tolerance, base=base)
            score(f"model + s{strength} t{tolerance}{' base' if base else ''}", model, cond,
                  [steady(x, o) for x, o in zip(frames, outs)])
        if args.prefilter:
            for strength, tolerance in ((0.3, 6), (0.5, 3), (0.5, 6), (0.7, 8)):
                pre = LowResPrefilter(strength, tolerance)
                score(f"input prefilter s{strength} t{tolerance} + model", model, cond,
                      [models[model](pre(x)) for x in frames])
    for m in (bicubic, *models.values()):
        m.close()
    lines = [f"Y-PSNR (dB) / temporal error, x2, the first {args.frames} frames of {args.clip}; `python "
             f"{' '.join(['benchmarks/stabilizer_sweep.py', *sys.argv[1:]])}`", "",
             "| setting | clean | CRF 18 | CRF 23 | CRF 30 |", "|---|---:|---:|---:|---:|"]
    for setting in dict.fromkeys(r["setting"] for r in rows):
        cells = []
        for cond in ("clean", "crf18", "crf23", "crf30"):
            r = next(r for r in rows if r["condition"] == cond and r["setting"] == setting)
            cells.append(f"{r['psnr_y']:.3f} / T {r['temporal_error']:.3f}")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), {"clip": args.clip, "frames": args.frames, "rows": rows,
                                              "machine": machine()})
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
