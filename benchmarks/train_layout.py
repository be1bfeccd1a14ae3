"""A training step's time per memory layout (NCHW against channels-last), on a real batch, per recipe.

    python benchmarks/train_layout.py tiny_x2 realtime_x2 ... --data ../shared/data/train \
        --cache runs/cache --out benchmarks/results/training/memory_format/zen3 [--repeats 5] [--rounds 2]

For each recipe it builds the trainer as ``sr-stream train`` does and times its own probe (one
forward and backward pass of the generator on one real batch of the recipe's size, what
``memory_format: auto`` times at the start of a run) in each layout, ``--rounds`` times in turn,
and reports the median. fp32, plus bf16 where the CPU has it natively. The optimiser, EMA and data
are not in it: ``train_speed.py`` measures whole steps. Writes ``OUT.json`` and ``OUT.md``. Stop
other work first: nothing here corrects for a busy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch


def main() -> int:
    from srstream.sysinfo import collect
    from srstream.trainer.loop import RunPaths, Trainer
    from srstream.trainer.recipe import load_recipe
    from srstream.trainer.runtime import cpu_has_fast_bf16

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="folder of HR image folders (../shared/data/train)")
    parser.add_argument("--cache", type=Path, help="the image bank's cache folder (as sr-stream train --cache)")
    parser.add_argument("--out", type=Path, required=True, help="OUT.json and OUT.md")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per layout and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folders = tuple(sorted(p for p in args.data.iterdir() if p.is_dir())) if args.data.is_dir() else ()
    if not folders:
        print(f"train_layout: no image folders under {args.data}", file=sys.stderr)
        return 2
    info = collect()
    isa = [k for k, v in info.cpu.features.items() if v]
    precisions = ["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"]
    rows = []
    for name in args.recipe:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = load_recipe(name)
            trainer = Trainer(recipe, RunPaths(data=folders, out=Path(tmp) / "run", cache=args.cache))
            runs: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for precision in precisions:
                    trainer.rt.precision, trainer.rt.memory_format = precision, "auto"
                    for key, seconds in trainer.rt.pick(trainer._probe_step, repeats=args.repeats).items():
                        runs.setdefault(key, []).append(seconds * 1000)
        m = recipe.model
        row = {"recipe": name, "arch": m.arch, "params": m.params, "in_channels": m.in_channels,
               "batch": recipe.data.batch, "patch": recipe.data.patch, "ms": {k: round(statistics.median(v), 1)
                                                                             for k, v in runs.items()},
               "runs_ms": {k: [round(x, 1) for x in v] for k, v in runs.items()}}
        rows.append(row)
        print(name, row["ms"], flush=True)
    result = {"cpu": info.cpu.model, "isa": isa, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "repeats": args.repeats, "rounds": args.rounds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Training probe step (forward + backward, one real batch), ms, median of {args.rounds} rounds x "
             f"{args.repeats} passes; {info.cpu.model} ({', '.join(isa) or 'no SIMD flags read'}), "
             f"{torch.get_num_threads()} threads, torch {torch.__version__}.", "",
             "| recipe | net | batch x patch | "
             + " | ".join(f"{p} NCHW | {p} channels-last | ratio" for p in precisions) + " |",
             "|---|---|---|" + "---:|---:|---:|" * len(precisions)]
    for row in rows:
        p = row["params"]
        net = f"{row['arch']} {p.get('features', '')}x{p.get('convs', p.get('blocks', ''))} {p.get('act', '')} " \
              f"{p.get('block', '')}".strip()
        cells = []
        for prec in precisions:
            a, b = row["ms"][f"{prec} contiguous"], row["ms"][f"{prec} channels_last"]
            cells.append(f"{a:.0f} | {b:.0f} | {a / b:.2f}x")
        lines.append(f"| {row['recipe']} | {net} | {row['batch']} x {row['patch']} | " + " | ".join(cells) + " |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
