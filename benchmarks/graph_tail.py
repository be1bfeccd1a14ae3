"""OpenVINO INT8 with the luma graph's last conv in our kernel, against the whole graph.

    python benchmarks/graph_tail.py --data ../shared/data --out benchmarks/results/bench/graph_tail \
        [--model tiny-x2 --model tiny-x2-deep] [--input 640x360] [--seconds 60]

One variable: ``SRSTREAM_GRAPH_TAIL`` (:mod:`srstream.engine.graph_tail`), off and on, for each
model on OpenVINO INT8, timed interleaved with OpenCV's FSRCNN-small (the peer every speed figure
is a ratio to) as :mod:`cpu_speed` times it: a whole uint8 frame in and out, fps = 1000 / median
latency. Also checks that both ways give the same frame. Writes ``OUT.json`` and ``OUT.md``.
Stop other work first: nothing here corrects for a busy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from cpu_speed import _interleaved, cpu_class  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data (for the OpenCV peer's weights)")
    parser.add_argument("--out", type=Path, required=True, help="OUT.json and OUT.md")
    parser.add_argument("--model", action="append", help="bundled x2 luma model (repeatable; default tiny-x2, "
                                                         "tiny-x2-deep, realtime-x2)")
    parser.add_argument("--input", default="640x360")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    peer_dir = args.data / "peers"
    if not peer_dir.is_dir():
        print(f"graph_tail: {peer_dir} is missing (the OpenCV peer's weights); pass --data", file=sys.stderr)
        return 2
    from srstream.bench.methods import open_method
    from srstream.bench.results import machine, write_json
    from srstream.engine.graph_tail import ENV
    from srstream.sysinfo import collect

    width, height = (int(v) for v in args.input.split("x"))
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    methods: dict[str, object] = {"opencv-fsrcnn-small-x2": open_method("opencv-fsrcnn-small-x2", scale=2,
                                                                       peers_dir=peer_dir)}
    models = args.model or ["tiny-x2", "tiny-x2-deep", "realtime-x2"]
    cut = {}
    for name in models:
        for tail in ("0", "1"):
            os.environ[ENV] = tail
            method = open_method(name, backend="ov", precision="int8", size=(width, height))
            methods[f"{name} {'native tail' if tail == '1' else 'whole graph'}"] = method
            cut[name, tail] = method
    os.environ.pop(ENV, None)
    same = {name: float(np.abs(cut[name, "0"](frame).astype(np.int16) - cut[name, "1"](frame)).max())
            for name in models}
    times = _interleaved(methods, frame, args.seconds)
    fps = {k: 1000.0 / float(np.median(v)) for k, v in times.items()}
    peer = fps["opencv-fsrcnn-small-x2"]
    info = collect()
    title = f"{info.cpu.model} ({cpu_class(info)}), {info.cpu.usable_cores} cores"
    rows = ["| method | fps | x FSRCNN-small | p90 ms |", "|---|---:|---:|---:|"]
    rows += [f"| {k} | {fps[k]:.1f} | {fps[k] / peer:.2f} | {np.percentile(times[k], 90):.1f} |"
             for k in sorted(fps, key=fps.get, reverse=True)]
    gains = [f"- {name}: {fps[f'{name} native tail'] / fps[f'{name} whole graph']:.3f}x the whole graph's fps; "
             f"largest difference between the two frames: {same[name]:.0f} levels" for name in models]
    text = (f"# OpenVINO INT8: the luma graph's last conv in our kernel, on {title}\n\n"
            f"{args.input} -> x2, whole uint8 frame in and out, interleaved for {args.seconds:.0f} s "
            f"(`python benchmarks/graph_tail.py --data ../shared/data --out {args.out}`).\n\n"
            + "\n".join(rows) + "\n\n" + "\n".join(gains) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    write_json(args.out.with_suffix(".json"), {"machine": machine(), "input": args.input, "seconds": args.seconds,
                                               "fps": fps, "max_difference_levels": same,
                                               "latency_ms": {k: [round(t, 3) for t in v] for k, v in times.items()}})
    print(text)
    for m in methods.values():
        close = getattr(m, "close", None)
        if close:
            close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
