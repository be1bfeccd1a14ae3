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


@needs_native
def test_a_split_is_kept_in_the_cache_and_the_next_run_never_imports_onnx(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """``import onnx`` took 0.5-1 s of every OpenVINO run's start, for the same cut each time: it (or the
    graph re-encoded for AMX) is kept by the graph's contents, and taken from there in a later process
    without onnx."""
    import subprocess
    import sys

    monkeypatch.setenv("SRSTREAM_CACHE", str(tmp_path))
    deep = luma_variant_path(resolve_model("tiny-x2-deep").path, "int8")
    whole = luma_variant_path(resolve_model("realtime-x2").path, "int8")  # its last conv is int8: no cut
    for unsigned in (False, True):
        made = graph_tail.split_cached(deep, unsigned)
        want = graph_tail.split(deep, unsigned)
        assert made is not None and made[0] == want[0]
        assert graph_tail.split_cached(whole, unsigned) is None
    recoded = graph_tail.unsigned_graph_cached(whole)  # (what OpenVINO on AMX runs instead)
    assert recoded is not None and recoded == graph_tail.unsigned_graph(whole)
    with monkeypatch.context() as patched:
        patched.setattr(graph_tail, "split", lambda *a: pytest.fail("split again"))
        patched.setattr(graph_tail, "unsigned_graph", lambda *a: pytest.fail("re-encoded again"))
        kept = graph_tail.split_cached(deep, True)
        assert graph_tail.split_cached(whole) is None and graph_tail.unsigned_graph_cached(whole) == recoded
    head, tail = kept
    assert head == want[0] and np.array_equal(tail.weight, want[1].weight) and np.array_equal(tail.bias, want[1].bias)
    assert (tail.scale, tail.act_scale, tail.act_zero) == (want[1].scale, want[1].act_scale, want[1].act_zero)
    code = ("import sys; from pathlib import Path; "
            "from srstream.engine.graph_tail import split_cached, unsigned_graph_cached; "
            f"assert split_cached(Path({str(deep)!r})) is not None and split_cached(Path({str(whole)!r})) is None; "
            f"assert unsigned_graph_cached(Path({str(whole)!r})); "
            "print('onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    for entry in (tmp_path / "graph-tail").iterdir():  # an entry left incomplete or damaged is made again
        for f in entry.iterdir():
            f.write_bytes(b"PK\x03\x04 cut short") if f.suffix == ".npz" else f.unlink()
    assert graph_tail.split_cached(deep) is not None and graph_tail.split_cached(whole) is None


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
