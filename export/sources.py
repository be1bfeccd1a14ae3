"""What ``sr-stream export`` accepts as its CHECKPOINT, loaded into a ready generator.

* a training run folder (its newest checkpoint), a checkpoint folder, or a ``model.safetensors``
  written by the trainer: the spec comes from the file's metadata;
* a supported third-party file (``.pth``/``.pt``/``.safetensors`` without our spec): recognised
  and mapped by :mod:`srstream.export.peers`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from srstream.archs import build_generator, plain_generator
from srstream.errors import InputError, ModelError
from srstream.export.peers import import_state, read_foreign_state
from srstream.spec import METADATA_KEY, ModelSpec

__all__ = ["LoadedGenerator", "load_generator", "locate_weights"]


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator in eval mode (fp32, CPU) with its spec and where it came from."""

    spec: ModelSpec
    module: torch.nn.Module
    path: Path  # the weight file actually read
    imported: bool  # True for third-party weights


def locate_weights(path: Path) -> Path:
    """The weight file behind ``path`` (a run folder, a checkpoint folder or a file).

    Raises:
        InputError: nothing usable is there.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist")
    pointer = path / "checkpoints" / "last.json"
    if pointer.is_file():
        try:
            path = path / "checkpoints" / json.loads(pointer.read_text())["dir"]
        except (ValueError, KeyError) as exc:
            raise InputError(f"{pointer} is damaged ({exc}); pass a checkpoint folder instead") from exc
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise InputError(f"{path} holds no model.safetensors: pass a run folder, a checkpoint folder or a weight file")
    return weights


def _read_ours(path: Path) -> tuple[ModelSpec, dict[str, torch.Tensor]] | None:
    """Spec and tensors when ``path`` is a safetensors file with our spec; None otherwise."""
    if path.suffix != ".safetensors":
        return None
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        if METADATA_KEY not in metadata:
            return None
        return ModelSpec.from_metadata(metadata, where=str(path)), load_file(str(path))
    except ModelError:
        raise
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"{path} is not a readable safetensors file: {exc}") from exc


def load_generator(path: Path, *, name: str | None = None) -> LoadedGenerator:
    """Load the generator behind ``path``; ``name`` renames the model (imports default to the file stem).

    Raises:
        InputError: the path does not exist or holds no weights.
        ModelError: unreadable weights, an unknown format, or weights that do not fit the spec.
    """
    weights = locate_weights(path)
    ours = _read_ours(weights)
    if ours is not None:
        spec, state = ours
        imported = False
        if name:
            spec = ModelSpec.from_dict({**spec.to_dict(), "name": name})
    else:
        spec, state = import_state(read_foreign_state(weights), name, weights.stem)
        imported = True
    module = build_generator(spec)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: the weights do not fit {spec.arch} {dict(spec.arch_params)}: {exc}") from exc
    spec, module = plain_generator(spec, module)  # re-parameterised blocks ship collapsed
    return LoadedGenerator(spec, module.eval().float(), weights, imported)
