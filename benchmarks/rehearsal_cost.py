"""What the output rehearsal costs before a run (:func:`srstream.engine.encode.rehearse`: the
output written once into memory, three black frames through the encoder), per encoder and size.

    python benchmarks/rehearsal_cost.py --out benchmarks/results/bench/rehearsal_cost [--reps 3]

Each case is timed ``--reps`` times in this process; the median is reported. Results: ``OUT.json``
and ``OUT.md``, with the CPU named. Stop other work first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from fractions import Fraction
from pathlib import Path

#: (encoder, output suffix, muxer, output size).
CASES = (("libx264", ".mp4", "mp4", (1280, 720)), ("libx264", ".mp4", "mp4", (3840, 2160)),
         ("libx265", ".mp4", "mp4", (1280, 720)), ("libx265", ".mp4", "mp4", (3840, 2160)),
         ("libsvtav1", ".mkv", "matroska", (3840, 2160)), ("libvpx-vp9", ".webm", "webm", (1920, 1080)),
         ("gif", ".gif", "gif", (1280, 720)), ("prores_ks", ".mov", "mov", (1920, 1080)))


def time_case(codec: str, suffix: str, muxer: str, size: tuple[int, int], reps: int) -> float | None:
    """Median seconds of one rehearsal (None: no such encoder in this FFmpeg build)."""
    import av

    from srstream.engine.encode import add_video_stream, frame_converter, options_for, rehearse

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - not in this build
        return None
    options = options_for(suffix, codec, None)

    def build(box, opts):  # noqa: ANN001, ANN202
        stream, pix_fmt, _ = add_video_stream(box, opts, Fraction(30), *size, Fraction(1, 15360))
        return stream, frame_converter(pix_fmt, size=size), {}

    times = []
    for _ in range(reps):
        start = time.perf_counter()
        rehearse(muxer, options, build, size, f"a {suffix} output with {codec}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    from srstream.sysinfo import cpu_info

    cpu = cpu_info()
    isa = ", ".join(k for k, v in cpu.features.items() if v)
    rows = [{"codec": codec, "suffix": suffix, "size": f"{w}x{h}",
             "seconds": time_case(codec, suffix, muxer, (w, h), args.reps)}
            for codec, suffix, muxer, (w, h) in CASES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"cpu": cpu.model, "isa": isa, "rows": rows}, indent=1) + "\n")
    lines = [f"# The output rehearsal's cost before a run ({cpu.model}, {cpu.usable_cores} cores)", "",
             f"ISA: {isa}. Written by `benchmarks/rehearsal_cost.py`; the median of {args.reps}.", "",
             "| encoder | output | size | ms |", "|---|---|---|---:|"]
    for r in rows:
        ms = "not in this build" if r["seconds"] is None else f"{r['seconds'] * 1000:.0f}"
        lines.append(f"| {r['codec']} | {r['suffix']} | {r['size']} | {ms} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
