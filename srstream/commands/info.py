"""``sr-stream info [--json] [--tune [--model M] [--input WxH] [--refresh]]``: versions, CPU features,
GPUs, available backends, and what ``--precision auto`` takes here and why."""

from __future__ import annotations

import argparse
import json
import sys

from srstream.commands import Command, frame_size, positive_number


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the same as one JSON object")
    parser.add_argument("--tune", action="store_true",
                        help="check and time every backend x precision for a model on this machine and show which "
                             "one `auto` takes (cached; the first run takes a few seconds)")
    parser.add_argument("-m", "--model", default=None, help="with --tune: the model (default: realtime-x2)")
    parser.add_argument("--input", type=frame_size, help="with --tune: the input frame size WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--refresh", action="store_true", help="with --tune: measure again instead of reading the cache")
    parser.add_argument("--fps", type=positive_number, default=30.0,
                        help="with --tune: the live frame rate the tier choice is made for (default 30)")


def _tune(args: argparse.Namespace, info) -> dict[str, object]:  # noqa: ANN001 - SystemInfo
    from srstream.engine.autotune import select
    from srstream.engine.models import DEFAULT_MODEL, resolve_model

    from srstream.engine.autotune import pick_tier
    from srstream.engine.models import TIERS

    model = resolve_model(args.model or DEFAULT_MODEL)
    progress = None if args.json else (lambda text: print(f"  {text}...", file=sys.stderr, flush=True))
    selection = select(model, size=args.input, refresh=args.refresh, info=info, progress=progress)
    out: dict[str, object] = {
        "model": model.name, "input": f"{selection.size[0]}x{selection.size[1]}",
        "chosen": {"backend": selection.choice.backend, "precision": selection.choice.precision},
        "reason": selection.choice.reason, "candidates": [r.to_dict() for r in selection.rows]}
    if model.spec.scale in TIERS:
        tier = pick_tier(model.spec.scale, fps=args.fps, size=args.input)
        out["live"] = {"fps": args.fps, "model": tier.model.name, "reason": tier.reason,
                       "tiers": [{"model": n, "fps": f} for n, f in tier.measured]}
    return out


def _print_tune(tune: dict[str, object]) -> None:
    print(f"auto-selection for {tune['model']} at {tune['input']} (checked against fp32 on the bundled crops):")
    print(f"  {'backend':<8} {'precision':<9} {'fps':>7} {'PSNR cost':>10} {'tail':>6} {'pattern':>8}  ")
    for row in tune["candidates"]:  # type: ignore[union-attr]
        acc = row["accuracy"] or {}
        fps = f"{row['fps']:.1f}" if row["fps"] else "-"
        cost = f"{acc['cost_db']:+.3f} dB" if acc else "-"
        tail = f"{acc['tail_levels']:.0f}" if acc else "-"
        pattern = f"{acc['pattern_levels']:.2f}" if acc else "-"
        mark = "chosen" if row["chosen"] else row["note"]
        print(f"  {row['backend']:<8} {row['precision']:<9} {fps:>7} {cost:>10} {tail:>6} {pattern:>8}  {mark}")
    print(f"  -> {tune['chosen']['backend']} {tune['chosen']['precision']}: {tune['reason']}")  # type: ignore[index]
    if "live" in tune:
        live = tune["live"]
        print(f"live sources without --model at {live['fps']:g} fps: {live['reason']}")  # type: ignore[index]


def run(args: argparse.Namespace) -> int:
    from srstream.engine import kernels
    from srstream.engine.backends.probe import onnxruntime_conflict, probe
    from srstream.sysinfo import CPU_FEATURES, collect

    info = collect()
    backends = probe(info)
    frame_kernels = {"cpu": kernels.active(), "cuda": kernels.cuda_status()}
    tune = _tune(args, info) if args.tune else None
    if args.json:
        data = info.to_dict()
        data["backends"] = [vars(b) for b in backends]
        data["frame_kernels"] = frame_kernels
        data["warnings"] = [w for w in [onnxruntime_conflict(info)] if w]
        if tune is not None:
            data["tune"] = tune
        print(json.dumps(data, indent=2))
        return 0
    cpu = info.cpu
    print(f"sr-stream {info.srstream}  (Python {info.python}, {info.platform})")
    print(f"CPU: {cpu.describe()}; {cpu.usable_cores} usable of {cpu.logical_cores} logical cores"
          + (f"; {info.memory_gib} GiB RAM" if info.memory_gib else ""))
    have = [CPU_FEATURES[f] for f, ok in cpu.features.items() if ok]
    print("CPU features: " + (", ".join(have) if have else "none of AVX2/AVX-512/AMX detected"))
    print("GPUs: " + ("; ".join(f"#{g.index} {g.name} ({g.memory_mib} MiB, sm {g.compute_capability}, "
                                f"driver {g.driver})" for g in info.gpus) or "none (no nvidia-smi or no NVIDIA GPU)"))
    print("packages:")
    for dist, version in info.packages.items():
        print(f"  {dist:<32} {version or '-'}")
    print("backends:")
    for b in backends:
        print(f"  {b.name:<6} {'yes' if b.available else 'no ':<4} {b.detail}")
    print(f"frame kernels: CPU {frame_kernels['cpu']}; CUDA {frame_kernels['cuda']}")
    conflict = onnxruntime_conflict(info)
    if conflict:
        print(f"warning: {conflict}")
    if tune is not None:
        _print_tune(tune)
    return 0


COMMAND = Command(configure, run, "Show what sr-stream can use on this machine (--tune: what auto picks and why).")
