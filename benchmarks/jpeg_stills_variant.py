"""The compressed-video variant against the default on JPEG stills: from which JPEG quality on it wins.

    python benchmarks/jpeg_stills_variant.py --data ../shared/data \
        --out benchmarks/results/bench/jpeg_stills_variant

Pictures met on the web, in chats and in old photo collections are JPEGs, most of them well below
the quality a camera stores. Each Set5, Set14 and BSD100 image is downscaled x2 as the benchmark
protocol does (MATLAB bicubic), stored as a JPEG at each ``--quality`` (OpenCV's libjpeg, 4:2:0, as
most JPEGs are), decoded, upscaled by ``realtime-x2`` and ``realtime-x2-compressed`` (fp32 ONNX
Runtime) and scored on Y against the HR image (the protocol's border). Beside each quality: the
mean step of the JPEG's luma quantisation table (:func:`srstream.engine.compression.jpeg_quantiser`)
and what it maps to on H.264's scale (:data:`srstream.engine.compression.SCALES`, fitted on MJPEG
video), the number ``auto`` compares with the variant's threshold. Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.engine.compression import Compression, jpeg_quantiser
from srstream.evalset import BenchmarkSet

SETS = ("Set5", "Set14", "BSD100")
QUALITIES = (30, 50, 70, 80, 90, 95)
MODELS = ("realtime-x2", "realtime-x2-compressed")


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """``rgb`` stored as a JPEG at ``quality`` and decoded; and its luma table's mean step."""
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    decoded = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded, jpeg_quantiser(data.tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--quality", type=int, action="append", help=f"JPEG qualities (default {QUALITIES})")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench/jpeg_stills_variant"))
    args = parser.parse_args(argv)
    sets = [name for name in SETS if (args.data / "val" / name).is_dir()]
    if not sets:
        print(f"no benchmark sets in {args.data / 'val'}; pass --data", file=sys.stderr)
        return 2
    methods = {m: open_method(m, scale=2, backend="ort", precision="fp32") for m in MODELS}
    rows = []
    try:
        for name in sets:
            bench = BenchmarkSet(args.data / "val" / name, 2)
            for quality in [0, *(args.quality or QUALITIES)]:  # 0: the protocol's own LR, no JPEG
                coded = [jpeg_round_trip(p.lr, quality) if quality else (p.lr, None) for p in bench.pairs]
                steps = [s for _, s in coded if s is not None]
                step = float(np.mean(steps)) if steps else None
                row = {"set": name, "quality": quality or None, "luma_step": step,
                       "h264_qp": Compression("mjpeg", step, 1).h264_qp if step else None}
                for model, run in methods.items():
                    row[model] = bench.score([run(lr) for lr, _ in coded])[0]
                rows.append(row)
                print(name, quality or "clean", None if step is None else round(step, 1),
                      None if row["h264_qp"] is None else round(row["h264_qp"], 1),
                      " ".join(f"{m} {row[m]:.3f}" for m in MODELS), flush=True)
    finally:
        for run in methods.values():
            run.close()
    cpu = machine()["cpu"]
    lines = [f"# The compressed variant on JPEG stills (x2, fp32 ONNX Runtime; {cpu['model']}, "
             f"{cpu['microarchitecture']}; the scores do not depend on the CPU)", "",
             "LR: the protocol's MATLAB-bicubic x2, stored as a JPEG (OpenCV's libjpeg, 4:2:0) at each quality; Y-PSNR "
             "(dB) against HR.", "",
             "| set | JPEG quality | mean luma step | H.264 equivalent | realtime-x2 | realtime-x2-compressed | gain |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        step = "-" if r["luma_step"] is None else f"{r['luma_step']:.1f}"
        qp = "-" if r["h264_qp"] is None else f"{r['h264_qp']:.1f}"
        gain = r["realtime-x2-compressed"] - r["realtime-x2"]
        lines.append(f"| {r['set']} | {r['quality'] or 'none'} | {step} | {qp} | {r['realtime-x2']:.2f} | "
                     f"{r['realtime-x2-compressed']:.2f} | {gain:+.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), {"machine": machine(), "rows": rows})
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
