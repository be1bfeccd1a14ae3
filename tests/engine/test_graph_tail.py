"""Cutting a luma INT8 graph before its last conv: head (ONNX Runtime here) + our tail == the graph."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from srstream.engine import graph_tail, kernels
from srstream.engine.models import luma_variant_path, resolve_model

needs_native = pytest.mark.skipif(not kernels.has_native(), reason="native kernels not built")


def _run(graph, x: np.ndarray) -> np.ndarray:
    """The graph as written: ONNX Runtime's optimisations would drop the Q/DQ pair before the float
    conv (OpenVINO keeps it, as the graph says)."""
    source = graph if isinstance(graph, bytes) else str(graph)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@needs_native
@pytest.mark.parametrize("name", ["tiny-x2", "tiny-x2-deep"])
def test_head_and_tail_compute_the_whole_graph(name: str) -> None:
    path = luma_variant_path(resolve_model(name).path, "int8")
    cut = graph_tail.split(path)
    assert cut is not None, f"{path.name} should end in the quantised conv, skip and DepthToSpace"
    head, tail = cut
    x = np.random.default_rng(1).random((2, 1, 29, 43), dtype=np.float32)
    act = _run(head, x)
    assert act.dtype in (np.int8, np.uint8) and act.shape == (2, 16, 29, 43)
    got, want = tail.apply(act, x), _run(path, x)
    assert got.shape == want.shape == (2, 1, 58, 86)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@needs_native
def test_other_graphs_are_left_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    model = resolve_model("tiny-x2")
    assert graph_tail.split(model.path.with_name("tiny-x2.int8.onnx")) is None  # RGB: another ending
    assert graph_tail.split(luma_variant_path(model.path, "fp32")) is None  # no quantised activations
    monkeypatch.setenv(graph_tail.ENV, "0")
    assert graph_tail.split(luma_variant_path(model.path, "int8")) is None


@pytest.mark.parametrize("name", ["realtime-x2", "tiny-x2"])
def test_unsigned_activations_change_no_value(name: str) -> None:
    """int8 codes of zero point -128 re-encoded as uint8 of zero point 0 (for OpenVINO on AMX):
    the same values, so the same output, quantiser for quantiser."""
    import onnx

    path = luma_variant_path(resolve_model(name).path, "int8")
    model = onnx.load(str(path))
    signed = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
    changed = graph_tail.unsigned_activations(model)
    # realtime-x2 quantises its last conv's output too, at zero point 0
    assert (changed, signed) == ((7, 8) if name == "realtime-x2" else (signed, signed))
    zeros = {t.name: t.data_type for t in model.graph.initializer if t.name.endswith("zero_point")}
    assert sum(t == onnx.TensorProto.UINT8 for t in zeros.values()) == changed
    x = np.random.default_rng(4).random((1, 1, 23, 31), dtype=np.float32)
    np.testing.assert_allclose(_run(model.SerializeToString(), x), _run(path, x), rtol=0, atol=1e-6)
    assert graph_tail.unsigned_graph(model.SerializeToString()) is None  # nothing left to re-encode


@needs_native
def test_unsigned_head_and_tail_compute_the_whole_graph() -> None:
    path = luma_variant_path(resolve_model("tiny-x2-deep").path, "int8")
    head, tail = graph_tail.split(path, unsigned=True)
    x = np.random.default_rng(5).random((1, 1, 19, 27), dtype=np.float32)
    act = _run(head, x)
    assert act.dtype == np.uint8 and tail.act_zero == 0
    np.testing.assert_allclose(tail.apply(act, x), _run(path, x), rtol=0, atol=1e-5)


def test_a_zero_point_read_elsewhere_is_kept() -> None:
    """A zero point that something other than its quantiser pair reads is not re-encoded."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(-128, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             helper.make_node("Cast", ["z"], ["zf"], to=TensorProto.FLOAT), helper.make_node("Add", ["d", "zf"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    assert graph_tail.unsigned_activations(model) == 0
    # the same pair without the Cast: re-encoded
    bare = helper.make_model(helper.make_graph(nodes[:2], "g", list(graph.input),
                                               [helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, 4])], inits),
                             opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    assert graph_tail.unsigned_activations(bare) == 1
    x = np.array([[-1.0, 0.0, 3.33, 40.0]], np.float32)
    np.testing.assert_allclose(_run(bare.SerializeToString(), x), [[0.0, 0.0, 3.3, 25.5]], rtol=0, atol=1e-6)
