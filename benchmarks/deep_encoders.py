"""What encoding 10-bit video as HEVC Main 10 (x265, the default for inputs of more than 8 bits
since 2026-12-04) costs against H.264 High 10 (x264, the default before), and AV1 (SVT-AV1, the
default for a deep input into .webm), at sr-stream's settings (preset veryfast, CRF 16 for x264
and 18 for the others; SVT-AV1 at its own preset).

    python benchmarks/deep_encoders.py --clip ../shared/data/video/bbb_1080p30_5s.mp4 \
        --out benchmarks/results/bench/deep_encoders [--frames 60] [--size 1280x720] [--rounds 2]

The clip's first ``--frames`` are scaled to ``--size`` (bicubic) and converted to yuv420p10le, as
an upscaled 10-bit video reaches the encoder; each encoder then encodes them in memory with its
own threads, the encoders alternating for ``--rounds``: milliseconds per frame (the best round),
kbit/s at the clip's rate, and the Y-PSNR of the decoded result against the frames given (what
the encoder loses), on the 10-bit scale (peak 1023).

Results: ``OUT.json`` and ``OUT.md``, with the CPU named. Stop other work first.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ENCODERS = (("libx264", {"crf": "16", "preset": "veryfast"}, "mp4"),
            ("libx265", {"crf": "18", "preset": "veryfast", "x265-params": "log-level=error"}, "mp4"),
            ("libsvtav1", {"crf": "18"}, "webm"))


def frames_of(clip: Path, count: int, size: tuple[int, int]) -> tuple[list, Fraction]:
    import av

    out = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or Fraction(30)
        for frame in container.decode(stream):
            out.append(frame.reformat(width=size[0], height=size[1], format="yuv420p10le", interpolation="BICUBIC"))
            if len(out) >= count:
                break
    return out, rate


def encode(frames: list, rate: Fraction, codec: str, options: dict, fmt: str) -> tuple[float, bytes]:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p10le"
        stream.options = dict(options)
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, 1 / rate  # a frame's time: x264's rate control spends bits by it
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        seconds = time.perf_counter() - start
    return seconds, buffer.getvalue()


def luma_psnr(data: bytes, frames: list) -> float:
    import av

    errors = []
    with av.open(io.BytesIO(data)) as container:
        for got, given in zip(container.decode(video=0), frames):
            a = np.frombuffer(got.planes[0], np.uint16).reshape(got.height, -1)[:, :got.width].astype(np.float64)
            b = np.frombuffer(given.planes[0], np.uint16).reshape(given.height, -1)[:, :given.width]
            errors.append(np.mean((a - b) ** 2))
    return round(float(10 * np.log10(1023 ** 2 / max(np.mean(errors), 1e-12))), 2)


def main() -> int:
    import os

    from srstream.bench.results import machine

    os.environ.setdefault("SVT_LOG", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    frames, rate = frames_of(args.clip, args.frames, size)
    times: dict[str, list[float]] = {codec: [] for codec, _, _ in ENCODERS}
    made: dict[str, bytes] = {}
    for _ in range(args.rounds):
        for codec, options, fmt in ENCODERS:
            seconds, made[codec] = encode(frames, rate, codec, options, fmt)
            times[codec].append(seconds)
            print(f"{codec}: {1000 * seconds / len(frames):.1f} ms/frame", flush=True)
    rows = [{"codec": codec, "options": options, "ms_per_frame": round(1000 * min(times[codec]) / len(frames), 1),
             "rounds_ms": [round(1000 * t / len(frames), 1) for t in times[codec]],
             "kbit_s": round(len(made[codec]) * 8 / (len(frames) / float(rate)) / 1000),
             "psnr_y10": luma_psnr(made[codec], frames)} for codec, options, _ in ENCODERS]
    m = machine()["cpu"]
    cpu = f"{m['model']} ({', '.join(k for k, v in m['features'].items() if v)}), {m['usable_cores']} cores"
    result = {"cpu": cpu, "clip": args.clip.name, "frames": len(frames), "size": list(size), "rows": rows,
              "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# 10-bit encoders at sr-stream's settings: {args.clip.name}, {len(frames)} frames {size[0]}x{size[1]}",
             "", f"{cpu}; {result['date']}. Each encoder alone, its own threads, best of {args.rounds} alternating "
             "rounds. Y-PSNR (10-bit, peak 1023) of the decoded encode against the frames given.", "",
             "| encoder | settings | ms / frame | kbit/s | Y-PSNR dB |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['codec']} | {', '.join(f'{k}={v}' for k, v in r['options'].items() if k != 'x265-params')} | "
              f"{r['ms_per_frame']} | {r['kbit_s']} | {r['psnr_y10']} |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
