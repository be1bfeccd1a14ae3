"""``sr-stream train RECIPE --data DIR [--val DIR] --out RUN_DIR``: train a generator.

RECIPE is a bundled recipe name (see ``--list``) or a YAML file. Runs are resumable: ``--resume``
continues from the newest checkpoint in RUN_DIR with identical results. Under ``torchrun`` the
same command trains with DDP (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srstream.commands import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="bundled recipe name or path to a YAML recipe")
    parser.add_argument("--data", type=Path, action="append", default=[],
                        help="folder of HR training images (repeatable)")
    parser.add_argument("--val", type=Path, help="folder of HR validation images (e.g. Set5)")
    parser.add_argument("--out", type=Path, help="run folder (created; must be new unless --resume)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--init", type=Path, help="initialise the generator from a model.safetensors / checkpoint")
    parser.add_argument("--teacher", type=Path, help="distil from this checkpoint or .onnx (overrides the recipe's "
                                                     "teacher.path; a recipe without teacher: gets weight 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set phases.0.steps=2000 (repeatable)")
    parser.add_argument("--vgg-weights", type=Path, help="local torchvision-format VGG19 weights (perceptual loss)")
    parser.add_argument("--cache", type=Path, help="folder for the decoded training-image cache (default: RUN/cache)")
    parser.add_argument("--list", action="store_true", help="list the bundled recipes and exit")


def _list_recipes() -> int:
    """The bundled recipes with their first comment line: plain files, no torch or YAML needed."""
    import importlib.util

    spec = importlib.util.find_spec("srstream.trainer")
    folder = Path(spec.origin).with_name("recipes") if spec and spec.origin else None
    if folder is None or not folder.is_dir():
        return 0
    for path in sorted(folder.glob("*.yaml")):
        first = next((line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#")), "")
        print(f"{path.stem:<24} {first}")
    return 0


def run(args: argparse.Namespace) -> int:
    from srstream.errors import TORCH_INSTALL, ConfigError, DependencyError

    if args.list:
        return _list_recipes()
    try:
        from srstream.trainer.loop import RunPaths, Trainer
        from srstream.trainer.recipe import load_recipe
    except ModuleNotFoundError as exc:
        raise DependencyError(f"training needs {exc.name}: {TORCH_INSTALL}") from exc
    if not args.recipe or not args.data or not args.out:
        raise ConfigError("sr-stream train needs RECIPE, --data DIR and --out RUN_DIR (see --help)")
    recipe = load_recipe(args.recipe, args.overrides)
    if args.teacher is not None and recipe.teacher is None:
        recipe = load_recipe(args.recipe, [*args.overrides, f"teacher.path={args.teacher}"])
    paths = RunPaths(data=tuple(args.data), out=args.out, val=args.val, cache=args.cache,
                     vgg_weights=args.vgg_weights, init=args.init, teacher=args.teacher)
    result = Trainer(recipe, paths, resume=args.resume).run()
    if result:
        print(f"final: Y-PSNR {result['val_psnr_y']:.3f} dB, Y-SSIM {result['val_ssim_y']:.4f} "
              f"(bicubic {result['bicubic_psnr_y']:.3f} dB) at step {result['step']}")
        if "val_psnr_y_int8" in result:
            print(f"       through fake INT8 (the QAT phase's roundings): Y-PSNR {result['val_psnr_y_int8']:.3f} dB; "
                  "the INT8 export measures the real graph")
    print(f"run folder: {args.out}")
    return 0


COMMAND = Command(configure, run, __doc__.splitlines()[0] if __doc__ else "")
