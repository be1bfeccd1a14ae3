"""Live upscaling latency and fps: a screen region captured, upscaled and shown in a window.

Starts its own Xvfb display, draws the moving test pattern (``srstream.engine.pattern``) in a
region at 30 fps, and runs the live pipeline on that region (x11grab -> upscale -> pygame window)
for each configuration. Per configuration it reports:

* fps shown, frames captured / upscaled / shown and the drop counters;
* **capture-to-display** latency (the frame read from the X server -> after the window's flip),
  p50 / p95 / p99, as ``sr-stream`` prints it;
* **glass-to-glass** latency: the pattern's frame number is decoded from each captured frame
  and matched with the moment the pattern program put that frame on screen, so the time the
  grab itself waited (up to one capture period) is included;
* the upscale time per frame;
* **judder**: for each pair of frames shown one after the other, how far the time between their
  showings departs from the time between their drawings (mean and p95, ms; 0: motion shown as
  it was drawn), and the glass-to-glass latency's standard deviation. Each configuration runs
  paced (the default: each frame shown at its capture time plus a steady delay,
  :class:`srstream.engine.pipeline.Pacer`) and not paced (``--no-pace``: as soon as upscaled).

A ``bicubic`` row (OpenCV resize instead of a network, same stages) gives the floor that
capture, colour conversion and display cost on their own.

    python benchmarks/live_latency.py --seconds 20 --out benchmarks/results/live

Run it on an otherwise idle machine: the live stages compete with anything else for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from srstream.engine.autotune import choose
from srstream.engine.backends import open_backend
from srstream.engine.live import Rung, run_live
from srstream.engine.sources import parse_live
from srstream.engine.models import resolve_model
from srstream.engine.pattern import read_counter
from srstream.engine.upscaler import FrameUpscaler
from srstream.sysinfo import collect

CONFIGS = [  # (label, model or "bicubic", precision, region width, height, scale, paced)
    ("bicubic x2 (no network)", "bicubic", "", 640, 360, 2, True),
    ("bicubic x2 (no network), not paced", "bicubic", "", 640, 360, 2, False),
    ("tiny-x2 fp32", "tiny-x2", "fp32", 320, 180, 2, True),
    ("tiny-x2 fp32, not paced", "tiny-x2", "fp32", 320, 180, 2, False),
    ("realtime-x2 INT8", "realtime-x2", "int8", 640, 360, 2, True),
    ("realtime-x2 INT8, not paced", "realtime-x2", "int8", 640, 360, 2, False),
    ("realtime-x2 fp32", "realtime-x2", "fp32", 640, 360, 2, True),
    ("realtime-x2 fp32, not paced", "realtime-x2", "fp32", 640, 360, 2, False),
    ("realtime-x4 INT8", "realtime-x4", "int8", 320, 180, 4, True),
    ("realtime-x4 INT8, not paced", "realtime-x4", "int8", 320, 180, 4, False),
]


class _Bicubic:
    def __init__(self, scale: int) -> None:
        self.scale = scale

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        return cv2.resize(frame, (w * self.scale, h * self.scale), interpolation=cv2.INTER_CUBIC)


def start_xvfb(size: str) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("Xvfb")
    if exe is None:
        raise SystemExit("needs Xvfb: bash tests/system-deps.sh (or apt install xvfb)")
    read, write = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        return proc, f":{f.readline().strip()}"


def run_config(display: str, label: str, model_name: str, precision: str, w: int, h: int, scale: int,
               paced: bool, seconds: float, log_dir: Path) -> dict:
    from srstream.engine.display import WindowDisplay

    log = log_dir / f"pattern_{model_name}_{precision or 'none'}_{paced}.tsv"
    painter = subprocess.Popen([sys.executable, "-m", "srstream.engine.pattern", "--size", f"{w}x{h}", "--pos", "0,0",
                                "--fps", "30", "--seconds", str(seconds + 6), "--log", str(log)],
                               env={**os.environ, "DISPLAY": display, "SDL_VIDEODRIVER": "x11"})
    time.sleep(1.5)
    shown: list[tuple[int, float]] = []
    try:
        with ExitStack() as stack:
            if model_name == "bicubic":
                ladder = [Rung(label, lambda: _Bicubic(scale))]
            else:
                model = resolve_model(model_name)
                choice = choose(model, "ort", precision)
                ladder = [Rung(label, lambda: FrameUpscaler(stack.enter_context(open_backend(model, choice)),
                                                            model.spec))]
            window = WindowDisplay(label, overlay=False, position=(w + 10, 0))
            source = parse_live(f"screen:{display}@0,0,{w},{h}", fps=30)
            report = run_live(source, ladder, display=window, max_seconds=seconds, pace=paced,
                              on_shown=lambda f: shown.append((read_counter(f.input), time.perf_counter())))
    finally:
        painter.terminate()
        painter.wait(timeout=10)
    drawn: dict[int, float] = {}
    for line in log.read_text().splitlines():
        index, t = line.split("\t")
        drawn.setdefault(int(index) % 65536, float(t))
    log.unlink()
    g2g = [(t - drawn[c]) * 1000 for c, t in shown if c in drawn]
    pairs = [(a, b) for a, b in zip(shown, shown[1:]) if a[0] in drawn and b[0] in drawn and b[0] != a[0]]
    judder = [abs((tb - ta) - (drawn[cb] - drawn[ca])) * 1000 for (ca, ta), (cb, tb) in pairs]
    data = report.to_dict()
    data.update(label=label, model=model_name, precision=precision or None, region=f"{w}x{h}", scale=scale,
                output=f"{w * scale}x{h * scale}", latency_ms_p95=round(report.percentile(report.latency_ms, 95), 2),
                glass_to_glass_ms_p50=round(float(np.percentile(g2g, 50)), 2) if g2g else None,
                glass_to_glass_ms_p99=round(float(np.percentile(g2g, 99)), 2) if g2g else None,
                matched_frames=len(g2g), paced=paced,
                glass_to_glass_ms_std=round(float(np.std(g2g)), 2) if g2g else None,
                judder_ms_mean=round(float(np.mean(judder)), 2) if judder else None,
                judder_ms_p95=round(float(np.percentile(judder, 95)), 2) if judder else None)
    return data


def markdown(rows: list[dict], machine: dict) -> str:
    lines = ["# Live latency: screen region -> upscale -> window", "",
             "`python benchmarks/live_latency.py` on an idle machine: Xvfb, the moving test pattern at 30 fps in "
             "the captured region, x11grab capture, the upscale stage and a pygame window, each on its own thread "
             "(latest frame wins). Capture-to-display: from reading the frame to after the window's flip. "
             "Glass-to-glass: from the pattern program's flip to ours (includes the grab's wait).", "",
             f"Machine: {machine['cpu'].get('model', '?')}, {machine['cpu'].get('logical_cores', '?')} logical cores; "
             f"date {rows[0]['date']}.", "",
             "| configuration | region -> output | fps shown | capture-to-display p50 / p95 / p99 ms | "
             "glass-to-glass p50 / p99 / std ms | judder mean / p95 ms | upscale p50 ms | captured | "
             "dropped before upscale / display |",
             "|---|---|---:|---|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['region']} -> {r['output']} | {r['fps']:.1f} | {r['latency_ms_p50']:.1f} / "
                     f"{r['latency_ms_p95']:.1f} / {r['latency_ms_p99']:.1f} | {r['glass_to_glass_ms_p50']} / "
                     f"{r['glass_to_glass_ms_p99']} / {r.get('glass_to_glass_ms_std')} | {r.get('judder_ms_mean')} / "
                     f"{r.get('judder_ms_p95')} | {r['upscale_ms_p50']:.1f} | {r['frames_in']} | "
                     f"{r['dropped_before_upscale']} / {r['dropped_before_display']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/live"))
    parser.add_argument("--only", action="append", help="run only configurations whose label contains this")
    args = parser.parse_args()
    os.environ["SDL_VIDEODRIVER"] = "x11"
    xvfb, display = start_xvfb("1920x1080")
    os.environ["DISPLAY"] = display
    args.out.mkdir(parents=True, exist_ok=True)
    machine = collect().to_dict()
    rows = []
    try:
        for label, model, precision, w, h, scale, paced in CONFIGS:
            if args.only and not any(o in label for o in args.only):
                continue
            row = run_config(display, label, model, precision, w, h, scale, paced, args.seconds, args.out)
            row["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            rows.append(row)
            print(f"{label}: {row['fps']:.1f} fps, capture-to-display p50 {row['latency_ms_p50']} ms "
                  f"p99 {row['latency_ms_p99']} ms, glass-to-glass p50 {row['glass_to_glass_ms_p50']} ms, "
                  f"dropped {row['dropped_before_upscale']}/{row['dropped_before_display']}, judder mean "
                  f"{row['judder_ms_mean']} ms p95 {row['judder_ms_p95']} ms", flush=True)
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    (args.out / "live_latency.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    (args.out / "live_latency.md").write_text(markdown(rows, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
