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


def conv_net_spec(scale: int, convs: int = 3, tile: int = 32, overlap: int | None = None) -> ModelSpec:
    return ModelSpec(name=f"convnet-x{scale}", arch="convnet", scale=scale, margin=convs,
                     tile=tile, tile_overlap=convs if overlap is None else overlap)


def write_conv_net(path: Path, scale: int, convs: int = 3, features: int = 8, seed: int = 0,
                   spec: ModelSpec | None = None) -> Path:
    """A real, random-weight conv net: ``convs`` 3x3 convs (ReLU between), the last to ``3 * s^2``
    channels, DepthToSpace(s), plus a nearest skip. Receptive-field margin: ``convs`` pixels."""
    onnx = pytest.importorskip("onnx", reason="needs onnx (pip install 'sr-stream[dev]')")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "input"
    widths = [3] + [features] * (convs - 1) + [3 * scale * scale]
    for i in range(convs):
        w = (rng.standard_normal((widths[i + 1], widths[i], 3, 3)) / (3 * widths[i] ** 0.5)).astype(np.float32)
        b = (rng.standard_normal(widths[i + 1]) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        x = f"c{i}"
        if i < convs - 1:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("DepthToSpace", [x], ["d2s"], blocksize=scale, mode="CRD"))
    inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, float(scale), float(scale)]))
    nodes.append(helper.make_node("Resize", ["input", "", "scales"], ["skip"], mode="nearest"))
    nodes.append(helper.make_node("Add", ["d2s", "skip"], ["output"]))
    graph = helper.make_graph(
        nodes, "convnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h2", "w2"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, (spec or conv_net_spec(scale, convs)).to_metadata())
    onnx.save(model, str(path))
    return path
