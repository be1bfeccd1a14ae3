"""How tight a change cap? Y-PSNR and temporal error of ``auto`` with the cap at each (radius, gain,
noise level).

    python benchmarks/change_cap_sweep.py --data ../shared/data --clip screen_desktop_720p60.mp4 \
        --radius 0 --radius 1 --gain 1 --gain 1.5 --gain 2 --noise 0 --noise 4 --out OUT

The protocol of ``benchmarks/compressed_video.py`` (its first ``--frames`` of each clip, MATLAB
bicubic x2, H.264 at each CRF, scored on BT.601 Y against the original frames, temporal error
along the originals' optical flow), for ``auto`` as ``sr-stream VIDEO`` runs it (the model for the
stream's quantiser, steadied when that is the compressed variant) without the cap, and then the
same outputs through :class:`srstream.engine.changecap.ChangeCap` at every radius x gain x noise
level (a neighbour's change counts only above it; 0: every change). Writes
``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compressed_video import _PerStream, h264_round_trip, read_frames  # noqa: E402

from srstream.atomic import write_atomic  # noqa: E402
from srstream.bench.methods import open_method  # noqa: E402
from srstream.bench.results import machine, write_json  # noqa: E402
from srstream.bench.temporal import hr_flows, temporal_error  # noqa: E402
from srstream.engine.changecap import NOISE_LEVEL, ChangeCap  # noqa: E402
from srstream.engine.stabilize import TemporalStabilizer, setting, still_setting  # noqa: E402
from srstream.imresize import bicubic_degrade  # noqa: E402
from srstream.metrics import psnr_y  # noqa: E402


def _uncapped(name: str, lr_frames: list[np.ndarray], qp: float) -> list[np.ndarray]:
    """``auto`` (or bicubic) on the frames, steadied as ``sr-stream VIDEO`` steadies them, uncapped."""
    method = _PerStream("auto", 2) if name == "auto" else open_method(name, scale=2)
    try:
        if name == "auto":
            method.pick(qp, lr_frames)
        strength, tolerance = setting("auto", name == "auto" and method.hard)
        still = still_setting(name == "auto" and method.screen)
        steady = TemporalStabilizer(2, strength, tolerance, base=True, still=still) if strength else None
        out = []
        for lr in lr_frames:
            sr = method(lr)
            out.append(steady(lr, sr) if steady is not None else sr)
        return out
    finally:
        method.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", action="append", required=True)
    parser.add_argument("--crf", type=int, action="append", help="default 23 and 30")
    parser.add_argument("--radius", type=int, action="append", help="default 0, 1 and 2")
    parser.add_argument("--gain", type=float, action="append", help="default 1, 1.5, 2 and 3")
    parser.add_argument("--noise", type=int, action="append", help=f"default {NOISE_LEVEL} (the engine's)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = [(r, g, level) for r in (args.radius or [0, 1, 2]) for g in (args.gain or [1.0, 1.5, 2.0, 3.0])
                for level in (args.noise or [NOISE_LEVEL])]
    labels = [f"r{r} x{g:g} n{level}" for r, g, level in settings]
    rows, lines = [], ["| clip | LR | bicubic | auto | " + " | ".join(labels) + " |",
                       "|---|---|---:|---:|" + "---:|" * len(settings)]
    for clip in args.clip:
        hr = read_frames(args.data / "video" / clip, args.seconds, 4)
        lr = [bicubic_degrade(f, 2) for f in hr]
        n = min(args.frames, len(hr))
        flows = hr_flows(hr[:n])
        conditions = [("clean", lr, 0.0), *[(f"crf{c}", *h264_round_trip(lr, c)) for c in args.crf or [23, 30]]]
        for cond, frames, qp in conditions:
            frames = frames[:n]
            cells = []
            outputs = {"bicubic": _uncapped("bicubic", frames, qp), "auto": _uncapped("auto", frames, qp)}
            for (r, g, level), label in zip(settings, labels):
                cap = ChangeCap(2, g, r, level)
                outputs[label] = [cap(a, b.copy()) for a, b in zip(frames, outputs["auto"])]
            for name, out in outputs.items():
                row = {"clip": clip, "condition": cond, "qp": round(qp, 2), "method": name,
                       "psnr_y": float(np.mean([psnr_y(a, b, 2) for a, b in zip(out, hr)])),
                       "temporal_error": temporal_error(out, hr[:n], flows, border=2)}
                rows.append(row)
                cells.append(f"{row['psnr_y']:.3f} / T {row['temporal_error']:.4f}")
                print(f"{clip:28s} {cond:6s} {name:13s} {row['psnr_y']:.3f} dB  T {row['temporal_error']:.4f}",
                      flush=True)
            lines.append(f"| {clip} | {cond} | " + " | ".join(cells) + " |")
    command = " ".join(["benchmarks/change_cap_sweep.py", *sys.argv[1:]])
    head = (f"Y-PSNR (dB) / temporal error, x2, the first {args.frames} frames; `auto` uncapped, then capped at "
            f"radius r (input pixels), gain x and noise level n; `python {command}`")
    write_json(args.out.with_suffix(".json"), {"results": rows, "settings": settings, "frames": args.frames,
                                               "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()})
    write_atomic(args.out.with_suffix(".md"), ("\n".join([head, "", *lines]) + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
