"""Tiny ONNX models for engine and CLI tests, built with onnx.helper (no torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srstream.spec import ModelSpec


def nearest_x2_spec() -> ModelSpec:
    return ModelSpec(name="nearest-x2", arch="nearest", scale=2, margin=0, tile=64)


def write_nearest_x2(path: Path, spec: ModelSpec | None = None) -> Path:
    """A real x2 nearest-neighbour 'model' (ONNX Resize), with ``spec`` in its metadata."""
    onnx = pytest.importorskip("onnx", reason="needs onnx (pip install 'sr-stream[dev]')")
    from onnx import TensorProto, helper

    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])
    node = helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="nearest")
    graph = helper.make_graph(
        [node], "nearest_x2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h2", "w2"])],
        initializer=[scales],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if spec is not None:
        helper.set_model_props(model, spec.to_metadata())
    onnx.save(model, str(path))
    return path
