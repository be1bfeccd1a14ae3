"""Adapting a model to one video before upscaling it, from nothing but that video.

A net trained on many videos cannot know the texture of the one in front of it: on Big Buck
Bunny at CRF 30 the grass that the encoder wiped out is what the bundled compressed variant misses
(``benchmarks/results/bench/compressed_ceiling_zen3.md``). The video itself shows that texture one
scale up. So, as ZSSR does for one image, this fine-tunes the model on pairs made from the input
alone: each sampled frame, as decoded, is a target; its own MATLAB-bicubic downscale by the
model's factor, encoded as one H.264 stream (libx264 ``medium``) at the input's own quantiser and
4 and 8 CRF steps under it, is the input. No original frame is used, so this is something a user's
run can do.

The training is short on purpose (:data:`DEFAULT_STEPS`, L1, Adam). Measured on three clips
(``benchmarks/results/bench/adapt_video_*_zen3.md``), 200 steps gain 0.12-0.75 dB over the model it
started from on Big Buck Bunny, a game capture and a desktop capture, clean and at CRF 23 and 30.
On the desktop capture (text, one-pixel lines, which look different one scale down) the gain
shrinks as training goes on (CRF 30: +0.24 dB after 100 steps, +0.15 after 200; the earlier
study, ``compressed_ceiling_zen3.md``, lost 0.12 dB after 500). Nothing the input alone shows
tells when to stop (the self-made pairs keep improving there too), so the budget is what bounds
the harm. Training only the last three convs (half the time a step, at a higher learning rate)
was no better on any of the three clips and lost the desktop capture's gain sooner
(``benchmarks/results/bench/adapt_tail_spr.md``).

The tuned weights are exported like any checkpoint (fp32, INT8 calibrated on the input's frames,
the luma-only graphs) into sr-stream's cache, keyed by the input's identity, the model's graph and
these options: running the same command again (a resumed job, another output format) reuses them,
and ``--precision auto`` checks their INT8 graph against fp32 on this machine as for any model.

Needs torch and the export extras: ``pip install 'sr-stream[train,export]'``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srstream.archs import build_generator
from srstream.cache import cache_root, new_entry
from srstream.engine.models import ResolvedModel, resolve_model
from srstream.engine.selfpairs import pair_crfs, sample_runs, training_pairs
from srstream.errors import ConfigError, InputError, ModelError
from srstream.trainer.checkpoint import load_model_weights, save_checkpoint

__all__ = ["DEFAULT_STEPS", "AdaptOptions", "Adapted", "adapt_to_video", "sample_runs", "training_pairs", "tune"]

#: Training steps of ``--adapt`` without a number (see the module docstring for why so few).
DEFAULT_STEPS = 200
#: Bumped when what this module makes from the same input and options changes (old cache entries
#: are then left unused).
_VERSION = 1


@dataclass(frozen=True)
class AdaptOptions:
    """``steps`` of batches of ``batch`` LR patches ``patch`` pixels wide, Adam at ``lr``; the
    pairs come from ``runs`` stretches of ``run_frames`` consecutive frames spread evenly over
    the input (fewer frames when they would hold more than ``max_pixels`` decoded pixels),
    encoded at the input's CRF and ``crf_spread`` and twice that under it."""

    steps: int = DEFAULT_STEPS
    batch: int = 16
    patch: int = 64
    lr: float = 1e-4
    runs: int = 8
    run_frames: int = 8
    crf_spread: int = 4
    seed: int = 0
    max_pixels: int = 150_000_000

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "patch", "runs", "run_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"adapt {name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Adapted:
    """The adapted model, whether it came from the cache, and what made it."""

    model: ResolvedModel
    reused: bool
    crfs: tuple[int, ...]
    frames: int
    seconds: float


def _crfs(runs: list[list[np.ndarray]], scale: int, qp: float | None, spread: int) -> tuple[int, ...]:
    """The CRFs to train at: the one whose re-encoded stream lands at the input's quantiser ``qp``,
    and that less ``spread`` and twice ``spread`` (:func:`srstream.engine.selfpairs.pair_crfs`).

    Why not either side of it: pairs a little less damaged than the stream teach the net more. At
    CRF 30 after 100 steps (``benchmarks/results/bench/adapt_video_crf30*_zen3.md``, 30 frames,
    through the engine), pairs at the matched CRF and 4 either side (then encoded with the
    trainer's x264 settings) took the game capture from 33.50 to 33.36 dB; these take it to 33.73,
    and gain on Big Buck Bunny and the desktop capture too (+0.11, +0.24).
    """
    return pair_crfs(runs, scale, qp, (0, spread, 2 * spread))


def _batch(targets: list[np.ndarray], inputs: dict[int, list[np.ndarray]], size: int, patch: int, scale: int,
           rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(size):
        crf, i = rng.choice(list(inputs)), rng.randrange(len(targets))
        low = inputs[crf][i]
        y0, x0 = rng.randrange(low.shape[0] - patch + 1), rng.randrange(low.shape[1] - patch + 1)
        xs.append(low[y0:y0 + patch, x0:x0 + patch])
        ys.append(targets[i][scale * y0:scale * (y0 + patch), scale * x0:scale * (x0 + patch)])
    return (torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255,
            torch.from_numpy(np.stack(ys)).permute(0, 3, 1, 2).float() / 255)


def tune(net: torch.nn.Module, targets: list[np.ndarray], inputs: dict[int, list[np.ndarray]], scale: int,
         opts: AdaptOptions, progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """Fine-tune ``net`` in place (L1 on RGB in [0, 1], Adam) on the pairs; returns it in eval mode.
    It trains where its weights are (a GPU's device too): the batches go there.

    Raises:
        InputError: a frame is smaller than a patch.
    """
    patch = min(opts.patch, *(min(f.shape[:2]) for f in inputs[next(iter(inputs))]))
    if patch < 16:
        raise InputError(f"the input's frames are under {16 * scale} pixels on a side, too small to adapt to")
    rng = random.Random(opts.seed)
    torch.manual_seed(opts.seed)
    optim = torch.optim.Adam(net.parameters(), lr=opts.lr)
    device = next(net.parameters()).device
    net.train()
    for step in range(1, opts.steps + 1):
        x, y = (t.to(device) for t in _batch(targets, inputs, opts.batch, patch, scale, rng))
        loss = (net(x) - y).abs().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        if progress:
            progress(step)
    return net.eval()


def _weights(model: ResolvedModel) -> Path:
    from srstream.engine.backends.torch_backend import weights_path  # where export --safetensors puts them

    path = weights_path(model.path)
    if not path.is_file():
        raise ModelError(f"--adapt fine-tunes the model's weights, and {model.name} has none beside its graph "
                         f"({path} is missing): export it with `sr-stream export CHECKPOINT -o {model.path.name} "
                         "--safetensors`, or drop --adapt")
    return path


def _key(video: Path, model: ResolvedModel, opts: AdaptOptions) -> str:
    from srstream.engine.jobs import input_identity

    graph = hashlib.sha256(model.path.read_bytes()).hexdigest()
    text = json.dumps({"version": _VERSION, "input": input_identity(video), "graph": graph,
                       "options": dataclasses.asdict(opts)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def adapt_to_video(video: Path, model: ResolvedModel, qp: float | None, opts: AdaptOptions = AdaptOptions(), *,
                   cache: Path | None = None, log: Callable[[str], None] = lambda _: None) -> Adapted:
    """``model`` fine-tuned on ``video`` (see the module docstring), exported, as a model to open.

    ``qp``: the input's mean H.264 quantiser (:func:`srstream.engine.compression.measure`), or
    None when unknown. ``cache``: where adapted models are kept (default: ``adapted`` in
    sr-stream's cache folder); one found there for the same input, model and options is reused.

    Raises:
        ModelError: the model has no weights beside its graph.
        InputError: the video has no frames, or frames too small.
        OutputError / ExportError: the export failed (nothing is left in the cache).
    """
    from srstream.export.pipeline import ExportOptions, run_export

    started = time.perf_counter()
    weights = _weights(model)
    folder = (cache or cache_root() / "adapted") / _key(video, model, opts)
    name = f"{model.name}-adapted"
    target = folder / f"{name}.onnx"
    record = folder / "adapt.json"
    if target.is_file() and record.is_file():
        done = json.loads(record.read_text())
        return Adapted(resolve_model(str(target)), True, tuple(done["crfs"]), done["frames"], 0.0)
    spec, state = load_model_weights(weights)
    net = build_generator(spec)
    net.load_state_dict(state)
    runs = sample_runs(video, opts.runs, opts.run_frames, opts.max_pixels)
    crfs = _crfs(runs, spec.scale, qp, opts.crf_spread)
    targets, inputs = training_pairs(runs, spec.scale, crfs)
    log(f"adapting {model.name} to {video.name}: {len(targets)} frames from {len(runs)} places, re-encoded at "
        f"CRF {'/'.join(map(str, crfs))}, {opts.steps} steps")
    # on a GPU where torch sees one: 200 steps took about 2 minutes on 2 CPU cores
    tune(net.to("cuda" if torch.cuda.is_available() else "cpu"), targets, inputs, spec.scale, opts)
    net.cpu()
    with new_entry(folder, lambda: target.is_file() and record.is_file(), ".adapting-", part="model") as work:
        tuned = dataclasses.replace(spec, name=name, metrics={})  # its own INT8 cost is measured below
        run = save_checkpoint(work / "run", opts.steps, tuned, net.state_dict(), {"step": opts.steps})
        calib = work / "calib"
        calib.mkdir()
        from srstream.trainer.validate import write_png

        for i, frame in enumerate(inputs[crfs[len(crfs) // 2]][::max(1, len(targets) // 8)]):
            write_png(calib / f"{i:03d}.png", frame)
        from srstream.engine.accuracy import CHECKS_DIR

        for crop in CHECKS_DIR.glob("*.png"):  # the ranges must hold on what auto checks the graph with, too
            shutil.copy(crop, calib / f"check_{crop.name}")

        out = work / "model"
        run_export(run, ExportOptions(out=out / target.name, name=name, int8=True, calib=calib, val=CHECKS_DIR,
                                      calib_count=32, safetensors=True), log=lambda _: None)
        seconds = time.perf_counter() - started
        (out / record.name).write_text(json.dumps({"source": str(video), "model": model.name, "crfs": list(crfs),
                                                   "frames": len(targets), "seconds": round(seconds, 1),
                                                   "options": dataclasses.asdict(opts)}, indent=1) + "\n")
    return Adapted(resolve_model(str(target)), False, crfs, len(targets), seconds)
