"""A visual comparison grid: LR | bicubic | checkpoint A | checkpoint B ... | HR, per image crop.

    python benchmarks/compare_checkpoints.py OUT.png --ckpt PSNR=run/checkpoints/step_1200 \
        --ckpt GAN=run/checkpoints/step_2000 --image ../shared/data/val/Set14/baboon.png --crop 96

Each row is one image's central HR crop (``--crop`` HR pixels); all checkpoints must share a scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from srstream.archs import build_generator
from srstream.imresize import bicubic_degrade, bicubic_upscale
from srstream.trainer.checkpoint import load_model_weights
from srstream.images import load_rgb
from srstream.trainer.validate import upscale_image


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((18, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--ckpt", action="append", required=True, help="LABEL=checkpoint folder or model.safetensors")
    parser.add_argument("--image", type=Path, action="append", required=True)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--zoom", type=int, default=2, help="nearest-neighbour magnification of every tile")
    args = parser.parse_args()
    models = []
    for item in args.ckpt:
        label, _, path = item.partition("=")
        spec, state = load_model_weights(Path(path))
        net = build_generator(spec)
        net.load_state_dict(state)
        models.append((label, spec.scale, net.eval()))
    scale = models[0][1]
    rows = []
    for path in args.image:
        hr = load_rgb(path)
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        lr = bicubic_degrade(hr, scale)
        c = args.crop // scale * scale
        y, x = (hr.shape[0] - c) // 2 // scale * scale, (hr.shape[1] - c) // 2 // scale * scale
        tiles = [("LR", np.repeat(np.repeat(lr, scale, 0), scale, 1)), ("bicubic", bicubic_upscale(lr, scale))]
        tiles += [(label, upscale_image(net, lr, torch.device("cpu"))) for label, _, net in models]
        tiles.append(("HR", hr))
        crops = [_label(np.repeat(np.repeat(t[y:y + c, x:x + c], args.zoom, 0), args.zoom, 1), name) for name, t in tiles]
        gap = np.full((crops[0].shape[0], 4, 3), 255, np.uint8)
        rows.append(np.concatenate([part for crop in crops for part in (crop, gap)][:-1], axis=1))
    grid = np.concatenate([part for row in rows for part in (row, np.full((4, row.shape[1], 3), 255, np.uint8))][:-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
