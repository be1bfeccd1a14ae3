"""The standard benchmark matrix, in one command: quality, speed, end to end, grids, report.

    python benchmarks/suite.py --data ../shared/data --out benchmarks/results/bench

* quality: bicubic, lanczos, every bundled sr-stream model (each precision it ships) and every
  peer at that scale, on Set5, Set14 and BSD100 at x2 and x4 (`sr-stream bench quality`);
* speed: 640x360 -> x2, 960x540 -> x2, 320x180 -> x4 (and 1920x1080 -> x2 when a GPU is
  present) for every backend x precision this machine runs, ours and the peers; each
  configuration in its own process (`sr-stream bench speed`), so peak memory is its own;
* end to end: the default model on ``video/traffic_360p30_audio.mp4``;
* grids: crops of LR | bicubic | peers | ours | HR per set and scale;
* report: ``report.md``, ``pareto.png`` and ``latency.png`` from the JSON files.

Speed numbers are only meaningful on an otherwise idle machine. ``--only`` reruns one part;
``--model NAME`` adds (or refreshes) one method's quality and speed rows in existing results;
``--quick`` runs Set5 and short timings (a smoke test of the whole chain).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from srstream.bench.methods import PEERS, open_method
from srstream.bench.quality import evaluate, write_result
from srstream.bench.report import write_report
from srstream.engine.models import BUNDLED_MODELS, available_precisions, resolve_model
from srstream.evalset import BenchmarkSet
from srstream.sysinfo import gpus, package_version

SETS = ("Set5", "Set14", "BSD100")
SCALES = (2, 4)
SPEED_INPUTS = [("640x360", 2), ("960x540", 2), ("320x180", 4)]
GPU_INPUTS = [("1920x1080", 2)]
#: bundled models also scored with the x8 self-ensemble (`--ensemble`): the ones for stills.
ENSEMBLE = ("quality-x4", "gan-x4")
GRID_PEERS = ("opencv-fsrcnn-x{s}", "opencv-lapsrn-x{s}", "realesr-animevideov3-x{s}", "srgan-leftthomas-x{s}")


@lru_cache(maxsize=None)
def ours(scale: int) -> tuple[tuple[str, str], ...]:
    """(bundled model, precision) pairs at ``scale``: every graph the model ships. Cached: reading
    a spec opens the ONNX file, and the matrix asks per input size."""
    found: list[tuple[str, str]] = []
    for name in BUNDLED_MODELS:
        model = resolve_model(name)
        if model.spec.scale == scale:
            found += [(name, p) for p in available_precisions(model.path)]
    return tuple(found)


def torch_models(scale: int) -> list[str]:
    """Bundled models at ``scale`` the torch backend can run here (torch installed, weights shipped)."""
    if package_version("torch") is None:
        return []
    return [n for n in dict.fromkeys(n for n, _ in ours(scale))
            if resolve_model(n).path.with_suffix(".safetensors").is_file()]


def peers(scale: int, peers_dir: Path) -> list[str]:
    return [p.name for p in PEERS.values() if p.scale == scale and (peers_dir / p.path).is_file()]


def run_quality(args: argparse.Namespace) -> None:
    sets = SETS[:1] if args.quick else SETS
    for dataset in sets:
        for scale in SCALES:
            bench = BenchmarkSet(args.data / "val" / dataset, scale)
            methods = [("bicubic", "auto", "auto", False), ("lanczos", "auto", "auto", False),
                       *((n, "ort", p, False) for n, p in ours(scale)),
                       *((n, "torch", "bf16", False) for n in torch_models(scale)),
                       *((n, "ort", "fp32", True) for n in dict.fromkeys(n for n, _ in ours(scale)) if n in ENSEMBLE),
                       *((p, "auto", "auto", False) for p in peers(scale, args.data / "peers"))]
            for name, backend, precision, ensemble in methods:
                if args.model and name not in args.model:
                    continue
                with open_method(name, scale=scale, backend=backend, precision=precision, ensemble=ensemble,
                                 peers_dir=args.data / "peers", cache_dir=args.cache) as method:
                    result = evaluate(method, bench)
                info = method.info
                tag = f"{info.name}_{info.backend}_{info.precision}" if info.kind == "sr-stream" else name
                write_result(result, info, f"val/{dataset}", args.out / "quality" / f"{dataset}_x{scale}_{tag}.json")
                print(f"{dataset} x{scale} {name} [{info.precision}]: {result.psnr_y:.3f} dB / {result.ssim_y:.4f}",
                      flush=True)


def speed_configs(args: argparse.Namespace) -> list[list[str]]:
    """Command-line argument lists of ``sr-stream bench speed``, one per configuration."""
    inputs = SPEED_INPUTS + (GPU_INPUTS if gpus() else [])
    configs = []
    for size, scale in inputs:
        configs.append(["--model", "bicubic", "--scale", str(scale), "--input", size])
        for name, precision in ours(scale):
            configs.append(["--model", name, "--backend", "ort", "--precision", precision, "--input", size])
        for name in torch_models(scale):
            for precision in ("fp32", "bf16"):
                configs.append(["--model", name, "--backend", "torch", "--precision", precision, "--input", size])
        for name in peers(scale, args.data / "peers"):  # OpenCV's graphs run on OpenCV, imported ones on ORT fp32
            engine = [] if PEERS[name].path.endswith(".pb") else ["--backend", "ort", "--precision", "fp32"]
            configs.append(["--model", name, "--input", size, *engine])
    return configs


def run_speed(args: argparse.Namespace) -> None:
    timing = ["--runs", "5", "--max-seconds", "3", "--warmup", "1"] if args.quick else \
        ["--runs", "50", "--max-seconds", "15", "--warmup", "5"]
    common = ["--peers", str(args.data / "peers"), "--threads", str(args.threads)]
    if args.cache:
        common += ["--cache", str(args.cache)]
    for config in speed_configs(args):
        model = config[config.index("--model") + 1]
        if args.model and model not in args.model:
            continue
        size = config[config.index("--input") + 1]
        precision = config[config.index("--precision") + 1] if "--precision" in config else "fp64"
        backend = config[config.index("--backend") + 1] if "--backend" in config else "numpy"
        if model in PEERS and PEERS[model].path.endswith(".pb"):
            backend, precision = "opencv", "fp32"
        out = args.out / "speed" / f"{size}_{model}_{backend}_{precision}_{args.threads or 'all'}t.json"
        cmd = [sys.executable, "-m", "srstream", "bench", "speed", *config, *timing, *common, "--json", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        _report_run(proc, f"{model} {size}")
    if not args.quick and (not args.model or "realtime-x2" in args.model):
        clip = args.data / "video" / "traffic_360p30_audio.mp4"
        out = args.out / "speed" / "e2e_traffic_360p30_realtime-x2.json"
        cmd = [sys.executable, "-m", "srstream", "bench", "speed", "--model", "realtime-x2", "--input", "640x360",
               "--runs", "10", "--clip", str(clip), "--json", str(out), *common]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        _report_run(proc, "end to end")


def _report_run(proc: subprocess.CompletedProcess, what: str) -> None:
    """The result line of a ``sr-stream bench speed`` run, or its error."""
    if proc.returncode == 0:
        print(proc.stdout.strip(), flush=True)
    else:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("sr-stream: error")]
        print(f"{what}: failed (exit {proc.returncode}): {errors[-1] if errors else proc.stderr[-300:]}", flush=True)


def run_grids(args: argparse.Namespace) -> None:
    from srstream.bench.grid import comparison_grid

    for dataset in SETS[:1] if args.quick else SETS:
        for scale in SCALES:
            names = ["bicubic", *(p.format(s=scale) for p in GRID_PEERS if p.format(s=scale) in
                                  peers(scale, args.data / "peers")), *dict.fromkeys(n for n, _ in ours(scale))]
            methods = [open_method(n, scale=scale, peers_dir=args.data / "peers", cache_dir=args.cache)
                       for n in names]
            try:
                out = args.out / "grids" / f"{dataset}_x{scale}.png"
                comparison_grid(args.data / "val" / dataset, scale, methods, out, images=3)
                print(out, flush=True)
            finally:
                for m in methods:
                    m.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench"))
    parser.add_argument("--cache", type=Path, help="imported peers' ONNX cache (default ~/.cache/sr-stream/peers)")
    parser.add_argument("--threads", type=int, default=0, help="cores for the speed runs (default: all usable)")
    parser.add_argument("--only", choices=("quality", "speed", "grids", "report"), action="append")
    parser.add_argument("--quick", action="store_true", help="Set5 only, short timings")
    parser.add_argument("--model", action="append", help="quality and speed of only this method (repeatable; "
                        "to add a new model's rows to existing results); grids and report stay whole")
    args = parser.parse_args()
    parts = args.only or ["quality", "speed", "grids", "report"]
    if "quality" in parts:
        run_quality(args)
    if "speed" in parts:
        run_speed(args)
    if "grids" in parts:
        run_grids(args)
    if "report" in parts:
        for path in write_report(args.out):
            print(path)


if __name__ == "__main__":
    main()
