"""Speed on this CPU beside OpenCV's FSRCNN-small, for every backend x precision `auto` considers.

    python benchmarks/cpu_speed.py --data ../shared/data --out benchmarks/results/cpu \
        [--model realtime-x2 --model tiny-x2] [--input 640x360] [--seconds 40] [--clip FILE]
    python benchmarks/cpu_speed.py --data ../shared/data --out benchmarks/results/cpu --scale 4 \
        --model realtime-x4 [--model path/to/other-x4.onnx] [--input 320x180]

Speeds only mean something beside a peer measured in the same run on the same CPU, so every
method is timed interleaved with OpenCV dnn_superres FSRCNN-small (the fastest runnable peer),
FSRCNN, ESPCN (all at ``--scale``) and bicubic (numpy, MATLAB-compatible): rounds of a few calls of each method in turn, after a warm-up, until ``--seconds``
have passed; fps = 1000 / median latency of a whole uint8 frame in and out. For each model, each
backend x precision `auto` would consider is timed if it passes the accuracy check on this CPU,
and `auto`'s choice is marked. ``--clip`` adds the end-to-end fps of the first ``--model`` as
`auto` runs it on a real clip (decode + upscale + x264 encode).

Results go to ``OUT/<cpu>.json`` and ``OUT/<cpu>.md`` named after this CPU's class (for example
``zen4-avx512-vnni``; ``<cpu>_x4`` for ``--scale 4``), so runs on the project's different
machines sit side by side. ``--model`` also takes a model file, to time an old or candidate
model beside the bundled ones.
Stop other work first: nothing here corrects for a busy machine.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np


def cpu_class(info) -> str:  # noqa: ANN001 - SystemInfo
    """``zen4-avx512-vnni``-style name of the CPU's kind and widest int8 ISA. The kind is archspec's
    microarchitecture where it was read (``zen`` -> ``zen1``, ``sapphirerapids`` -> ``intel-spr``, other
    Intel ones ``intel-<name>``); without it (no archspec), only the vendor: guessing the generation from
    the ISA took a first-generation Zen for a Zen 3."""
    f = info.cpu.features
    isa = ("amx" if f.get("amx_int8") else "avx512-vnni" if f.get("avx512_vnni") else "avx512" if f.get("avx512f")
           else "avx2-vnni" if f.get("avx_vnni") else "avx2" if f.get("avx2") else "sse")
    arch = info.cpu.microarchitecture or ""
    if arch.startswith("zen"):
        vendor = "zen1" if arch == "zen" else arch
    elif arch == "sapphirerapids":
        vendor = "intel-spr"
    elif arch and "intel" in info.cpu.model.lower():
        vendor = f"intel-{arch}"
    else:
        model = info.cpu.model.lower()
        amd = "amd" in model or "epyc" in model or "ryzen" in model
        vendor = "amd" if amd else "intel" if "intel" in model else "cpu"
    return re.sub(r"[^a-z0-9-]", "", f"{vendor}-{isa}")


#: Input size per scale when ``--input`` is not given: a 1280x720 output either way.
DEFAULT_INPUT = {2: "640x360", 4: "320x180"}


def peers(scale: int) -> tuple[str, ...]:
    """OpenCV dnn_superres peers timed beside ours, the fastest (FSRCNN-small, the reference) first."""
    return tuple(f"opencv-{p}-x{scale}" for p in ("fsrcnn-small", "fsrcnn", "espcn"))


def _interleaved(methods: dict[str, object], frame: np.ndarray, seconds: float, block: int = 3) -> dict[str, list[float]]:
    for m in methods.values():  # warm-up: sessions, compiled shapes, buffers
        m(frame)
        m(frame)
    times: dict[str, list[float]] = {k: [] for k in methods}
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or min(len(v) for v in times.values()) < 5:
        for name, m in methods.items():
            for _ in range(block):
                t = time.perf_counter()
                m(frame)
                times[name].append((time.perf_counter() - t) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (peers/ inside)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append",
                        help="bundled models or model files of this scale (default: realtime-x2, realtime-x4 at x4)")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=2)
    parser.add_argument("--input", help="input size (default 640x360 at x2, 320x180 at x4: a 1280x720 output)")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--clip", type=Path, help="also time `auto` end to end on this clip")
    args = parser.parse_args()

    from srstream.bench import speed
    from srstream.bench.methods import open_method
    from srstream.bench.results import machine, write_json
    from srstream.engine.autotune import select
    from srstream.engine.models import resolve_model
    from srstream.sysinfo import collect

    info = collect()
    s = args.scale
    models = args.model or [f"realtime-x{s}"]
    width, height = (int(v) for v in (args.input or DEFAULT_INPUT[s]).split("x"))
    input_size = f"{width}x{height}"
    frame = speed.sample_frame(width, height)
    small = peers(s)[0]
    opened = {name: open_method(name, scale=s, peers_dir=args.data / "peers") for name in (*peers(s), "bicubic")}
    chosen: dict[str, str] = {}
    for name in models:
        model = resolve_model(name)
        if model.spec.scale != s:
            raise SystemExit(f"{name} upscales x{model.spec.scale}; this run is x{s} (--scale)")
        selection = select(model, size=(width, height))
        for row in selection.rows:
            if row.fps is None:
                continue
            label = f"{model.name} {row.backend} {row.precision}"
            opened[label] = open_method(name, backend=row.backend, precision=row.precision, size=(width, height))
            if row.chosen:
                chosen[name] = label
    try:
        times = _interleaved(opened, frame, args.seconds)
        e2e = None
        if args.clip:
            auto = opened[chosen[models[0]]]
            e2e = {"model": models[0], **speed.end_to_end(auto, args.clip)}
    finally:
        for m in opened.values():
            m.close()
    fps = {k: 1000.0 / float(np.median(v)) for k, v in times.items()}
    base = fps[small]
    record = {"input": input_size, "scale": s, "seconds": args.seconds, "cpu_class": cpu_class(info), "machine": machine(),
              "methods": {k: {"fps": round(v, 2), "vs_fsrcnn_small": round(v / base, 2), "runs": len(times[k]),
                              "p90_ms": round(float(np.percentile(times[k], 90)), 2),
                              "auto": k in chosen.values()} for k, v in fps.items()},
              "end_to_end": e2e}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (cpu_class(info) + ("" if s == 2 else f"_x{s}"))
    write_json(stem.with_suffix(".json"), record)
    flags = ", ".join(f for f, ok in info.cpu.features.items() if ok)
    lines = [f"# {info.cpu.describe()} ({flags}), {info.cpu.usable_cores} cores", "",
             f"{input_size} -> x{s}, whole uint8 frame in and out, interleaved for {args.seconds:.0f} s "
             f"(`benchmarks/cpu_speed.py`, {time.strftime('%Y-%m-%d')}).", "",
             "| method | fps | x FSRCNN-small | p90 ms | auto |", "|---|---:|---:|---:|---|"]
    for k, v in sorted(fps.items(), key=lambda kv: -kv[1]):
        m = record["methods"][k]
        lines.append(f"| {k} | {v:.1f} | {m['vs_fsrcnn_small']:.2f} | {m['p90_ms']:.1f} | {'chosen' if m['auto'] else ''} |")
    if e2e:
        lines += ["", f"End to end ({e2e['model']}, `auto`, {Path(e2e['clip']).name}): {e2e['fps']:.1f} fps, "
                      f"{e2e['frames_out']} frames in {e2e['seconds']} s ({e2e['encoder']})."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
