"""Real-time architecture study: what each candidate shape costs on this machine, before training it.

    python benchmarks/arch_study.py --calib ../shared/data/train/bsds400 --json benchmarks/results/bench/arch_study.json

For each candidate (compact nets on luma or RGB, ReLU) the script builds the generator with
untrained weights (timings of these networks do not depend on the weights), exports it with
the real exporter (fp32 + INT8 QDQ calibrated on 16 crops) and times a whole uint8 frame in
and out through the engine (`FrameUpscaler` on ONNX Runtime, 2 threads) at the size its scale
is judged at: 640x360 for x2, 320x180 for x4. Params and MACs per input pixel are counted from
the weights. Trained quality is not measured here: the table in `benchmarks/results/bench/
arch_study.md` joins it from the training runs that exist. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

# As the engine does (srstream.engine.kernels), but before torch loads libgomp: this process
# imports torch first, so the engine's own default would come too late and the kernels' OpenMP
# workers would spin against ONNX Runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from srstream.archs import build_generator, generator_spec  # noqa: E402
from srstream.bench.methods import open_method  # noqa: E402
from srstream.bench.results import machine  # noqa: E402
from srstream.bench.speed import SpeedSettings, per_frame  # noqa: E402
from srstream.export.pipeline import ExportOptions, run_export  # noqa: E402
from srstream.spec import METADATA_KEY  # noqa: E402

# (arch, scale, features, convs): compact_y = luma net + bilinear chroma, compact = RGB net.
CANDIDATES = [
    ("compact_y", 2, 16, 4), ("compact_y", 2, 24, 4), ("compact_y", 2, 32, 4), ("compact_y", 2, 32, 6),
    ("compact_y", 2, 48, 6), ("compact_y", 2, 64, 8), ("compact", 2, 32, 6),
    ("compact_y", 4, 32, 6), ("compact_y", 4, 48, 8), ("compact_y", 4, 64, 8), ("compact_y", 4, 64, 16),
    ("compact", 4, 48, 8),
]
INPUT = {2: (640, 360), 4: (320, 180)}


def measure(arch: str, scale: int, features: int, convs: int, calib: Path, tmp: Path) -> dict:
    name = f"{arch}-x{scale}-{features}x{convs}"
    # Both take RGB frames; compact_y converts to luma and back inside its graph.
    spec = generator_spec(name, arch, scale, params={"features": features, "convs": convs, "act": "relu",
                                                     "skip": "nearest"})
    torch.manual_seed(0)
    model = build_generator(spec).eval()
    weights = tmp / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights),
              metadata={METADATA_KEY: spec.to_json()})
    onnx = tmp / f"{name}.onnx"
    run_export(weights, ExportOptions(out=onnx, name=name, int8=True, calib=calib, calib_count=16,
                                      int8_keep_float=()))
    convs_w = [v for v in model.state_dict().values() if v.ndim == 4]
    row = {"name": name, "arch": arch, "scale": scale, "features": features, "convs": convs,
           "params": int(sum(v.numel() for v in model.state_dict().values())),
           "macs_per_input_px": int(sum(v.numel() for v in convs_w)), "input": "x".join(map(str, INPUT[scale]))}
    for precision in ("fp32", "int8"):
        with open_method(str(onnx), backend="ort", precision=precision) as method:
            result = per_frame(method, *INPUT[scale], SpeedSettings(warmup=5, runs=40, max_seconds=10))
        row[f"{precision}_fps"] = result["fps"]
        row[f"{precision}_p50_ms"] = result["latency_ms"]["p50"]
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=Path, required=True, help="images to calibrate INT8 on")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arch-study-") as tmp:
        rows = [measure(*c, args.calib, Path(tmp)) for c in CANDIDATES]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "threads": 2, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
