"""Running a strength-conditioned model (:mod:`srstream.strength`) at one strength.

Such a model's conv ``K`` adds ``s * v_K`` to its output; the exporter writes the offsets ``v_K``
into the metadata of every graph (:data:`METADATA_KEY`), and the graphs themselves compute the
net at ``s = 0``. For one stream ``s`` is one number, so the engine adds ``s * v_K`` to the biases
once and runs the result as any plain model: no extra input, no extra cost, every backend and
precision as they are. :func:`at_strength` writes that model (every graph beside it: INT8, fp16,
the luma-only graphs, and the torch backend's weights) into the cache, once per model file and
strength step (:data:`STEP`), and returns it. It is a plain model in every respect, its spec
included (no ``strength`` parameter), so nothing downstream can fix its strength twice.

In an INT8 graph the middle convs' biases are int32 in units of their input scale times their
weight scale (ONNX Runtime's QDQ layout); the offset is requantised in those units. The
activation ranges were calibrated at ``s = 0``, so each strength's INT8 graph is checked against
its fp32 graph before ``auto`` takes it, like any other (``srstream.engine.accuracy``).

ONNX graphs are edited with the ``onnx`` package (imported here only).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from srstream.cache import cache_root
from srstream.engine.models import ResolvedModel, variant_name
from srstream.errors import DependencyError, ModelError
from srstream.spec import ModelSpec

__all__ = ["METADATA_KEY", "STEP", "at_strength", "conditioned", "fixed_spec", "for_stream", "offsets_metadata",
           "patch_graph", "quantise"]

#: The ONNX metadata key holding a conditioned model's offsets: JSON ``{"K": [v_K...]}``, ``K`` the
#: conv's position (the bias of conv ``K`` is ``body.{2K}.bias``, ``luma.body.{2K}.bias`` in RGB graphs).
METADATA_KEY = "srstream.strength"
#: Strengths are run in steps of this much (about 1.75 quantiser steps): one cache entry per step.
STEP = 0.05
#: The graphs beside a model file that are patched alike (precision suffixes of ``NAME.onnx``).
_VARIANTS = ("fp32", "int8", "fp16", "luma", "luma.int8")


def conditioned(spec: ModelSpec) -> bool:
    """Whether ``spec``'s net takes a strength."""
    return bool(spec.arch_params.get("strength", False))


def quantise(strength: float) -> float:
    """``strength`` clamped to [0, 1] and rounded to the :data:`STEP` the engine runs."""
    return round(min(max(float(strength), 0.0), 1.0) / STEP) * STEP


def offsets_metadata(offsets: dict[int, np.ndarray]) -> str:
    """The metadata value for ``offsets`` (conv position -> per-channel offset)."""
    return json.dumps({str(k): [float(x) for x in np.asarray(v).ravel()] for k, v in sorted(offsets.items())})


def _onnx():  # noqa: ANN202 - the onnx module
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise DependencyError("running a strength-conditioned model needs the onnx package: pip install onnx") from exc
    return onnx, numpy_helper


def fixed_spec(spec: ModelSpec) -> ModelSpec:
    """The spec of ``spec``'s model at one strength: the plain net's (no ``strength`` parameter)."""
    return ModelSpec.from_dict({**spec.to_dict(), "arch_params": {k: v for k, v in spec.arch_params.items()
                                                                  if k != "strength"}})


def patch_graph(model, strength: float) -> None:  # noqa: ANN001 - onnx.ModelProto
    """Add ``strength * v_K`` to the bias of every conv ``K`` of ``model`` in place, from the
    offsets in its metadata; the offsets are removed and the stored spec made the plain net's
    (:func:`fixed_spec`): the result is a plain graph.

    Raises:
        ModelError: no offsets in the metadata, or a bias they name is not in the graph.
    """
    _, numpy_helper = _onnx()
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ModelError(f"graph {model.graph.name!r} carries no strength offsets ({METADATA_KEY})")
    offsets = {int(k): np.asarray(v, np.float64) for k, v in json.loads(props[METADATA_KEY]).items()}
    inits = {i.name: i for i in model.graph.initializer}
    for k, values in offsets.items():
        names = [n for n in (f"body.{2 * k}.bias", f"luma.body.{2 * k}.bias") if n in inits or f"{n}_quantized" in inits]
        if len(names) != 1:
            raise ModelError(f"graph {model.graph.name!r}: no single bias for conv {k} (body.{2 * k}.bias)")
        name = names[0]
        size = numpy_helper.to_array(inits[name] if name in inits else inits[f"{name}_quantized"]).shape[0]
        if size < len(values):
            raise ModelError(f"graph {model.graph.name!r}: conv {k} has {size} biases for {len(values)} offsets")
        offset = np.pad(values, (0, size - len(values)))  # an INT8 graph's thin convs are widened with zero filters
        if name in inits:  # a float bias (fp32 or fp16)
            bias = numpy_helper.to_array(inits[name])
            new = (bias.astype(np.float64) + strength * offset).astype(bias.dtype)
            inits[name].CopyFrom(numpy_helper.from_array(new, name))
        else:  # an INT8 graph's int32 bias, in units of its scale
            q, scale = inits[f"{name}_quantized"], inits[f"{name}_quantized_scale"]
            units = numpy_helper.to_array(q).astype(np.float64)
            step = numpy_helper.to_array(scale).astype(np.float64)
            new = np.clip(np.round(units + strength * offset / step), -2**31, 2**31 - 1).astype(np.int32)
            q.CopyFrom(numpy_helper.from_array(new, q.name))
    fixed = fixed_spec(ModelSpec.from_metadata(props, where=f"graph {model.graph.name!r}")).to_metadata()
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY and p.key not in fixed]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in fixed.items():
        model.metadata_props.add(key=key, value=value)


def _fold_weights(source: Path, target: Path, strength: float) -> None:
    """The torch backend's ``NAME.safetensors`` at ``strength``: biases moved, offsets dropped,
    the plain net's spec (:func:`fixed_spec`)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from srstream.spec import METADATA_KEY as SPEC_KEY

    with safe_open(str(source), "np") as fh:
        metadata = dict(fh.metadata() or {})
    if SPEC_KEY in metadata:
        metadata[SPEC_KEY] = fixed_spec(ModelSpec.from_json(metadata[SPEC_KEY])).to_json()
    state = load_file(str(source))
    for key in [k for k in state if "strength_offsets." in k]:
        prefix, index = key.rsplit("strength_offsets.", 1)
        bias = f"{prefix}body.{2 * int(index)}.bias"
        if bias not in state:
            raise ModelError(f"{source}: no {bias} for {key}")
        state[bias] = (state[bias] + strength * state.pop(key)).astype(state[bias].dtype)
    save_file(state, str(target), metadata=metadata)


def _has_safetensors() -> bool:
    import importlib.util

    return importlib.util.find_spec("safetensors") is not None


def for_stream(model: ResolvedModel, compression: float | None) -> tuple[ResolvedModel, float | None]:
    """What runs for ``model`` on input of ``compression`` (None: clean), and the strength it runs
    at: a strength-conditioned model fixed at that strength (:func:`at_strength`; at 0 the graphs
    as exported), any other model as it is, with None. The one place the command line, the Python
    API and the benchmarks turn a compression into a model."""
    if not conditioned(model.spec):
        return model, None
    level = quantise(compression or 0.0)
    return (at_strength(model, level) if level > 0 else model), level


def at_strength(model: ResolvedModel, strength: float, *, cache: Path | None = None) -> ResolvedModel:
    """``model`` (strength-conditioned) fixed at ``strength`` (rounded to :data:`STEP`), with every
    graph and weights file beside it likewise; written once into ``cache`` (default: the
    machine's cache) and reused.

    Raises:
        ModelError: ``model`` is not strength-conditioned, or its graphs lack the offsets.
        DependencyError: the onnx package is missing.
    """
    if not conditioned(model.spec):
        raise ModelError(f"model {model.name} takes no strength (its spec has no strength input)")
    onnx, _ = _onnx()
    level = quantise(strength)
    digest = hashlib.sha256(model.path.read_bytes()).hexdigest()[:16]
    stem = model.path.name.removesuffix(".onnx")
    folder = (cache or cache_root() / "strength") / f"{stem}-{digest}-s{level:.2f}"
    target = folder / model.path.name
    if not (folder / "complete").is_file():
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for variant in _VARIANTS:
                source = variant_name(model.path, variant)
                if source.is_file():
                    graph = onnx.load(str(source))
                    patch_graph(graph, level)
                    onnx.save(graph, str(tmp / source.name))
            weights = model.path.with_name(f"{stem}.safetensors")
            if weights.is_file() and _has_safetensors():  # the torch backend's (which needs the package too)
                _fold_weights(weights, tmp / weights.name, level)
            (tmp / "complete").write_text(f"{model.path}\n{level:.2f}\n")
            shutil.rmtree(folder, ignore_errors=True)  # a stale, incomplete one
            try:
                os.replace(tmp, folder)  # whole or not at all
            except OSError:
                if not (folder / "complete").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another run wrote the same entry meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ResolvedModel(model.name, target, fixed_spec(model.spec))
