"""Does BatchNorm help SRResNet? Train the same small SRResNet with each `norm` setting.

    python benchmarks/bn_ablation.py --data ../shared/data/train --val ../shared/data/val/Set5 \
        --out runs/bn_ablation --steps 3000 [--results benchmarks/results/bn_ablation] [--cache DIR]

Everything but `norm` is identical (seed, data, schedule). Reports validation Y-PSNR, RGB PSNR
and the colour shift: the mean absolute difference of per-image mean R, G, B between the model's
output and the HR image (BatchNorm's train/test statistics mismatch shows up as a colour cast).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

NORMS = ("none", "none-in-blocks", "all")


def colour_stats(outputs: list[np.ndarray], targets: list[np.ndarray]) -> tuple[float, float]:
    from srstream.metrics import psnr

    shifts = [np.abs(o.reshape(-1, 3).mean(0) - t.reshape(-1, 3).mean(0)).mean() for o, t in zip(outputs, targets)]
    rgb = [psnr(o[2:-2, 2:-2].astype(np.float64), t[2:-2, 2:-2].astype(np.float64)) for o, t in zip(outputs, targets)]
    return float(np.mean(shifts)), float(np.mean(rgb))


def main() -> None:
    from srstream.trainer.loop import RunPaths, Trainer
    from srstream.trainer.recipe import load_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--cache", type=Path, help="decoded-image cache (default: OUT/cache)")
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    rows = []
    for norm in NORMS:
        recipe = load_recipe("srresnet_x4", [
            "model.scale=2", "model.params.features=32", "model.params.blocks=4", f"model.params.norm={norm}",
            "data.patch=64", "data.batch=16", f"phases.0.steps={args.steps}", "phases.0.optim.warmup=100",
            "phases.0.optim.lr=0.0005", f"val_every={args.steps}", f"ckpt_every={args.steps}", "log_every=100",
            "ema=0", "precision=fp32", f"model.name=srresnet-x2-bn-{norm}",
        ])
        trainer = Trainer(recipe, RunPaths(data=(args.data,), out=args.out / norm, val=args.val,
                                           cache=args.cache or args.out / "cache"), resume=True)
        trainer.run()
        psnr_y, ssim_y, outputs = trainer.val.evaluate_model(trainer.generator, trainer.rt.device)
        shift, rgb = colour_stats(outputs, [p.hr for p in trainer.val.pairs])
        rows.append({"norm": norm, "steps": args.steps, "psnr_y": round(psnr_y, 3), "ssim_y": round(ssim_y, 4),
                     "psnr_rgb": round(rgb, 3), "mean_colour_shift": round(shift, 3)})
        print(rows[-1], flush=True)
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "bn_ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
        lines = ["| norm | steps | Y-PSNR | Y-SSIM | RGB PSNR | mean colour shift (0-255) |",
                 "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['norm']} | {r['steps']} | {r['psnr_y']} | {r['ssim_y']} | {r['psnr_rgb']} | "
                  f"{r['mean_colour_shift']} |" for r in rows]
        (args.results / "bn_ablation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
