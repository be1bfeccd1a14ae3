"""One picture of the BatchNorm ablation: the same crops through every norm setting, after the
PSNR phase and after the GAN phase, beside bicubic and HR (3x nearest zoom).

    python benchmarks/bn_ablation_figure.py runs/bn_ablation --val ../shared/data/val/Set5 \
        --out benchmarks/results/training/bn_ablation/bn_psnr_vs_gan.png

Reads ``RUN/<norm>/checkpoints/step_*`` (the PSNR phase's last checkpoint and the final one)
written by ``benchmarks/bn_ablation.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from srstream.archs import build_generator
from srstream.bench.grid import join, label
from srstream.imresize import bicubic_upscale
from srstream.trainer.checkpoint import load_model_weights
from srstream.trainer.validate import ValidationSet, upscale_image, write_png

CROPS = {"butterfly": (96, 96), "baby": (250, 200), "woman": (60, 120)}  # (y, x) of 64-px HR crops
SIZE, ZOOM = 64, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--norms", default="none,none-in-blocks,all")
    args = parser.parse_args()
    val = ValidationSet(args.val, 2)
    pairs = {p.name: p for p in val.pairs}
    columns: list[tuple[str, dict[str, np.ndarray]]] = [("bicubic", {}), ("HR", {})]
    for name, p in pairs.items():
        if name in CROPS:
            columns[0][1][name] = bicubic_upscale(p.lr, 2).reshape(p.hr.shape)
            columns[1][1][name] = p.hr
    for norm in args.norms.split(","):
        folder = args.run / norm / "checkpoints"
        steps = sorted(folder.glob("step_*"))
        if not steps:
            continue
        psnr_step = next((s for s in steps if (s / "model.safetensors").exists() and int(s.name[5:]) == 8000), steps[0])
        for tag, ckpt in (("PSNR", psnr_step), ("GAN", steps[-1])):
            spec, state = load_model_weights(ckpt)
            model = build_generator(spec)
            model.load_state_dict(state)
            model.eval()
            with torch.no_grad():
                outs = {n: upscale_image(model, pairs[n].lr, torch.device("cpu")) for n in CROPS if n in pairs}
            columns.append((f"{norm} {tag}", outs))
    rows = []
    for name, (y, x) in CROPS.items():
        if name not in pairs:
            continue
        tiles = []
        for title, images in columns:
            crop = images[name][y:y + SIZE, x:x + SIZE]
            zoom = cv2.resize(crop, (SIZE * ZOOM, SIZE * ZOOM), interpolation=cv2.INTER_NEAREST)
            tiles.append(label(zoom, [title]))
        rows.append(join(tiles, axis=1))
    write_png(args.out, join(rows, axis=0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
