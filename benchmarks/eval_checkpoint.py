"""Score a trained checkpoint on benchmark folders with the literature's protocol.

    python benchmarks/eval_checkpoint.py RUN/checkpoints/step_N --val ../shared/data/val/Set5 \
        --val ../shared/data/val/BSD100 [--json OUT.json]

MATLAB-bicubic LR (uint8), whole-image inference in fp32, output rounded to uint8, Y-PSNR and
Y-SSIM with ``scale`` border pixels cropped; bicubic alongside. (`sr-stream bench quality`
will supersede this for exported models.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from srstream.archs import build_generator
from srstream.trainer.checkpoint import load_model_weights
from srstream.trainer.validate import ValidationSet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--val", type=Path, action="append", required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec, state = load_model_weights(args.checkpoint)
    model = build_generator(spec)
    model.load_state_dict(state)
    model.eval()
    rows = []
    for folder in args.val:
        val = ValidationSet(folder, spec.scale, spec.in_channels)
        psnr, ssim, _ = val.evaluate_model(model, torch.device("cpu"))
        rows.append({"dataset": folder.name, "scale": spec.scale, "model": spec.name, "images": len(val.pairs),
                     "psnr_y": round(psnr, 3), "ssim_y": round(ssim, 4),
                     "bicubic_psnr_y": round(val.bicubic[0], 3), "bicubic_ssim_y": round(val.bicubic[1], 4)})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
