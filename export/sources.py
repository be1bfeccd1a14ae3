"""What ``sr-stream export`` accepts as its CHECKPOINT, loaded into a ready generator.

* a training run folder (its newest checkpoint), a checkpoint folder, or a ``model.safetensors``
  written by the trainer: the spec comes from the file's metadata;
* a supported third-party file (``.pth``/``.pt``/``.safetensors`` without our spec): recognised
  and mapped by :mod:`srstream.export.peers`.

A checkpoint of a quantisation-aware phase (``quant: int8``) also holds, in its ``state.pt``, the
activation ranges the net was trained to round at (:mod:`srstream.archs.quant`): they come with
the generator as :attr:`LoadedGenerator.trained_ranges`, for the INT8 export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from srstream.archs import build_generator, plain_generator
from srstream.errors import InputError, ModelError, unreadable_weights
from srstream.export.peers import import_state, read_foreign_state
from srstream.spec import METADATA_KEY, ModelSpec

__all__ = ["LoadedGenerator", "load_generator", "locate_weights", "trained_ranges"]


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator in eval mode (fp32, CPU) with its spec and where it came from."""

    spec: ModelSpec
    module: torch.nn.Module
    path: Path  # the weight file actually read
    imported: bool  # True for third-party weights
    # (lo, hi) of each activation rounding of a quantisation-aware checkpoint, by site
    # (srstream.archs.quant.Site: which conv's input or output); empty for any other weights
    trained_ranges: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)


def locate_weights(path: Path) -> Path:
    """The weight file behind ``path`` (a run folder, a checkpoint folder or a file).

    Raises:
        InputError: nothing usable is there.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".onnx":
        raise InputError(f"{path} is an ONNX graph already, which sr-stream runs as it is (--model {path}); export "
                         "takes a PyTorch checkpoint, a run folder or a weights file (.pth, .safetensors)")
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
    ranges = {} if imported else trained_ranges(weights, spec)
    return LoadedGenerator(spec, module.eval().float(), weights, imported, ranges)


def trained_ranges(weights: Path, spec: ModelSpec) -> dict[tuple[str, int], tuple[float, float]]:
    """The activation ranges of the quantisation-aware phase that wrote ``weights`` (the
    ``state.pt`` beside it), by site; empty when there is none or it holds no ranges (a float
    phase). A checkpoint from before the sites were saved holds ranges only: they are placed as
    the trainer places them with its default float convs (first and last), when their number fits.

    Raises:
        ModelError: the ``state.pt`` cannot be read safely.
    """
    state_file = weights.parent / "state.pt"
    if weights.name != "model.safetensors" or not state_file.is_file() or spec.arch not in ("compact", "compact_y"):
        return {}
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpickling error, or a damaged file
        raise ModelError(f"not a training state this version can read safely: {unreadable_weights(state_file, exc)}") \
            from exc
    ranges = [(float(r[0]), float(r[1])) for r in state.get("quant_ranges", [])]
    sites = [(str(kind), int(k)) for kind, k in state.get("quant_sites", [])]
    if ranges and not sites:
        from srstream.archs.quant import rounding_sites

        sites = rounding_sites(int(spec.arch_params.get("convs", 8)) + 2)  # the body convs, the first and the last
    return dict(zip(sites, ranges)) if len(sites) == len(ranges) else {}
