"""INT8 vs fp32 ONNX on this CPU: latency at one input size, and the PSNR each one scores.

    python benchmarks/int8_speed.py CHECKPOINT --calib ../shared/data/train/bsds400 \
        --val ../shared/data/val/Set5 [--size 640x360] [--runs 30] [--threads 0] [--format u8s7] \
        [--json benchmarks/results/export/NAME.json]

One variable: the graph the ONNX Runtime CPU provider runs, from the same checkpoint:

* ``fp32-plain``: the exporter's graph as traced (PReLU kept as ``PRelu``);
* ``fp32``: what ``sr-stream export`` writes (PReLU decomposed; same maths);
* ``int8``: what ``sr-stream export --int8`` writes (thin convs widened to 16 channels, QDQ,
  percentile calibration, first and last conv kept float);
* ``int8-all``: the same with every conv quantized (faster, larger PSNR cost);
* ``int8-u8s8``, ``int8-u8s7`` (``--format``): the ``int8`` graph with unsigned activations, and
  with them and 7-bit weights (:data:`srstream.export.int8.INT8_FORMATS`): on a CPU without VNNI the
  first saturates in ONNX Runtime's ``vpmaddubsw`` kernels, the second cannot.

Latency is whole-frame inference of one ``(1, C, H, W)`` input (no tiling, no I/O), median and
90th percentile over ``--runs`` runs after 3 warm-up runs; ``--threads 0`` lets ONNX Runtime
use every core. The variants are timed in interleaved blocks of 10 runs (after a warm-up run
of each block), so a machine whose speed drifts slows them all alike while every block still
measures a warm session, as in a video run. PSNR/SSIM: Y channel, benchmark protocol (``srstream.evalset``).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np


def _latencies(models: dict[str, bytes], shape: tuple[int, ...], runs: int, threads: int) -> dict[str, dict]:
    import onnxruntime as ort

    sessions = {}
    for label, blob in models.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        sessions[label] = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    feeds = {label: {s.get_inputs()[0].name: x} for label, s in sessions.items()}
    for _ in range(3):
        for label, session in sessions.items():
            session.run(None, feeds[label])
    times: dict[str, list[float]] = {label: [] for label in sessions}
    block = 10
    for _ in range(max(1, runs // block)):
        for label, session in sessions.items():
            session.run(None, feeds[label])  # re-warm after the other variants ran
            for _ in range(block):
                start = time.perf_counter()
                session.run(None, feeds[label])
                times[label].append(time.perf_counter() - start)
    out = {}
    for label, values in times.items():
        ms = np.array(values) * 1000
        out[label] = {"median_ms": round(float(np.median(ms)), 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
                      "fps": round(1000 / float(np.median(ms)), 2)}
    return out


def main() -> None:
    from srstream.evalset import BenchmarkSet
    from srstream.export.int8 import calibration_inputs, quantize_int8
    from srstream.export.pipeline import onnx_upscaler
    from srstream.export.rewrite import decompose_prelu, pad_thin_convs
    from srstream.export.sources import load_generator
    from srstream.export.to_onnx import export_onnx
    from srstream.sysinfo import collect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--calib", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--size", default="640x360", help="input WIDTHxHEIGHT")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--format", action="append", default=[], choices=("u8s8", "u8s7"),
                        help="also time and score the int8 graph in this activation x weight format (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    gen = load_generator(args.checkpoint)
    spec = gen.spec
    plain = export_onnx(gen.module, spec).model
    fast = copy.deepcopy(plain)
    decompose_prelu(fast)
    inputs = calibration_inputs(args.calib, spec)
    wide = copy.deepcopy(fast)
    pad_thin_convs(wide)  # as sr-stream export does for its INT8 graph
    int8 = quantize_int8(wide, spec, inputs)
    int8_all = quantize_int8(wide, spec, inputs, keep_float=())
    bench = BenchmarkSet(args.val, spec.scale, spec.in_channels)
    shape = (1, spec.in_channels, height, width)
    variants = [("fp32-plain", plain), ("fp32", fast), ("int8", int8), ("int8-all", int8_all)]
    variants += [(f"int8-{fmt}", quantize_int8(wide, spec, inputs, int8_format=fmt)) for fmt in args.format]
    blobs = {label: model.SerializeToString() for label, model in variants}
    timings = _latencies(blobs, shape, args.runs, args.threads)
    rows = {}
    for label, blob in blobs.items():
        psnr, ssim, _ = bench.evaluate(onnx_upscaler(blob, spec, "int8" if label.startswith("int8") else "fp32"))
        rows[label] = {**timings[label], "psnr_y": round(psnr, 3), "ssim_y": round(ssim, 4),
                       "size_kib": round(len(blob) / 1024, 1)}
        print(f"{label:10s} {rows[label]}", flush=True)
    system = collect()
    result = {
        "benchmark": "int8_speed", "model": spec.name, "arch": spec.arch, "arch_params": dict(spec.arch_params),
        "scale": spec.scale, "input": f"{width}x{height}", "runs": args.runs, "threads": args.threads or "all",
        "val": args.val.name, "bicubic_psnr_y": round(bench.bicubic[0], 3), "results": rows,
        "speedup_int8_vs_fp32": round(rows["fp32"]["median_ms"] / rows["int8"]["median_ms"], 2),
        "speedup_int8_vs_fp32_plain": round(rows["fp32-plain"]["median_ms"] / rows["int8"]["median_ms"], 2),
        "psnr_cost_int8_db": round(rows["fp32"]["psnr_y"] - rows["int8"]["psnr_y"], 3),
        "speedup_int8_all_vs_fp32": round(rows["fp32"]["median_ms"] / rows["int8-all"]["median_ms"], 2),
        "psnr_cost_int8_all_db": round(rows["fp32"]["psnr_y"] - rows["int8-all"]["psnr_y"], 3),
        **{f"speedup_int8_{fmt}_vs_fp32": round(rows["fp32"]["median_ms"] / rows[f"int8-{fmt}"]["median_ms"], 2)
           for fmt in args.format},
        **{f"psnr_cost_int8_{fmt}_db": round(rows["fp32"]["psnr_y"] - rows[f"int8-{fmt}"]["psnr_y"], 3)
           for fmt in args.format},
        "machine": {"cpu": system.cpu.describe(), "usable_cores": system.cpu.usable_cores,
                    "cpu_features": {k: v for k, v in system.cpu.features.items() if v},
                    "onnxruntime": system.packages.get("onnxruntime"), "python": system.python},
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps({k: v for k, v in result.items() if k.startswith(("speedup", "psnr_cost"))}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
