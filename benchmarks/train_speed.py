"""Training throughput of a recipe in fp32 and bf16 on this machine (model, data and optimiser).

    python benchmarks/train_speed.py realtime_x2 --data ../shared/data/train --cache runs/cache \
        [--steps 300] [--json OUT.json]

Runs ``--steps`` steps per precision (after one logging window of warm-up) with validation and
checkpoints out of the way, and reports the mean it/s of the remaining windows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    from srstream.sysinfo import collect
    from srstream.trainer.loop import RunPaths, Trainer
    from srstream.trainer.recipe import load_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    window = 30
    result: dict = {"recipe": args.recipe, "steps": args.steps, "cpu": collect().cpu.model, "it_s": {}}
    for precision in ("fp32", "bf16"):
        with tempfile.TemporaryDirectory() as tmp:
            recipe = load_recipe(args.recipe, [f"precision={precision}", "val_every=1000000", "ckpt_every=1000000",
                                               f"log_every={window}", f"phases.0.steps={args.steps + window}"])
            run = Path(tmp) / "run"
            Trainer(recipe, RunPaths(data=tuple(args.data), out=run, cache=args.cache)).run()
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            its = [r["it_s"] for r in rows if "it_s" in r][1:]
        result["it_s"][precision] = round(sum(its) / len(its), 2)
        print(precision, result["it_s"][precision], "it/s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
