"""PyTorch generator -> ONNX graph with dynamic batch/height/width and the spec in its metadata.

The graph is traced by torch's ``torch.export``-based exporter (the supported path since
PyTorch 2.9; the TorchScript exporter is deprecated), checked with ``onnx.checker`` and shape
inference, simplified with onnxslim and stamped with the model spec. The IR version is pinned
to one ONNX Runtime can load (onnx may write a newer one than the installed runtime reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from srstream.atomic import write_atomic
from srstream.errors import DependencyError, ExportError
from srstream.export.quiet import quiet
from srstream.spec import ModelSpec

__all__ = ["IR_VERSION", "OPSET", "OnnxGraph", "export_onnx", "quiet", "save_onnx", "stamp_spec"]

#: Default ONNX opset: the exporter's native one (asking for an older one runs a version
#: converter that is not always able to convert).
OPSET = 18
#: IR version written: ONNX Runtime 1.17+ reads IR 10 (onnx 1.23 would otherwise write 11+).
IR_VERSION = 10


@dataclass(frozen=True)
class OnnxGraph:
    """What :func:`export_onnx` produced."""

    model: onnx.ModelProto
    opset: int
    nodes_before: int  # nodes straight from the exporter
    nodes_after: int  # after simplification


def _dynamic_shapes(batch: bool) -> dict[str, dict[int, object]]:
    dims: dict[int, object] = {2: torch.export.Dim("height", min=1, max=16384),
                               3: torch.export.Dim("width", min=1, max=16384)}
    if batch:
        dims[0] = torch.export.Dim("batch", min=1, max=1024)
    return {"x": dims}


def stamp_spec(model: onnx.ModelProto, spec: ModelSpec) -> None:
    """Write ``spec`` into ``model``'s metadata (replacing an older stamp)."""
    keep = [p for p in model.metadata_props if p.key not in spec.to_metadata()]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in spec.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "sr-stream"


def export_onnx(module: torch.nn.Module, spec: ModelSpec, *, opset: int = OPSET, dynamic_batch: bool = True,
                simplify: bool = True) -> OnnxGraph:
    """Trace ``module`` (in eval mode, fp32, CPU) into a checked ONNX model carrying ``spec``.

    Input ``spec.input_name``: ``(N, C, H, W)`` float32; output ``spec.output_name``:
    ``(N, C, H*scale, W*scale)``. H and W (and N when ``dynamic_batch``) are symbolic.

    Raises:
        DependencyError: onnxscript (needed by the exporter) is missing.
        ExportError: tracing, checking or simplification failed (the message says which).
    """
    module = module.eval().float().cpu()
    size = max(2 * spec.margin + 8, 32)
    size += -size % spec.size_multiple
    example = torch.rand(2, spec.in_channels, size, size + spec.size_multiple)
    try:
        with quiet(), torch.no_grad():
            program = torch.onnx.export(
                module, (example,), input_names=[spec.input_name], output_names=[spec.output_name],
                opset_version=opset, dynamic_shapes=_dynamic_shapes(dynamic_batch), dynamo=True,
                external_data=False, verbose=False,
            )
    except ModuleNotFoundError as exc:
        raise DependencyError(f"ONNX export needs {exc.name}: pip install 'sr-stream[export]'") from exc
    except Exception as exc:  # the exporter raises many internal types; the cause is kept
        raise ExportError(f"torch could not export {spec.arch!r} ({spec.name}) to ONNX: {exc}") from exc
    model = program.model_proto
    before = len(model.graph.node)
    if simplify:
        model = _simplify(model, spec)
    model.ir_version = min(model.ir_version, IR_VERSION)
    stamp_spec(model, spec)
    _check(model, spec)
    return OnnxGraph(model, opset, before, len(model.graph.node))


def _simplify(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    try:
        import onnxslim
    except ModuleNotFoundError as exc:
        raise DependencyError("graph simplification needs onnxslim: pip install 'sr-stream[export]'") from exc
    try:
        with quiet():
            return onnxslim.slim(model)
    except Exception as exc:
        raise ExportError(f"onnxslim failed on {spec.name}: {exc}") from exc


def _check(model: onnx.ModelProto, spec: ModelSpec) -> None:
    """``onnx.checker`` (full) and strict shape inference; the output must keep C and the scale."""
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the exported graph of {spec.name} is not valid ONNX: {exc}") from exc
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in inferred.graph.output]
    if inputs != [spec.input_name] or outputs != [spec.output_name]:
        raise ExportError(f"{spec.name}: graph has inputs {inputs} / outputs {outputs}, "
                          f"expected [{spec.input_name!r}] / [{spec.output_name!r}]")
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    if len(dims) != 4 or dims[1].dim_value != spec.out_channels:
        raise ExportError(f"{spec.name}: output shape {[d.dim_param or d.dim_value for d in dims]} is not "
                          f"(N, {spec.out_channels}, H, W)")


def save_onnx(model: onnx.ModelProto, path: Path) -> int:
    """Write ``model`` to ``path`` atomically; returns its size in bytes.

    Raises:
        OutputError: the folder is not writable or the disk is full (nothing is left behind).
    """
    return write_atomic(Path(path), model.SerializeToString())
