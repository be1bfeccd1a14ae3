"""`sr-stream export`: all artifacts checked before anything is written; bad requests lose nothing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper
import pytest
import torch
from safetensors.torch import save_file

from srstream import cli
from srstream.archs import build_generator, generator_spec
from srstream.engine.accuracy import LIMITS
from srstream.errors import ExportError, InputError
from srstream.export import parity
from srstream.export.int8 import calibration_inputs, quantize_int8
from srstream.export.pipeline import ExportOptions, artifact_paths, run_export
from srstream.export.sources import load_generator
from srstream.export.to_onnx import export_onnx
from srstream.spec import METADATA_KEY, ModelSpec


def _checkpoint(folder: Path, arch: str = "compact", params: dict | None = None) -> Path:
    torch.manual_seed(0)
    spec = generator_spec("tiny", arch, 2, params=params or {"features": 8, "convs": 2})
    model = build_generator(spec)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={METADATA_KEY: spec.to_json()})
    return path


def _images(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:200]
    for i in range(count):
        rgb = np.stack([xx + 20 * i, yy * 1.5, (xx + yy) // 2], -1) % 256
        rgb = np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), rgb)
    return folder


@pytest.mark.parametrize("skip", ["nearest", "linear"])
def test_int8_is_qdq_with_first_and_last_conv_float(tmp_path: Path, skip: str) -> None:
    """The first and last of the network's convs stay float; so does a linear skip's filter,
    which is neither (it reads the raw input beside the first conv)."""
    loaded = load_generator(_checkpoint(tmp_path / "ck", params={"features": 8, "convs": 2, "skip": skip}))
    spec, module = loaded.spec, loaded.module
    model = export_onnx(module, spec).model
    inputs = calibration_inputs(_images(tmp_path / "calib"), spec, count=8)
    assert len(inputs) == 8 and len({x.shape for x in inputs}) == 1
    q = quantize_int8(model, spec, inputs, method="minmax")
    ops = [n.op_type for n in q.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    convs = [n for n in q.graph.node if n.op_type == "Conv"]
    fed_by_dq = {n.output[0] for n in q.graph.node if n.op_type == "DequantizeLinear"}
    quantized = [c.name for c in convs if c.input[0] in fed_by_dq]
    body = [c for c in convs if "skip_conv." not in c.input[1]]
    assert len(body) == 4 and len(convs) == 4 + (skip == "linear")
    assert quantized and body[0].name not in quantized and body[-1].name not in quantized
    assert len(quantized) == 2
    report = parity.check_parity(module, spec, q.SerializeToString(), tolerance=0.25)
    assert report.passed  # close to fp32 (an int8 model is not bit-exact by design)


def _activation_types(q: onnx.ModelProto) -> set[int]:
    """Element types of the activations' QuantizeLinear zero points (weights are initialisers)."""
    inits = {i.name: i for i in q.graph.initializer}
    return {inits[n.input[2]].data_type for n in q.graph.node if n.op_type == "QuantizeLinear"}


@pytest.mark.parametrize(("fmt", "dtype", "weight_max"), [("s8s8", onnx.TensorProto.INT8, 127),
                                                          ("u8s8", onnx.TensorProto.UINT8, 127),
                                                          ("u8s7", onnx.TensorProto.UINT8, 64)])
def test_int8_format_sets_the_activation_and_weight_types(tmp_path: Path, fmt: str, dtype: int,
                                                          weight_max: int) -> None:
    """S8S8 by default: U8S8 saturates in ONNX Runtime's vpmaddubsw kernels on CPUs without VNNI;
    U8S7's weights lie within +-64 (7 bits), so that a pair of products, 2 x 255 x 64, fits in int16."""
    loaded = load_generator(_checkpoint(tmp_path / "ck"))
    model = export_onnx(loaded.module, loaded.spec).model
    inputs = calibration_inputs(_images(tmp_path / "calib"), loaded.spec, count=4)
    q = quantize_int8(model, loaded.spec, inputs, keep_float=(), int8_format=fmt)
    assert _activation_types(q) == {dtype}
    weights = [numpy_helper.to_array(i) for i in q.graph.initializer
               if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) == weight_max
    with pytest.raises(Exception, match="INT8 format"):
        quantize_int8(model, loaded.spec, inputs, int8_format="u8u8")


def test_keep_float_auto_takes_the_fastest_rung_within_budget(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "run")
    logs: list[str] = []
    common = dict(int8=True, calib=_images(tmp_path / "calib"), calib_count=4, val=_images(tmp_path / "val", 2))
    loose = run_export(ckpt, ExportOptions(out=tmp_path / "a.onnx", int8_max_cost=99.0, **common), log=logs.append)
    assert loose.int8_keep_float == ()  # every conv quantized: the first rung fits any budget
    assert any("no conv(s) in float" in line for line in logs)
    logs.clear()
    strict = run_export(ckpt, ExportOptions(out=tmp_path / "b.onnx", int8_max_cost=-1.0, **common), log=logs.append)
    assert len([line for line in logs if "in float:" in line]) == 4  # walked the whole ladder
    costs = [float(line.split(": ")[1].split()[0]) for line in logs if "in float:" in line]
    assert strict.int8_quality["psnr_cost_db"] == pytest.approx(min(costs), abs=1e-3)
    assert any("keeping the most accurate" in line for line in logs)
    over = strict.int8_quality["psnr_cost_db"] > LIMITS.cost_db  # random weights: either can happen
    assert any("auto will not take this INT8 graph" in line for line in logs) == over


def test_an_int8_graph_over_autos_limit_is_said_at_export_and_refused_by_auto(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export keeps its most accurate INT8 graph even over budget; the cost it records in the
    spec is what makes ``--precision auto`` refuse that graph on every machine."""
    from srstream.engine import autotune
    from srstream.engine.models import resolve_model
    from srstream.export import pipeline

    lossy = {"psnr_y_fp32": 30.0, "psnr_y_int8": 29.8, "ssim_y_fp32": 0.9, "ssim_y_int8": 0.9,
             "psnr_cost_db": 0.2, "bicubic_psnr_y": 28.0}
    monkeypatch.setattr(pipeline, "_int8_quality", lambda *a, **k: dict(lossy))
    logs: list[str] = []
    out = tmp_path / "m.onnx"
    run_export(_checkpoint(tmp_path / "run"), ExportOptions(out=out, int8=True, calib=_images(tmp_path / "calib"),
               calib_count=4, val=_images(tmp_path / "val", 2)), log=logs.append)
    assert any("0.200 dB on val is over the 0.05 dB --precision auto accepts" in line for line in logs), logs
    verdict = autotune._export_int8_verdict(resolve_model(str(out)))
    assert "the int8 graph cost 0.200 dB against fp32 on val x2 when exported" in verdict


def _qdq_ranges(q: onnx.ModelProto) -> dict[str, tuple[float, float]]:
    """(lo, hi) of the 256 levels of each activation QuantizeLinear of a QDQ graph, by tensor."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in q.graph.initializer}
    out = {}
    for node in q.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale, zero = float(inits[node.input[1]]), float(inits[node.input[2]])
            out[node.input[0]] = ((-128.0 - zero) * scale, (127.0 - zero) * scale)
    return out


@pytest.mark.parametrize("with_sites", [True, False])  # False: a checkpoint from before the sites were saved
def test_a_quantisation_aware_checkpoint_exports_at_its_trained_ranges(tmp_path: Path, with_sites: bool) -> None:
    """The INT8 graph of a quant: int8 phase's checkpoint rounds at the activation ranges it was
    trained with (so it computes what training measured), calibration sets only the other
    tensors, and --int8-ranges calibrated ignores them."""
    from srstream.archs.quant import attach_fake_int8
    from srstream.errors import ConfigError
    from srstream.trainer.checkpoint import save_checkpoint

    torch.manual_seed(0)
    # 16 features, as the shipped nets: a thinner conv is widened to 16 for the int8 kernels, and
    # ONNX Runtime then rounds its widened output before the ReLU, which no training rounding models
    spec = generator_spec("q", "compact_y", 2, params={"features": 16, "convs": 2, "act": "relu", "block": "ecb"})
    net = build_generator(spec)
    _, ranges = attach_fake_int8(net)
    net(torch.rand(2, 3, 24, 24))  # training mode: the ranges follow the batch
    for r in ranges:  # far from anything calibration would pick
        r.hi = r.hi * 0.5 + 0.3
    state = {"quant_ranges": [torch.stack((r.lo, r.hi)) for r in ranges]}
    if with_sites:
        state["quant_sites"] = [list(r.site) for r in ranges]
    ckpt = save_checkpoint(tmp_path / "run", 10, spec, net.state_dict(), state)
    loaded = load_generator(tmp_path / "run")
    assert loaded.path == ckpt / "model.safetensors"
    assert loaded.trained_ranges == {r.site: (float(r.lo), float(r.hi)) for r in ranges}
    assert list(loaded.trained_ranges) == [("input", 1), ("input", 2), ("input", 3)]
    if not with_sites:
        return  # placed alike: the export below is the same

    calib = _images(tmp_path / "calib")
    logs: list[str] = []
    trained = run_export(tmp_path / "run", ExportOptions(out=tmp_path / "t.onnx", int8=True, calib=calib, calib_count=4,
                                                         int8_keep_float=("first", "last")), log=logs.append)
    assert trained.int8_trained_ranges == 3 and any("3 activation ranges" in line for line in logs)
    fresh = run_export(tmp_path / "run", ExportOptions(out=tmp_path / "c.onnx", int8=True, calib=calib, calib_count=4,
                                                       int8_keep_float=("first", "last"), int8_ranges="calibrated"),
                       log=lambda *_: None)
    assert fresh.int8_trained_ranges == 0
    for graph in ("t.int8.onnx", "t.luma.int8.onnx"):  # the RGB graph and the luma one alike
        q = onnx.load(tmp_path / graph)
        convs = [n for n in q.graph.node if n.op_type == "Conv"]
        got = _qdq_ranges(q)
        for (kind, k), (lo, hi) in loaded.trained_ranges.items():
            # the conv's input arrives dequantised: walk back to the QuantizeLinear that rounded it
            tensor, producers = convs[k].input[0], {n.output[0]: n for n in q.graph.node}
            while producers[tensor].op_type != "QuantizeLinear":
                tensor = producers[tensor].input[0]
            assert got[producers[tensor].input[0]] == pytest.approx((lo, hi), rel=1e-5, abs=1e-6)
    calibrated = _qdq_ranges(onnx.load(tmp_path / "c.int8.onnx"))
    assert set(calibrated) == set(_qdq_ranges(onnx.load(tmp_path / "t.int8.onnx")))
    assert calibrated != _qdq_ranges(onnx.load(tmp_path / "t.int8.onnx"))
    with pytest.raises(ConfigError, match="no trained activation ranges"):
        run_export(_checkpoint(tmp_path / "plain"), ExportOptions(out=tmp_path / "p.onnx", int8=True, calib=calib,
                                                                   int8_ranges="trained"), log=lambda *_: None)


def test_reparameterised_checkpoint_exports_as_a_plain_net(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "ecb", arch="compact_y", params={"features": 8, "convs": 2, "block": "ecb"})
    result = run_export(ckpt, ExportOptions(out=tmp_path / "e.onnx", safetensors=True), log=lambda *_: None)
    assert "block" not in result.spec.arch_params
    assert all(r.passed for r in result.parity)  # the collapsed graph equals the trained net
    assert sum(n.op_type == "Conv" for n in onnx.load(tmp_path / "e.onnx").graph.node) == 4
    assert [a.kind for a in result.artifacts] == ["fp32", "luma-fp32", "weights"]
    # the torch backend runs the collapsed weights written beside the graph, as ONNX Runtime runs the graph
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec

    spec = read_onnx_spec(tmp_path / "e.onnx")
    x = np.random.default_rng(0).random((1, 3, 12, 10), dtype=np.float32)
    with backend_def("torch").open(spec, tmp_path / "e.onnx", "fp32") as t, \
            backend_def("ort").open(spec, (tmp_path / "e.onnx").read_bytes(), "fp32") as o:  # the RGB graph itself
        assert np.abs(t.infer(x) - o.infer(x)).max() < 1e-4


def test_calibration_needs_images(tmp_path: Path) -> None:
    spec = generator_spec("t", "compact", 2, params={"features": 8, "convs": 2})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        calibration_inputs(tmp_path / "empty", spec)


def test_export_writes_every_precision_with_the_spec(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "run")
    out = tmp_path / "out" / "tiny.onnx"
    opts = ExportOptions(out=out, fp16=True, int8=True, calib=_images(tmp_path / "calib"), calib_count=6,
                         val=_images(tmp_path / "val", 2))
    result = run_export(ckpt.parent, opts, log=lambda *_: None)
    paths = artifact_paths(out)
    assert [a.kind for a in result.artifacts] == ["fp32", "fp16", "int8"]
    assert all(paths[k].is_file() for k in ("fp32", "fp16", "int8"))
    assert not list(out.parent.glob(".*partial"))
    for kind in ("fp32", "fp16", "int8"):
        meta = {p.key: p.value for p in onnx.load(paths[kind]).metadata_props}
        assert ModelSpec.from_metadata(meta).precisions == ("fp32", "fp16", "int8")
    assert set(result.int8_quality) >= {"psnr_y_fp32", "psnr_y_int8", "psnr_cost_db"}
    with pytest.raises(Exception, match="--overwrite"):
        run_export(ckpt.parent, opts, log=lambda *_: None)


def test_failed_parity_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = _checkpoint(tmp_path / "run")
    monkeypatch.setitem(parity.TOLERANCES, "fp32", 0.0)
    monkeypatch.setattr(parity, "RANDOM_SHAPES", ((9, 7, 1),))
    with pytest.raises(ExportError, match="nothing was written"):
        run_export(ckpt, ExportOptions(out=tmp_path / "o.onnx"), log=lambda *_: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path / "run")
    out = tmp_path / "m.onnx"
    code, stdout, _ = _cli(["export", str(ckpt), "-o", str(out)], capsys)
    assert code == 0 and out.is_file() and "fp32 parity vs PyTorch" in stdout and "wrote fp32" in stdout
    before = out.read_bytes()
    code, _, err = _cli(["export", str(ckpt), "-o", str(out)], capsys)
    assert code == 4 and "--overwrite" in err and out.read_bytes() == before
    code, _, err = _cli(["export", str(ckpt), "-o", str(tmp_path / "q.onnx"), "--int8"], capsys)
    assert code == 2 and "--calib" in err and not (tmp_path / "q.onnx").exists()
    code, _, err = _cli(["export", str(ckpt), "-o", str(tmp_path / "q.onnx"), "--int8", "--calib",
                         str(_images(tmp_path / "calib")), "--int8-ranges", "trained"], capsys)
    assert code == 2 and "no trained activation ranges" in err and not (tmp_path / "q.onnx").exists()
    code, _, err = _cli(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x.onnx")], capsys)
    assert code == 3 and "does not exist" in err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 64)
    code, _, err = _cli(["export", str(junk), "-o", str(tmp_path / "j.onnx")], capsys)
    assert code == 5 and not (tmp_path / "j.onnx").exists()
    before = ckpt.read_bytes()
    code, _, err = _cli(["export", str(ckpt), "-o", str(ckpt)], capsys)
    assert code == 2 and ".onnx" in err and ckpt.read_bytes() == before


def test_cli_trt_without_tensorrt_says_what_to_install(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    ckpt = _checkpoint(tmp_path / "run")
    code, _, err = _cli(["export", str(ckpt), "-o", str(tmp_path / "t.onnx"), "--trt"], capsys)
    assert code == 7 and "pip install 'sr-stream[gpu]'" in err and not list(tmp_path.glob("t*.onnx"))


def test_compact_y_exports_a_luma_graph_that_cpu_backends_run_instead(tmp_path: Path) -> None:
    """A compact_y model also gets its net alone (Y in, Y out) in fp32 and INT8; ONNX Runtime on
    the CPU runs it in place of the RGB graph, and the frames come out as the RGB graph makes them
    (the same luma; chroma bilinear either way), on the RGB and on the 4:2:0 path."""
    from srstream.engine.backends.ort_backend import OrtBackend
    from srstream.engine.models import luma_variant_path, read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    ckpt = _checkpoint(tmp_path / "run", arch="compact_y", params={"features": 8, "convs": 2})
    out = tmp_path / "out" / "y.onnx"
    result = run_export(ckpt, ExportOptions(out=out, int8=True, calib=_images(tmp_path / "calib"), calib_count=6,
                                            val=_images(tmp_path / "val", 2)), log=lambda *_: None)
    assert [a.kind for a in result.artifacts] == ["fp32", "int8", "luma-fp32", "luma-int8"]
    assert set(result.luma_int8_quality) >= {"psnr_y_fp32", "psnr_y_int8"}
    spec = read_onnx_spec(out)
    for precision in ("fp32", "int8"):
        luma = read_onnx_spec(luma_variant_path(out, precision))
        assert (luma.arch, luma.color_space, luma.in_channels, luma.name) == ("compact", "y", 1, spec.name)
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (0, 0), 1.5)
    planes = [cv2.GaussianBlur(rng.integers(16, 236, shape, dtype=np.uint8), (0, 0), 1.0) for shape in
              ((30, 40), (15, 20), (15, 20))]
    with OrtBackend(spec, out) as cpu, OrtBackend(spec, out.read_bytes()) as whole:
        assert cpu.luma_graph and not whole.luma_graph
        fast, ref = FrameUpscaler(cpu, spec, 0), FrameUpscaler(whole, spec, 0)
        a, b = fast.upscale(frame).astype(int), ref.upscale(frame).astype(int)
        luma = np.array([0.299, 0.587, 0.114])
        assert np.abs(a @ luma - b @ luma).max() < 1.0  # the same luma, rounded apart
        assert np.abs(a - b).max() <= 2 and np.abs(a - b).mean() < 0.6
        y_fast, y_ref = fast.upscale_yuv420(*planes), ref.upscale_yuv420(*planes)
        assert np.abs(y_fast[:60].astype(int) - y_ref[:60]).max() <= 1  # Y'
        assert np.abs(y_fast[60:].astype(int) - y_ref[60:]).mean() < 1.5  # Cb/Cr, resized another way
    (out.parent / "y.luma.onnx").unlink()
    with OrtBackend(spec, out) as rgb_only:
        assert not rgb_only.luma_graph  # without the file, the RGB graph as before


def test_a_strength_conditioned_model_runs_at_any_strength_on_every_graph(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A ``strength: true`` compact_y net exports as its strength-0 graphs with the offsets in their
    metadata; :func:`srstream.engine.strength.at_strength` writes every graph and the weights at a
    strength into the cache, and each computes what the torch net computes at that strength (INT8
    within its quantisation error), the luma-only graphs and the torch backend included."""
    from srstream.engine.backends import backend_def
    from srstream.engine.models import luma_variant_path, resolve_model
    from srstream.engine.strength import METADATA_KEY as STRENGTH_KEY, at_strength
    from srstream.engine.upscaler import FrameUpscaler

    torch.manual_seed(0)
    spec = generator_spec("strong", "compact_y", 2, params={"features": 8, "convs": 2, "strength": True})
    net = build_generator(spec).eval()
    with torch.no_grad():
        for k, p in net.named_parameters():
            if "strength_offsets" in k:
                p.normal_(0.0, 0.05)
    (tmp_path / "run").mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "run" / "model.safetensors"),
              metadata={METADATA_KEY: spec.to_json()})
    out = tmp_path / "out" / "strong.onnx"
    run_export(tmp_path / "run" / "model.safetensors", ExportOptions(
        out=out, int8=True, calib=_images(tmp_path / "calib"), calib_count=6, safetensors=True), log=lambda *_: None)
    for name in ("strong.onnx", "strong.int8.onnx", "strong.luma.onnx", "strong.luma.int8.onnx"):
        assert STRENGTH_KEY in {p.key for p in onnx.load(out.parent / name).metadata_props}
    model = resolve_model(str(out))
    rng = np.random.default_rng(5)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), (0, 0), 1.2)
    x = torch.from_numpy(frame.astype(np.float32).transpose(2, 0, 1)[None] / 255)
    outputs = []
    for s in (0.0, 0.6, 1.0):
        fixed = at_strength(model, s, cache=tmp_path / "cache")
        assert fixed.path.parent.parent == tmp_path / "cache" and luma_variant_path(fixed.path, "int8") is not None
        with torch.no_grad():
            want = np.clip(net(x, torch.full((1,), s))[0].numpy().transpose(1, 2, 0) * 255, 0, 255)
        for backend, precision, tolerance in (("ort", "fp32", 1.0), ("ort", "int8", 6.0), ("torch", "fp32", 1.0)):
            with backend_def(backend).open(fixed.spec, fixed.path, precision) as b:
                got = FrameUpscaler(b, fixed.spec, 0).upscale(frame).astype(float)
            assert np.abs(got - want).max() <= tolerance, (s, backend, precision)
        outputs.append(want)
        assert at_strength(model, s + 0.01, cache=tmp_path / "cache").path == fixed.path  # one entry per step
        assert "strength" not in fixed.spec.arch_params == resolve_model(str(fixed.path)).spec.arch_params  # plain
    assert np.abs(outputs[2] - outputs[0]).max() > 5  # the strength changes the picture
    from srstream.errors import ModelError

    with pytest.raises(ModelError, match="takes no strength"):
        at_strength(resolve_model("realtime-x2"), 0.5, cache=tmp_path / "cache")
    with pytest.raises(ModelError, match="takes no strength"):  # a fixed model cannot be fixed twice
        at_strength(resolve_model(str(fixed.path)), 0.5, cache=tmp_path / "cache")
    _cli_runs_a_video_at_its_own_compression(out, tmp_path, capsys)


def _cli_runs_a_video_at_its_own_compression(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sr-stream VIDEO --model M`` with a strength-conditioned M runs at the strength the video's
    own quantiser gives (``--compression auto``), which is what ``--compression S`` gives."""
    import re

    import av

    from srstream.engine.compression import measure
    from srstream.engine.strength import quantise
    from srstream.strength import from_qp
    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=4)
    qp = measure(clip).h264_qp
    expected = quantise(from_qp(qp))
    assert qp is not None and expected > 0

    def frames(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    runs = {}
    for level in ("auto", f"{expected:.4f}", "0"):
        out = tmp_path / f"clip_{level}.mkv"
        code = cli.main([str(clip), "-o", str(out), "--model", str(model), "--backend", "ort", "--precision", "fp32",
                         "--compression", level, "--crf", "0", "--preset", "ultrafast"])
        err = capsys.readouterr().err
        assert code == 0, err
        runs[level] = frames(out)
        if level == "auto":
            assert re.search(rf"compression strength {expected:.2f}: h264 at mean quantiser {qp:.1f}", err), err
    assert all(np.array_equal(a, b) for a, b in zip(runs["auto"], runs[f"{expected:.4f}"], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(runs["auto"], runs["0"], strict=True))
    assert cli.main([str(clip), "--model", str(model), "--compression", "1.5"]) == 2
    assert "runs from 0 (clean) to 1" in capsys.readouterr().err


def test_a_net_on_pixel_phases_is_refused_before_any_work(tmp_path: Path) -> None:
    """``unshuffle`` nets are not translation-equivariant by one pixel, so the engine's tiles (at any
    origin) would not join seamlessly: export says so and writes nothing."""
    from srstream.errors import ConfigError

    ckpt = _checkpoint(tmp_path / "run", arch="compact_y", params={"features": 8, "convs": 1, "unshuffle": 2})
    with pytest.raises(ConfigError, match="unshuffle 2"):
        run_export(ckpt, ExportOptions(out=tmp_path / "u.onnx"), log=lambda *_: None)
    assert not list(tmp_path.glob("u*"))


@pytest.mark.parametrize(("option", "said"), [(["--calib-count", "0"], "a whole number of 1 or more"),
                                             (["--int8-max-cost", "nan"], "a number of 0 or more"),
                                             (["--int8-max-cost", "-1"], "a number of 0 or more"),
                                             (["--trt-batch", "0"], "a whole number of 1 or more"),
                                             (["--trt-tile", "-5"], "a whole number of 0 or more")])
def test_export_counts_and_budgets_out_of_range_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 option: list[str], said: str) -> None:
    """They were taken: ``--calib-count 0`` ended in "no calibration image is at least 128x128 pixels",
    ``--int8-max-cost nan`` or ``-1`` wrote an INT8 graph to a budget nothing can meet."""
    assert cli.main(["export", str(tmp_path / "none.safetensors"), "-o", str(tmp_path / "m.onnx"), *option]) == 2
    assert said in capsys.readouterr().err and not list(tmp_path.iterdir())
