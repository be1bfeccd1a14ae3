"""``sr-stream info [--json]``: versions, CPU features, GPUs and available backends."""

from __future__ import annotations

import argparse
import json

from srstream.commands import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the same as one JSON object")


def run(args: argparse.Namespace) -> int:
    from srstream.engine import kernels
    from srstream.engine.backends.probe import onnxruntime_conflict, probe
    from srstream.sysinfo import CPU_FEATURES, collect

    info = collect()
    backends = probe(info)
    frame_kernels = {"cpu": kernels.active(), "cuda": kernels.cuda_status()}
    if args.json:
        data = info.to_dict()
        data["backends"] = [vars(b) for b in backends]
        data["frame_kernels"] = frame_kernels
        data["warnings"] = [w for w in [onnxruntime_conflict(info)] if w]
        print(json.dumps(data, indent=2))
        return 0
    cpu = info.cpu
    print(f"sr-stream {info.srstream}  (Python {info.python}, {info.platform})")
    print(f"CPU: {cpu.model}; {cpu.usable_cores} usable of {cpu.logical_cores} logical cores"
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
    return 0


COMMAND = Command(configure, run, "Show what sr-stream can use on this machine.")
