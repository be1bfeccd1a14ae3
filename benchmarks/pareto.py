"""Quality per compute: Y-PSNR against MACs per pixel and against fps on this CPU (x2 or x4).

    python benchmarks/pareto.py --data ../shared/data --out benchmarks/results/pareto \
        [--speed benchmarks/results/cpu/<cpu-class>.json]
    python benchmarks/pareto.py --data ../shared/data --out benchmarks/results/pareto --scale 4 \
        [--speed benchmarks/results/cpu/<cpu-class>_x4.json] [--extra "realtime-x4 (before ECB)=old.onnx"]

For each method at ``--scale``: Set5 and BSD100 Y-PSNR (the ``sr-stream bench quality`` protocol; our models
in fp32, as the tier targets are stated), its MACs per input pixel (ONNX shape inference on our
graphs, the published architecture for OpenCV's peers: ``srstream.bench.macs``), and, when the
speed file of this CPU class has it (``benchmarks/cpu_speed.py``), its fps there. ``--extra
LABEL=FILE.onnx`` adds a model file (an older or candidate model) as one of ours. Published points
(ECBSR, FSRCNN's paper) are plotted as quoted in issue 18 and marked so: they were not measured
here and were not re-checked against the papers (no network access to them).

Writes ``pareto_x<scale>.json``, ``.md`` and ``.png`` (two panels).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cpu_speed import DEFAULT_INPUT, peers  # noqa: E402

OURS = {2: ("tiny-x2", "tiny-x2-deep", "realtime-x2", "realtime-x2-compressed"), 4: ("realtime-x4", "quality-x4")}
#: (label, MACs per LR pixel, Set5 Y-PSNR) per scale, as quoted in issue 18 (ECBSR: Zhang et al. 2021).
PUBLISHED = {2: (("ECBSR-M4C16 (published)", 10_000, 37.33), ("ECBSR-M10C32 (published)", 94_000, 37.76),
                 ("FSRCNN (paper)", 12_464, 37.00)),
             4: (("ECBSR-M10C32 (published)", 94_000, 31.66),)}


def _quality(name: str, data: Path, peers: Path, scale: int, ours: bool) -> dict[str, float]:
    from srstream.bench.methods import open_method
    from srstream.bench.quality import evaluate
    from srstream.evalset import BenchmarkSet

    out = {}
    kwargs = {"backend": "ort", "precision": "fp32"} if ours else {}
    for dataset in ("Set5", "BSD100"):
        with open_method(name, scale=scale, peers_dir=peers, **kwargs) as method:
            summary = evaluate(method, BenchmarkSet(data / "val" / dataset, scale)).summary()
            out[dataset] = round(summary["psnr_y"], 3)
    return out


def _macs(name: str) -> float:
    from srstream.bench.macs import PEER_MACS, onnx_macs_per_pixel
    from srstream.engine.models import resolve_model

    if name == "bicubic":
        return 0.0
    return float(PEER_MACS[name]) if name in PEER_MACS else onnx_macs_per_pixel(resolve_model(name).path)


def _fps(name: str, speed: dict | None) -> float | None:
    """The method's fps in the speed file: its `auto` row for our models (a file's under its
    resolved name, as cpu_speed labels it), its own row for peers."""
    if not speed:
        return None
    if name.endswith(".onnx"):
        from srstream.engine.models import resolve_model

        name = resolve_model(name).name
    rows = speed["methods"]
    if name in rows:
        return rows[name]["fps"]
    auto = [v["fps"] for k, v in rows.items() if k.startswith(name + " ") and v.get("auto")]
    return auto[0] if auto else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--speed", type=Path, help="a benchmarks/cpu_speed.py result of this CPU class")
    parser.add_argument("--scale", type=int, choices=sorted(OURS), default=2)
    parser.add_argument("--extra", action="append", default=[], metavar="LABEL=FILE",
                        help="a model file to place beside ours (repeatable)")
    args = parser.parse_args()
    s = args.scale
    speed = json.loads(args.speed.read_text()) if args.speed and args.speed.is_file() else None
    if speed and speed.get("scale", 2) != s:
        raise SystemExit(f"{args.speed} was measured at x{speed.get('scale', 2)}, not x{s}")
    extra = dict(item.split("=", 1) for item in args.extra)
    ours = {name: name for name in OURS[s]} | extra  # label -> bundled name or file
    rows = []
    for label, name in {"bicubic": "bicubic", **{p: p for p in peers(s)}, **ours}.items():
        q = _quality(name, args.data, args.data / "peers", s, label in ours)
        rows.append({"method": label, "ours": label in ours, "macs_per_px": _macs(name), "set5": q["Set5"],
                     "bsd100": q["BSD100"], "fps": _fps(name, speed)})
        print(rows[-1], file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = speed["machine"]["cpu"] if speed else None
    published = PUBLISHED[s]
    record = {"scale": s, "rows": rows,
              "published": [{"method": m, "macs_per_px": c, "set5": p} for m, c, p in published],
              "speed_file": str(args.speed) if speed else None,
              "speed_cpu": f"{cpu['model']} ({speed['cpu_class']})" if cpu else None,
              "speed_input": speed.get("input") if speed else None}
    stem = args.out / f"pareto_x{s}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    size = record["speed_input"] or DEFAULT_INPUT[s]
    lines = [f"| method | MAC / LR pixel | Set5 x{s} | BSD100 x{s} | fps {size}" + (f" ({record['speed_cpu']})" if cpu else "")
             + " |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        fps = f"{r['fps']:.1f}" if r["fps"] else "-"
        lines.append(f"| {r['method']} | {r['macs_per_px'] / 1000:.1f}k | {r['set5']:.2f} | {r['bsd100']:.2f} | {fps} |")
    for m, c, p in published:
        lines.append(f"| {m} | {c / 1000:.1f}k | {p:.2f} | - | - |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(rows, published, s, size, stem.with_suffix(".png"), record["speed_cpu"])
    print("\n".join(lines))
    return 0


def _plot(rows: list[dict], published: tuple, scale: int, size: str, path: Path, cpu: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8))
    for r in rows:
        color = "tab:red" if r["ours"] else "tab:blue" if r["method"] != "bicubic" else "gray"
        a.scatter(max(r["macs_per_px"], 100), r["set5"], color=color)
        a.annotate(r["method"], (max(r["macs_per_px"], 100), r["set5"]), fontsize=7, xytext=(4, 2), textcoords="offset points")
        if r["fps"]:
            b.scatter(r["fps"], r["set5"], color=color)
            b.annotate(r["method"], (r["fps"], r["set5"]), fontsize=7, xytext=(4, 2), textcoords="offset points")
    for m, c, p in published:
        a.scatter(c, p, marker="x", color="black")
        a.annotate(m, (c, p), fontsize=7, xytext=(4, -9), textcoords="offset points")
    a.set_xscale("log")
    a.set_xlabel("MACs per LR pixel (bicubic drawn at 100)")
    a.set_ylabel(f"Set5 x{scale} Y-PSNR (dB)")
    a.set_title("quality per compute (ours red, peers blue, published x)")
    w, h = (int(v) for v in size.split("x"))
    b.set_xlabel(f"fps, {size} -> {w * scale}x{h * scale}, {cpu or 'no speed file'}")
    b.set_title("quality per measured speed (this CPU)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
