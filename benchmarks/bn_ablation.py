"""Does BatchNorm help SRResNet? Train the same small SRResNet with each `norm` setting.

    python benchmarks/bn_ablation.py --data ../shared/data/train --val ../shared/data/val/Set5 \
        --out runs/bn_ablation --psnr-steps 8000 --gan-steps 2000 \
        [--results benchmarks/results/training/bn_ablation] [--cache DIR]

Everything but `norm` is identical (seed, data, schedule): an L1 PSNR phase, then (with
``--gan-steps``) a GAN phase initialised from it, as SRGAN trains. Each model is scored at the end
of each phase, in eval mode (BatchNorm uses its running statistics), on:

- Set5 x2: Y-PSNR, Y-SSIM, RGB PSNR and the colour shift, the mean absolute difference of the
  per-image mean R, G, B between output and HR (a train/test statistics mismatch in BatchNorm
  shows up as a colour cast);
- the same images darkened to 40% brightness ("dark"), whose statistics are far from the training
  patches': a network whose behaviour depends on learned batch statistics degrades more there;
- Set5 Y-PSNR with BatchNorm normalising by each image's own statistics (train mode) instead of
  the running averages (``set5_psnr_y_batch_stats``): how much the network's output depends on
  the statistics it is normalised with (equal to the eval-mode number without BatchNorm).

``--rescore`` skips training and scores the checkpoints already in ``--out`` (same JSON/table).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

NORMS = ("none", "none-in-blocks", "all")
DARK = 0.4


def colour_stats(outputs: list[np.ndarray], targets: list[np.ndarray]) -> tuple[float, float]:
    from srstream.metrics import psnr

    shifts = [np.abs(o.reshape(-1, 3).mean(0) - t.reshape(-1, 3).mean(0)).mean() for o, t in zip(outputs, targets)]
    rgb = [psnr(o[2:-2, 2:-2].astype(np.float64), t[2:-2, 2:-2].astype(np.float64)) for o, t in zip(outputs, targets)]
    return float(np.mean(shifts)), float(np.mean(rgb))


def darkened(val, factor: float):
    """A copy of the benchmark set with every HR image scaled by ``factor`` and its LR remade."""
    import dataclasses

    from srstream.imresize import bicubic_degrade, bicubic_upscale

    dark = copy.copy(val)
    pairs = []
    for p in val.pairs:
        hr = np.floor(p.hr.astype(np.float64) * factor + 0.5).astype(np.uint8)
        lr = bicubic_degrade(hr, val.scale).reshape(p.lr.shape)
        pairs.append(dataclasses.replace(p, hr=hr, lr=lr))
    dark.pairs = pairs
    dark.bicubic = dark.score([bicubic_upscale(p.lr, val.scale).reshape(p.hr.shape) for p in pairs])
    return dark


def score(device, model, sets: dict, phase: str, norm: str, step: int) -> dict:
    import torch

    from srstream.trainer.validate import upscale_image

    row = {"norm": norm, "phase": phase, "step": step}
    for name, val in sets.items():
        psnr_y, ssim_y, outputs = val.evaluate_model(model, device)
        shift, rgb = colour_stats(outputs, [p.hr for p in val.pairs])
        row |= {f"{name}_psnr_y": round(psnr_y, 3), f"{name}_ssim_y": round(ssim_y, 4),
                f"{name}_psnr_rgb": round(rgb, 3), f"{name}_colour_shift": round(shift, 3)}
    per_image = copy.deepcopy(model).train()  # BatchNorm normalises by each image's own statistics
    with torch.no_grad():
        row["set5_psnr_y_batch_stats"] = round(sets["set5"].evaluate(
            lambda lr: upscale_image(per_image, lr, device))[0], 3)
    print(row, flush=True)
    return row


def main() -> None:
    import torch

    from srstream.trainer import checkpoint as ckpt
    from srstream.trainer.loop import RunPaths, Trainer
    from srstream.trainer.recipe import load_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--cache", type=Path, help="decoded-image cache (default: OUT/cache)")
    parser.add_argument("--psnr-steps", type=int, default=8000)
    parser.add_argument("--gan-steps", type=int, default=2000, help="0: PSNR phase only")
    parser.add_argument("--norms", default=",".join(NORMS))
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--rescore", action="store_true", help="score the existing checkpoints, do not train")
    args = parser.parse_args()
    rows = []
    for norm in args.norms.split(","):
        every = args.psnr_steps // 4
        overrides = [
            "model.scale=2", "model.params.features=32", "model.params.blocks=4", f"model.params.norm={norm}",
            "data.patch=64", "data.batch=16", f"phases.0.steps={args.psnr_steps}", "phases.0.optim.warmup=100",
            "phases.0.optim.lr=0.0005", f"val_every={every}", f"ckpt_every={every}", "log_every=100",
            "ema=0", f"precision={args.precision}", f"model.name=srresnet-x2-bn-{norm}",
        ]
        if args.gan_steps:
            recipe = load_recipe("srgan_x4", overrides + [
                f"phases.1.steps={args.gan_steps}", "phases.1.loss.adversarial=ragan",
                "phases.1.loss.adversarial_weight=0.005", "phases.1.discriminator_norm=spectral"])
        else:
            recipe = load_recipe("srresnet_x4", overrides)
        trainer = Trainer(recipe, RunPaths(data=(args.data,), out=args.out / norm, val=args.val,
                                           cache=args.cache or args.out / "cache"), resume=True)
        if not args.rescore:
            trainer.run()
        sets = {"set5": trainer.val, "dark": darkened(trainer.val, DARK)}
        if not rows:
            rows.append({"norm": "bicubic", "phase": "-", "step": 0} | {
                f"{name}_{k}": round(v, 4 if k == "ssim_y" else 3)
                for name, val in sets.items() for k, v in zip(("psnr_y", "ssim_y"), val.bicubic)})
        if args.gan_steps:  # the PSNR phase's last checkpoint, into a copy of the generator
            psnr_model = copy.deepcopy(trainer.generator)
            _, state = ckpt.load_model_weights(args.out / norm / "checkpoints" / f"step_{args.psnr_steps:07d}")
            psnr_model.load_state_dict(state)
            rows.append(score(trainer.rt.device, psnr_model, sets, "psnr", norm, args.psnr_steps))
        with torch.no_grad():
            rows.append(score(trainer.rt.device, trainer.generator, sets, "gan" if args.gan_steps else "psnr", norm,
                              trainer.step))
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "bn_ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
        lines = ["| norm | phase | step | Set5 Y-PSNR | Y-SSIM | RGB PSNR | colour shift | dark Y-PSNR | "
                 "dark colour shift | Y-PSNR, per-image BN statistics |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['norm']} | {r['phase']} | {r['step']} | {r['set5_psnr_y']} | {r['set5_ssim_y']} | "
                  f"{r.get('set5_psnr_rgb', '')} | {r.get('set5_colour_shift', '')} | {r['dark_psnr_y']} | "
                  f"{r.get('dark_colour_shift', '')} | {r.get('set5_psnr_y_batch_stats', '')} |"
                  for r in rows]
        (args.results / "bn_ablation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
