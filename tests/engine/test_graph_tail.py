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
