"""Fake INT8 (srstream.archs.quant): training rounds as the exported INT8 graph does."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from srstream.archs import build_generator, generator_spec  # noqa: E402
from srstream.archs.quant import attach_fake_int8, fake_int8_weight, rounding_sites  # noqa: E402
from srstream.export.int8 import quantize_int8  # noqa: E402
from srstream.export.pipeline import luma_spec  # noqa: E402
from srstream.export.rewrite import pad_thin_convs  # noqa: E402
from srstream.export.to_onnx import export_onnx  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "engine" / "models"


@pytest.mark.parametrize("block", ["conv", "ecb"])
def test_fake_int8_leaves_the_state_dict_alone_and_detaches_to_the_float_net(block: str) -> None:
    torch.manual_seed(0)
    net = build_generator(generator_spec("t", "compact_y", 2, params={"features": 8, "convs": 3, "act": "relu",
                                                                         "block": block}))
    x = torch.rand(2, 3, 24, 24)
    keys, before = list(net.state_dict()), net(x).detach()
    detach, ranges = attach_fake_int8(net)
    assert len(ranges) == 4  # the inputs of the 3 body convs and of the float last conv
    out = net(x)
    rounded = out.detach()
    assert list(net.state_dict()) == keys
    assert 0 < (rounded - before).abs().max() < 0.2
    out.sum().backward()  # straight-through: the float weights get gradients
    assert all(p.grad is not None for p in net.parameters())
    detach()
    assert torch.equal(net(x).detach(), before)


def test_weights_round_to_127_levels_per_output_channel() -> None:
    w = torch.randn(4, 3, 3, 3) * torch.tensor([1.0, 0.1, 10.0, 0.01]).reshape(4, 1, 1, 1)
    q = fake_int8_weight(w)
    steps = (q / (w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)).detach()
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.abs().max() <= 127 + 1e-4
    assert torch.equal(q.abs().amax(dim=(1, 2, 3)), w.abs().amax(dim=(1, 2, 3)))  # the extremes are exact


def _ort_ranges(q) -> list[tuple[float, float]]:  # noqa: ANN001 - onnx.ModelProto
    """(lo, hi) of each activation QuantizeLinear of a QDQ graph, in graph order."""
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    out = []
    for node in q.graph.node:
        if node.op_type == "QuantizeLinear":
            scale, zero = float(inits[node.input[1]]), float(inits[node.input[2]])
            out.append(((-128.0 - zero) * scale, (127.0 - zero) * scale))
    return out


@pytest.mark.parametrize("keep_float", [("first", "last"), ("first",)])  # tiny-x2's and realtime-x2's layouts
def test_with_the_exporters_ranges_fake_int8_computes_the_int8_graph(keep_float: tuple[str, ...]) -> None:
    """The bundled tiny-x2 luma net, quantised by the exporter (first and last conv float) and
    run by ONNX Runtime, against the same net with fake INT8 at the graph's activation ranges:
    they agree far more closely than either agrees with the float net (what remains is the int32
    bias rounding, which flips a rare rounding tie and spreads through the later layers)."""
    from srstream.export.sources import load_generator

    gen = load_generator(MODELS / "tiny-x2.safetensors")
    net = gen.module.luma.eval()
    lspec = luma_spec(gen.spec)  # the luma-only graph's spec, as the exporter makes it
    rng = np.random.default_rng(0)
    base = rng.random((1, 1, 8, 8)).astype(np.float32)  # smooth content with some texture, like a frame
    inputs = [np.clip(np.kron(base + i * 0.03, np.ones((1, 1, 12, 12), np.float32))
                      + rng.normal(0, 0.04, (1, 1, 96, 96)).astype(np.float32), 0, 1) for i in range(6)]
    fp32 = export_onnx(net, lspec).model
    wide = copy.deepcopy(fp32)
    pad_thin_convs(wide)
    q = quantize_int8(wide, lspec, inputs, method="minmax", keep_float=keep_float)
    session = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.concatenate(inputs)
    int8 = np.concatenate([session.run(None, {lspec.input_name: i})[0] for i in inputs])
    with torch.no_grad():
        float_out = net(torch.from_numpy(x)).numpy()
        detach, ranges = attach_fake_int8(net, keep_float)
        graph_ranges = _ort_ranges(q)
        assert len(graph_ranges) == len(ranges)
        for rounding, (lo, hi) in zip(ranges, graph_ranges):
            rounding.lo, rounding.hi = torch.tensor(lo), torch.tensor(hi)
        fake = net(torch.from_numpy(x)).numpy()
        detach()
    float_error = np.abs(int8 - float_out).mean()
    assert float_error > 2e-4  # 8-bit rounding is visible at all
    assert np.abs(int8 - fake).mean() < 0.4 * float_error
    # and its size: the rounding noise of the fake forward is that of the real graph
    assert 0.8 < np.sqrt(((fake - float_out) ** 2).mean()) / np.sqrt(((int8 - float_out) ** 2).mean()) < 1.25


def test_each_rounding_names_its_site_in_the_order_the_graph_rounds() -> None:
    """Inputs of the quantised convs and of a float conv after one, then a quantised last conv's
    output: where the exporter places a trained range."""
    assert rounding_sites(4) == [("input", 1), ("input", 2), ("input", 3)]
    assert rounding_sites(4, ("first",)) == [("input", 1), ("input", 2), ("input", 3), ("output", 3)]
    assert rounding_sites(4, ()) == [("input", 0), ("input", 1), ("input", 2), ("input", 3), ("output", 3)]
    assert rounding_sites(4, ("last",)) == [("input", 0), ("input", 1), ("input", 2), ("input", 3)]
    with pytest.raises(ValueError, match="keep_float"):
        rounding_sites(4, ("middle",))
    net = build_generator(generator_spec("t", "compact", 2, in_channels=1, params={"features": 8, "convs": 2}))
    for keep in [("first", "last"), ("first",)]:
        detach, ranges = attach_fake_int8(net, keep)
        assert [r.site for r in ranges] == rounding_sites(4, keep)
        detach()


def test_ranges_follow_the_batches_in_training_only() -> None:
    torch.manual_seed(0)
    net = build_generator(generator_spec("t", "compact", 2, in_channels=1,
                                         params={"features": 8, "convs": 2, "act": "relu"}))
    _, ranges = attach_fake_int8(net, momentum=0.5)
    net.eval()
    net(torch.rand(1, 1, 16, 16))
    assert ranges[0].hi is None  # evaluation does not move the ranges
    net.train()
    net(torch.rand(1, 1, 16, 16))
    first = float(ranges[0].hi)
    net(2 * torch.rand(1, 1, 16, 16))
    assert float(ranges[0].hi) > first and float(ranges[0].lo) == 0.0  # after a ReLU


def test_only_compact_nets_take_fake_int8() -> None:
    net = build_generator(generator_spec("t", "srresnet", 2, params={"features": 8, "blocks": 1}))
    with pytest.raises(TypeError, match="compact"):
        attach_fake_int8(net)
