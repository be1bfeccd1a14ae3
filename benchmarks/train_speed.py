"""Training throughput of a recipe per precision and memory layout on this machine (model, data, optimiser).

    python benchmarks/train_speed.py realtime_x2 --data ../shared/data/train --cache runs/cache \
        [--steps 300] [--precision fp32 --precision bf16] [--memory-format contiguous --memory-format channels_last] \
        [--rounds 1] [--json OUT.json]

Runs ``--steps`` steps per candidate (after one logging window of warm-up) with validation and
checkpoints out of the way, and reports the mean it/s of the remaining windows. Defaults: fp32, plus
bf16 where the CPU has it natively (emulated bf16 takes seconds a step); both layouts. On a GPU (the
recipe's ``device: auto`` takes CUDA where torch sees one) ask for fp16 and bf16. With
``--rounds N`` the candidates run in turn N times (interleaved, so a machine that slows down
mid-run slows all of them) and the median per candidate is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch


def main() -> None:
    from srstream.sysinfo import collect
    from srstream.trainer.loop import RunPaths, Trainer
    from srstream.trainer.recipe import load_recipe
    from srstream.trainer.runtime import cpu_has_fast_bf16

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--precision", action="append", choices=("fp32", "bf16", "fp16"))  # fp16: CUDA only
    parser.add_argument("--memory-format", action="append", choices=("contiguous", "channels_last"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="recipe override, as sr-stream train --set")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    precisions = args.precision or (["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"])
    layouts = args.memory_format or ["contiguous", "channels_last"]
    window = 30
    info = collect()
    result: dict = {"recipe": args.recipe, "steps": args.steps, "cpu": info.cpu.model,
                    "isa": [k for k, v in info.cpu.features.items() if v], "threads": torch.get_num_threads(),
                    "rounds": args.rounds, "it_s": {}, "runs": {}}
    for _ in range(args.rounds):
        for precision in precisions:
            for layout in layouts:
                key = f"{precision} {layout}"
                with tempfile.TemporaryDirectory() as tmp:
                    recipe = load_recipe(args.recipe, [*args.set, f"precision={precision}", f"memory_format={layout}",
                                                       "val_every=1000000", "ckpt_every=1000000", f"log_every={window}",
                                                       f"phases.0.steps={args.steps + window}"])
                    run = Path(tmp) / "run"
                    Trainer(recipe, RunPaths(data=tuple(args.data), out=run, cache=args.cache)).run()
                    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
                    its = [r["it_s"] for r in rows if "it_s" in r][1:]
                result["runs"].setdefault(key, []).append(round(sum(its) / len(its), 2))
                print(key, result["runs"][key][-1], "it/s", flush=True)
    result["it_s"] = {k: statistics.median(v) for k, v in result["runs"].items()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
