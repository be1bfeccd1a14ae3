"""FP16 ONNX for GPUs (ONNX Runtime's CUDA EP, TensorRT strongly typed builds).

ONNX Runtime's converter does the work. It keeps in fp32 the ops its default block list names
(those without fp16 kernels) and, with ``fp16_io=False``, the graph's input and output, so
callers keep feeding fp32 frames; casts are inserted at those borders. Initializers beyond the
fp16 range are clamped by the converter, which warns; our generators have none.
"""

from __future__ import annotations

import copy

import onnx

from srstream.errors import DependencyError, ExportError
from srstream.export.quiet import quiet

__all__ = ["to_fp16"]


def to_fp16(model: onnx.ModelProto, *, fp16_io: bool = False) -> onnx.ModelProto:
    """An fp16 copy of the fp32 ``model``, nodes topologically sorted and checked.

    Raises:
        DependencyError: onnxruntime's converter is missing.
        ExportError: the converted graph fails ``onnx.checker``.
    """
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel
    except ModuleNotFoundError as exc:  # pragma: no cover - ships with onnxruntime
        raise DependencyError(f"fp16 export needs {exc.name}: pip install onnxruntime") from exc
    with quiet():
        half = convert_float_to_float16(copy.deepcopy(model), keep_io_types=not fp16_io)
        OnnxModel(half).topological_sort()
    try:
        onnx.checker.check_model(half, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the fp16 graph is not valid ONNX: {exc}") from exc
    return half
