"""Checkpoints: shippable weights (safetensors + spec) and the exact training state.

A checkpoint is a folder ``checkpoints/step_NNNNNNN/`` holding

* ``model.safetensors``: the generator weights to ship (the EMA when enabled), with the model
  spec JSON in the safetensors metadata under ``srstream.spec``;
* ``state.pt``: everything needed to resume exactly (raw generator, discriminator, optimisers,
  schedulers, EMA, step, RNG states), read back with ``torch.load(weights_only=True)``.

The folder is written under a temporary name and renamed, then ``checkpoints/last.json`` is
replaced atomically: a crash never leaves a half-written checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from srstream.errors import ModelError
from srstream.spec import METADATA_KEY, ModelSpec

__all__ = ["latest", "load_model_weights", "load_state", "read_spec", "save_checkpoint"]


def save_checkpoint(run_dir: Path, step: int, spec: ModelSpec, model_state: dict[str, torch.Tensor],
                    train_state: dict[str, Any], *, keep: int = 3, keep_weights_every: int = 0) -> Path:
    """Write checkpoint ``step`` and point ``last.json`` at it; keep the newest ``keep``.

    Older ones are deleted, except that a step that is a multiple of ``keep_weights_every`` (when
    positive) keeps its ``model.safetensors`` (its training state goes): weights to export or
    compare later, as a GAN run needs when its best step is not its last.
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model_state.items()}
    save_file(tensors, str(tmp / "model.safetensors"), metadata={METADATA_KEY: spec.to_json(), "step": str(step)})
    torch.save(train_state, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    pointer = root / ".last.json.tmp"
    pointer.write_text(json.dumps({"step": step, "dir": final.name}))
    os.replace(pointer, root / "last.json")
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        if keep_weights_every > 0 and int(old.name.removeprefix("step_")) % keep_weights_every == 0:
            (old / "state.pt").unlink(missing_ok=True)
        else:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of ``run_dir``, or None."""
    pointer = run_dir / "checkpoints" / "last.json"
    if not pointer.is_file():
        return None
    folder = run_dir / "checkpoints" / json.loads(pointer.read_text())["dir"]
    return folder if (folder / "state.pt").is_file() else None


def load_state(folder: Path) -> dict[str, Any]:
    """The training state of a checkpoint (safe loading: tensors and plain containers only)."""
    return torch.load(folder / "state.pt", map_location="cpu", weights_only=True)


def read_spec(weights: Path) -> ModelSpec:
    """The spec stored in a ``model.safetensors``.

    Raises:
        ModelError: missing file, not safetensors, or no sr-stream spec inside.
    """
    try:
        with safe_open(str(weights), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # OSError, or safetensors' own error types
        raise ModelError(f"{weights} is not a readable safetensors file: {exc}") from exc
    return ModelSpec.from_metadata(metadata, where=str(weights))


def load_model_weights(weights: Path) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """Spec and tensors of a ``model.safetensors`` (a checkpoint folder, or a run folder for its
    newest checkpoint, is accepted too)."""
    if weights.is_dir():
        newest = latest(weights)
        weights = (newest or weights) / "model.safetensors"
    spec = read_spec(weights)
    return spec, load_file(str(weights))
