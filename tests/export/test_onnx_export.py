"""Every registered generator exports to ONNX at x2 and x4 and computes what PyTorch does."""

from __future__ import annotations

import copy
import functools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from srstream.archs import GENERATORS, build_generator, generator_spec
from srstream.errors import ExportError
from srstream.export.fp16 import to_fp16
from srstream.export.parity import TOLERANCES, check_parity
from srstream.export.rewrite import decompose_prelu
from srstream.export.to_onnx import export_onnx
from srstream.spec import ModelSpec

#: Tiny configurations of every registered architecture, so the suite stays fast.
TINY = {
    "srresnet": {"features": 8, "blocks": 1},
    "rrdb": {"features": 8, "blocks": 1, "growth": 4},
    "compact": {"features": 8, "convs": 2},
    "compact_y": {"features": 8, "convs": 2},
    "span": {"features": 4, "norm": False},  # (with norm, a random net's outputs run to the hundreds)
    "realplksr": {"dim": 8, "blocks": 1, "kernel": 5, "partial": 2, "dysample": True},
}


def test_tiny_table_covers_the_registry() -> None:
    assert set(TINY) == set(GENERATORS.names())


def _model(arch: str, scale: int, seed: int = 0) -> tuple[ModelSpec, torch.nn.Module]:
    torch.manual_seed(seed)
    spec = generator_spec(f"tiny-{arch}", arch, scale, params=TINY[arch])
    module = build_generator(spec).eval()
    # PReLU slopes: the first keeps its init (0.25, inside [0, 1]); the others get slopes on both
    # sides of [0, 1], so both rewrites of decompose_prelu are exercised.
    prelus = [m for m in module.modules() if isinstance(m, torch.nn.PReLU)]
    for m in prelus[1:]:
        m.weight.data.uniform_(-0.5, 1.5)
    return spec, module


@functools.cache
def _exported(arch: str, scale: int) -> tuple[ModelSpec, torch.nn.Module, onnx.ModelProto]:
    spec, module = _model(arch, scale)
    return spec, module, export_onnx(module, spec).model


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("arch", sorted(TINY))
def test_fp32_export_matches_pytorch(arch: str, scale: int) -> None:
    spec, module, model = _exported(arch, scale)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1] == spec.in_channels and all(isinstance(d, str) for d in dims[2:])
    fast = copy.deepcopy(model)
    decompose_prelu(fast)
    for graph in (model, fast):
        report = check_parity(module, spec, graph.SerializeToString())
        assert report.passed and report.max_abs <= 1e-4
        assert {c.shape[0] for c in report.cases} == {1, 2}  # batch axis exercised
        assert any(c.shape[2] % 2 for c in report.cases)  # odd sizes exercised
    session = ort.InferenceSession(fast.SerializeToString(), providers=["CPUExecutionProvider"])
    assert ModelSpec.from_metadata(session.get_modelmeta().custom_metadata_map) == spec


@pytest.mark.parametrize("arch", sorted(TINY))
def test_fp16_export_is_within_its_stated_tolerance(arch: str) -> None:
    spec, module, model = _exported(arch, 2)
    half = to_fp16(model)
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 I/O by default
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)
    report = check_parity(module, spec, half.SerializeToString(), precision="fp16")
    assert report.passed and report.tolerance == TOLERANCES["fp16"]
    io16 = to_fp16(model, fp16_io=True)
    assert io16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert check_parity(module, spec, io16.SerializeToString(), precision="fp16").passed


def test_prelu_rewrite_is_exact_on_both_branches() -> None:
    spec, module, model = _exported("compact", 2)
    fast = copy.deepcopy(model)
    assert decompose_prelu(fast) == 3 and not any(n.op_type == "PRelu" for n in fast.graph.node)
    assert {"Max", "Relu"} <= {n.op_type for n in fast.graph.node}
    x = np.random.default_rng(1).standard_normal((1, 3, 19, 21)).astype(np.float32)
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
           for m in (model, fast)]
    np.testing.assert_allclose(run[0], run[1], atol=1e-5)


def test_parity_failure_is_an_error() -> None:
    spec, module, model = _exported("compact", 2)
    broken = copy.deepcopy(model)
    for init in broken.graph.initializer:
        if init.dims and len(init.dims) == 4:  # perturb the first conv's weights
            w = onnx.numpy_helper.to_array(init).copy()
            w.flat[0] += 0.5
            init.CopyFrom(onnx.numpy_helper.from_array(w, init.name))
            break
    with pytest.raises(ExportError, match="does not compute what the PyTorch model does"):
        check_parity(module, spec, broken.SerializeToString())


def test_widening_thin_convs_is_exact() -> None:
    from srstream.export.rewrite import pad_thin_convs

    spec, module, model = _exported("compact_y", 2)
    wide = copy.deepcopy(model)
    thin = sum(n.op_type == "Conv" for n in model.graph.node)  # tiny config: every conv has < 16 outputs
    slices = sum(n.op_type == "Slice" for n in model.graph.node)
    assert pad_thin_convs(wide) == thin and sum(n.op_type == "Slice" for n in wide.graph.node) == slices + thin
    report = check_parity(module, spec, wide.SerializeToString())
    assert report.passed and report.max_abs <= 1e-5


def test_int8_graph_narrows_the_convs_it_keeps_float_again() -> None:
    """The widening is for int8 kernels: a conv quantisation keeps float gets its real output
    channels back (fewer MACs, no Slice), with the INT8 graph's output unchanged."""
    from srstream.export.int8 import quantize_int8
    from srstream.export.rewrite import narrow_float_convs, pad_thin_convs

    spec, _, model = _exported("compact_y", 2)
    pad_thin_convs(model)
    rng = np.random.default_rng(0)
    inputs = [rng.random((1, spec.in_channels, 24, 24), dtype=np.float32) for _ in range(4)]
    q = quantize_int8(model, spec, inputs, method="minmax", keep_float=("first", "last"))
    narrow = copy.deepcopy(q)
    assert narrow_float_convs(narrow) == 2  # first and last; the quantised ones stay wide
    inits = {t.name: t for t in narrow.graph.initializer}
    convs = [n for n in narrow.graph.node if n.op_type == "Conv"]
    assert [inits[c.input[1]].dims[0] for c in (convs[0], convs[-1])] == [8, spec.scale ** 2]
    assert [n.name for n in narrow.graph.node if n.name.endswith("_wide_slice")] == [
        f"{c.name}_wide_slice" for c in convs[1:-1]]
    assert not any(f"{c.name}_wide" in t.name for c in (convs[0], convs[-1]) for t in narrow.graph.initializer)
    x = inputs[0]
    run = [ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"]) for g in (q, narrow)]
    a, b = (r.run(None, {spec.input_name: x})[0] for r in run)
    assert np.array_equal(a, b)
    assert narrow_float_convs(narrow) == 0  # idempotent
