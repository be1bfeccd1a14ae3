"""Whether libx264 gives the same bits for the same frames, with its own CPU choice and kept off
AVX-512 (``asm=AVX2``, what :func:`srstream.engine.encode.x264_params` adds on AVX-512 CPUs), and
what keeping it off costs in encoder time.

    python benchmarks/x264_avx512.py --clip ../shared/data/video/traffic_360p30_audio.mp4 \
        --out benchmarks/results/bench/x264_avx512 [--frames 90] [--reps 3]

1. Frames of a moving gradient (the tests' video) are encoded at several sizes, each in a fresh
   process under two glibc ``MALLOC_PERTURB_`` bytes, x264 at preset medium, CRF 23, one thread:
   glibc fills the memory it hands out with that byte, so code that reads memory it never wrote
   gives other bits for each byte. The same in both is what "deterministic" means here.
2. The clip's first ``--frames``, bicubic to 1280x720, are encoded at sr-stream's default preset
   and CRF (veryfast, 16, two threads) with x264's own choice and with ``asm=AVX2``, alternating
   ``--reps`` times: milliseconds per frame and bytes.

Results: ``OUT.json`` and ``OUT.md``, with the CPU named. Stop other work first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

SIZES = ((32, 24), (64, 48), (96, 48), (128, 48), (256, 144), (320, 180), (720, 404), (1280, 720))

_ONE = r"""
import hashlib, sys
from fractions import Fraction
import av, numpy as np
w, h, params = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = av.CodecContext.create("libx264", "w")
c.width, c.height, c.pix_fmt, c.time_base = w, h, "yuv420p", Fraction(1, 30)
c.options = {"crf": "23", "preset": "medium", "threads": "1", **({"x264-params": params} if params else {})}
yy, xx = np.mgrid[0:h, 0:w]
digest = hashlib.md5()
for i in range(24):
    rgb = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = i
    for p in [*c.encode(frame)]:
        digest.update(bytes(p))
for p in c.encode(None):
    digest.update(bytes(p))
print(digest.hexdigest())
"""


def digest(width: int, height: int, params: str, perturb: str) -> str:
    env = {**os.environ, "MALLOC_PERTURB_": perturb}
    done = subprocess.run([sys.executable, "-c", _ONE, str(width), str(height), params], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return done.stdout.strip()


def determinism() -> list[dict]:
    rows = []
    for w, h in SIZES:
        row = {"size": f"{w}x{h}"}
        for name, params in (("auto", ""), ("asm=AVX2", "asm=AVX2")):
            got = {digest(w, h, params, p) for p in ("85", "170")}
            row[name] = len(got) == 1
            row[name + " digest"] = sorted(got)[0][:8] if len(got) == 1 else None
        row["auto == AVX2"] = row["auto digest"] is not None and row["auto digest"] == row["asm=AVX2 digest"]
        rows.append(row)
        print(row, flush=True)
    return rows


def encoder_time(clip: Path, frames: int, reps: int) -> list[dict]:
    import av
    import cv2

    rgb = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            rgb.append(cv2.resize(f.to_ndarray(format="rgb24"), (1280, 720), interpolation=cv2.INTER_CUBIC))
            if len(rgb) == frames:
                break
    yuv = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in rgb]
    rows = []
    for rep in range(reps):
        for name, params in (("auto", ""), ("asm=AVX2", "asm=AVX2")):
            c = av.CodecContext.create("libx264", "w")
            c.width, c.height, c.pix_fmt, c.time_base = 1280, 720, "yuv420p", Fraction(1, 30)
            c.options = {"crf": "16", "preset": "veryfast", "threads": "2"}
            if params:
                c.options = {**c.options, "x264-params": params}
            size, start, h = 0, time.perf_counter(), hashlib.md5()
            for i, f in enumerate(yuv):
                f.pts = i
                for p in c.encode(f):
                    size += p.size
                    h.update(bytes(p))
            for p in c.encode(None):
                size += p.size
                h.update(bytes(p))
            ms = (time.perf_counter() - start) * 1000 / len(yuv)
            rows.append({"rep": rep, "x264": name, "ms_per_frame": round(ms, 2), "bytes": size,
                         "digest": h.hexdigest()[:8]})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    from srstream.engine.encode import _has_avx512
    from srstream.sysinfo import cpu_info

    cpu = cpu_info()
    isa = ", ".join(k for k, v in cpu.features.items() if v)
    result = {"cpu": cpu.model, "isa": isa, "avx512": _has_avx512(),
              "determinism": determinism(), "encoder_time": encoder_time(args.clip, args.frames, args.reps)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# libx264 with and without its AVX-512 code ({cpu.model}, {cpu.usable_cores} cores)", "",
             f"ISA: {isa}. Written by `benchmarks/x264_avx512.py`.", "",
             "Same bits under MALLOC_PERTURB_ 85 and 170 (moving gradient, 24 frames, medium, CRF 23, 1 thread):", "",
             "| size | x264's choice | asm=AVX2 | the two the same |", "|---|---|---|---|"]
    for r in result["determinism"]:
        lines.append(f"| {r['size']} | {'yes' if r['auto'] else '**no**'} | {'yes' if r['asm=AVX2'] else '**no**'} "
                     f"| {'yes' if r['auto == AVX2'] else 'no'} |")
    lines += ["", f"1280x720 encoder time, veryfast CRF 16, 2 threads, the clip's first {args.frames} frames "
              "(alternating):", "", "| rep | x264 | ms / frame | bytes |", "|---|---|---:|---:|"]
    for r in result["encoder_time"]:
        lines.append(f"| {r['rep']} | {r['x264']} | {r['ms_per_frame']} | {r['bytes']} |")
    times = {name: [r["ms_per_frame"] for r in result["encoder_time"] if r["x264"] == name]
             for name in ("auto", "asm=AVX2")}
    ratios = sorted(b / a for a, b in zip(times["auto"], times["asm=AVX2"]))
    lines += ["", f"asm=AVX2 / x264's choice, per pair: median {statistics.median(ratios):.3f} "
              f"(range {ratios[0]:.3f}-{ratios[-1]:.3f})."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
