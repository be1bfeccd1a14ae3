"""What running the shaders' feature maps in half precision costs (``--glsl-precision mediump``).

    python benchmarks/glsl_fp16.py --data ../shared/data/val --out benchmarks/results/export

The shaders declare their feature maps ``mediump``, which a GPU with fast half precision may run
in fp16. No such GPU is here, so the shader's arithmetic is mirrored in numpy
(:func:`srstream.export.glsl.run_net`, which a test checks against the ONNX graph in fp32) with
every tap's product and running sum rounded to float16, and compared with fp32 on the luma of
Set5 and Set14 (LR made by area downscaling; the central 96x96 LR pixels of each, since numpy
has no fast float16 arithmetic). Reports the largest difference in 255 levels and
the PSNR of the fp16 output against the fp32 one, per bundled compact model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

CROP = 96


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding Set5/ and Set14/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append", help="bundled model (default: every compact one)")
    args = parser.parse_args()
    from srstream.engine.models import BUNDLED_MODELS, resolve_model
    from srstream.export.glsl import glsl_support, read_net, run_net

    names = args.model or [n for n in BUNDLED_MODELS if not glsl_support(resolve_model(n).spec)]
    images = sorted((args.data / "Set5").glob("*.png")) + sorted((args.data / "Set14").glob("*.png"))
    if not images:
        raise SystemExit(f"no Set5/Set14 images under {args.data}")
    lines = ["# Shader feature maps in fp16 vs fp32 (numpy mirror of the shader arithmetic)", "",
             f"{len(images)} images (Set5 + Set14), luma, LR by area downscaling, central {CROP}x{CROP} LR "
             "pixels.", "",
             "| model | max abs difference (of 255) | mean abs difference | worst PSNR fp16 vs fp32 (dB) |",
             "|---|---:|---:|---:|"]
    for name in names:
        net = read_net(resolve_model(name).path)
        s = net.spec.scale
        worst, total, count, low = 0.0, 0.0, 0, float("inf")
        for path in images:
            luma = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
            h, w = luma.shape[0] // s, luma.shape[1] // s
            lr = cv2.resize(luma[: h * s, : w * s], (w, h), interpolation=cv2.INTER_AREA)
            top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
            lr = np.ascontiguousarray(lr[top:top + CROP, left:left + CROP])
            full, half = run_net(net, lr), run_net(net, lr, np.float16)
            diff = np.abs(np.clip(half, 0, 1) - np.clip(full, 0, 1)) * 255
            worst, total, count = max(worst, float(diff.max())), total + float(diff.sum()), count + diff.size
            mse = float(np.mean((diff / 255) ** 2))
            low = min(low, 10 * np.log10(1 / mse) if mse else float("inf"))
        lines.append(f"| {name} | {worst:.2f} | {total / count:.3f} | {low:.1f} |")
        print(lines[-1], file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "glsl_fp16.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
