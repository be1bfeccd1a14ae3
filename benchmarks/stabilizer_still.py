"""The stabiliser's rule for frames that stand still, swept: PSNR and temporal error per setting.

    python benchmarks/stabilizer_still.py --data ../shared/data --clip screen_desktop_720p60.mp4 \
        --model realtime-x2-screen --crf 23 --crf 30 --out benchmarks/results/bench/stabilizer_still_desktop

A frame of which at least ``share`` of the input pixels moved less than
:data:`srstream.engine.stabilize.STILL_MOTION` (the stabiliser's own flow) is steadied at the
``still`` strength instead of the strength asked (0.5), its small motions set to none
(:class:`srstream.engine.stabilize.TemporalStabilizer`). The clip's first ``--frames`` frames are
downscaled x2 (MATLAB bicubic), encoded at each ``--crf`` (``compressed_video.py``'s round trip),
upscaled once by ``--model`` (fp32 unless the name says otherwise), then steadied (tolerance
:data:`~srstream.engine.stabilize.COMPRESSED_TOLERANCE`, base blended, as ``--stabilize auto``;
``--tolerance 6`` is :data:`~srstream.engine.stabilize.DEFAULT_TOLERANCE`, what ``--stabilize`` gives a
clean stream or a live source) and capped (``--change-cap auto``) per setting, and scored against the
original frames. The ``not steadied`` row is the capped net alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compressed_video import h264_round_trip, read_frames  # noqa: E402

from srstream.atomic import write_atomic  # noqa: E402
from srstream.bench.methods import open_method  # noqa: E402
from srstream.bench.results import machine, write_json  # noqa: E402
from srstream.bench.temporal import hr_flows, temporal_error  # noqa: E402
from srstream.engine import stabilize  # noqa: E402
from srstream.engine.changecap import DEFAULT_GAIN, ChangeCap  # noqa: E402
from srstream.imresize import bicubic_degrade  # noqa: E402
from srstream.metrics import psnr_y  # noqa: E402

#: (still strength, share): off, the shipped rule, looser shares.
SETTINGS = ((0.0, 1.0), (stabilize.STILL_STRENGTH, stabilize.STILL_SHARE), (0.85, 0.9), (0.85, 0.8), (0.85, 0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--crf", type=int, action="append", help="x264 CRF (repeatable; 0: the clean LR)")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--tolerance", type=float, default=stabilize.COMPRESSED_TOLERANCE,
                        help="the stabiliser's tolerance (luma levels; default: a hard-compressed stream's)")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    args = parser.parse_args()
    path = args.data / "video" / args.clip
    if not path.is_file():
        raise SystemExit(f"{path} is not there: pass --data with the shared data folder")
    hr = read_frames(path, 2.0, 4)[:args.frames]
    clean = [bicubic_degrade(f, 2) for f in hr]
    flows = hr_flows(hr)
    model, bicubic = open_method(args.model, scale=2, precision=args.precision), open_method("bicubic", scale=2)
    rows, shipped_share = [], stabilize.STILL_SHARE

    def score(cond: str, setting: str, outs: list[np.ndarray]) -> None:
        row = {"condition": cond, "setting": setting,
               "psnr_y": float(np.mean([psnr_y(o, h, 2) for o, h in zip(outs, hr)])),
               "temporal_error": temporal_error(outs, hr, flows, border=2)}
        rows.append(row)
        print(f"{cond:6s} {setting:28s} {row['psnr_y']:.3f} dB  T {row['temporal_error']:.4f}", flush=True)

    try:
        for crf in args.crf or [23, 30]:
            cond = f"crf{crf}" if crf else "clean"
            lr = h264_round_trip(clean, crf)[0] if crf else clean
            raw = [model(x) for x in lr]
            score(cond, "bicubic", [bicubic(x) for x in lr])
            cap = ChangeCap(2, DEFAULT_GAIN)
            score(cond, "not steadied", [cap(x, o) for x, o in zip(lr, raw)])
            for still, share in SETTINGS:
                stabilize.STILL_SHARE = share
                steady = stabilize.TemporalStabilizer(2, stabilize.DEFAULT_STRENGTH, args.tolerance, base=True,
                                                      still=still)
                cap = ChangeCap(2, DEFAULT_GAIN)
                setting = "still off" if not still else f"still {still} at share >= {share}"
                score(cond, setting, [cap(x, steady(x, o)) for x, o in zip(lr, raw)])
    finally:
        stabilize.STILL_SHARE = shipped_share
        model.close()
        bicubic.close()
    conds = list(dict.fromkeys(r["condition"] for r in rows))
    lines = [f"Y-PSNR (dB) / temporal error, x2, the first {args.frames} frames of {args.clip}, {model.info.name} "
             f"({model.info.precision}), steadied at strength {stabilize.DEFAULT_STRENGTH} / tolerance "
             f"{args.tolerance:g} and capped; `python "
             f"{' '.join(['benchmarks/stabilizer_still.py', *sys.argv[1:]])}`", "",
             "| setting | " + " | ".join(conds) + " |", "|---|" + "---:|" * len(conds)]
    for setting in dict.fromkeys(r["setting"] for r in rows):
        cells = [next(f"{r['psnr_y']:.3f} / T {r['temporal_error']:.4f}" for r in rows
                      if r["condition"] == c and r["setting"] == setting) for c in conds]
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), {"clip": args.clip, "model": args.model, "frames": args.frames,
                                              "tolerance": args.tolerance, "rows": rows,
                                              "machine": machine()})
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
