"""libvpx VP9's speed settings against its default, on 720p frames: encoder fps, bytes, Y-PSNR.

    python benchmarks/vp9_speed.py --video ../shared/data/video --out benchmarks/results/bench/vp9_speed.md

A .webm output is coded by libvpx-vp9, whose own default (deadline good, speed 0-1) is the slowest
part of such a run. This codes the first 45 frames of each clip, scaled to 1280x720 (sr-stream's
x2 output of a 640x360 input), at CRF 18 (sr-stream's default for VP9) with the default and with
the settings :data:`srstream.engine.encode.LIBVPX_FOR_X264` picks from, on 2 encoder threads, and
scores the decoded frames against the frames coded (Y-PSNR). Bytes and dB do not depend on the
CPU; fps do (the CPU is named in the output).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.bench.results import machine

CLIPS = ("bbb_1080p30_5s.mp4", "screen_desktop_720p60.mp4", "game_voxel_720p30.mp4")
SETTINGS = (("libvpx default", {}), ("good 2, row-mt", {"cpu-used": "2", "row-mt": "1"}),
            ("good 4, row-mt", {"cpu-used": "4", "row-mt": "1"}),
            ("realtime 6, row-mt", {"deadline": "realtime", "cpu-used": "6", "row-mt": "1"}),
            ("realtime 8, row-mt", {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"}))


def measure(frames: list[np.ndarray], options: dict[str, str]) -> tuple[float, int, float]:
    """Encoder fps, bytes and mean Y-PSNR of ``frames`` (yuv420p arrays) coded with ``options``."""
    import av

    h, w = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    enc = av.CodecContext.create("libvpx-vp9", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base, enc.framerate, enc.thread_count = Fraction(1, 30), Fraction(30), 2
    enc.options = {"crf": "18", "b": "0", **options}
    started = time.perf_counter()
    packets = []
    for i, planes in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    seconds = time.perf_counter() - started
    dec = av.CodecContext.create("vp9", "r")
    decoded = [f.to_ndarray(format="yuv420p") for p in [*packets, None] for f in dec.decode(p)]
    mse = np.mean([np.mean((a[:h].astype(float) - b[:h].astype(float)) ** 2) for a, b in zip(decoded, frames)])
    return len(frames) / seconds, sum(p.size for p in packets), 10 * math.log10(255 ** 2 / mse)


def main() -> int:
    import av

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--frames", type=int, default=45)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench/vp9_speed.md"))
    args = parser.parse_args()
    clips = [args.video / c for c in CLIPS if (args.video / c).exists()]
    if not clips:
        print(f"no clips in {args.video}; pass --video", file=sys.stderr)
        return 2
    cpu = machine()["cpu"]
    lines = [f"# libvpx VP9 speed settings at CRF 18, 1280x720 ({cpu['model']}, {cpu['microarchitecture']}, "
             "2 encoder threads)", "", "| clip | setting | encoder fps | kB | Y-PSNR |", "|---|---|---:|---:|---:|"]
    for clip in clips:
        with av.open(str(clip)) as container:
            frames = []
            for frame in container.decode(video=0):
                frames.append(frame.reformat(width=1280, height=720, format="yuv420p").to_ndarray())
                if len(frames) == args.frames:
                    break
        for name, options in SETTINGS:
            fps, size, psnr = measure(frames, options)
            lines.append(f"| {clip.name} | {name} | {fps:.1f} | {size / 1000:.0f} | {psnr:.2f} |")
            print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
