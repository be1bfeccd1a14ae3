"""OpenCV dnn_superres's TensorFlow graphs (``.pb``) converted to ONNX and run by the engine."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from srstream.errors import ModelError
from srstream.protowire import field
from tests.conftest import shared_data

pytest.importorskip("onnx")


def _varint(number: int, value: int) -> bytes:
    out, key = bytearray(), number << 3
    for v in (key, value):
        while v >= 0x80:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def _attr(key: str, value: bytes) -> bytes:
    return field(5, field(1, key.encode()) + field(2, value))


def _node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: bytes) -> bytes:
    body = field(1, name.encode()) + field(2, op.encode()) + b"".join(field(3, i.encode()) for i in inputs)
    return field(1, body + b"".join(_attr(k, v) for k, v in attrs.items()))


def _const(name: str, value: np.ndarray) -> bytes:
    shape = field(2, b"".join(field(2, _varint(1, d)) for d in value.shape))
    if value.dtype == np.int32:
        tensor = _varint(1, 3) + shape + field(4, value.astype("<i4").tobytes())
    elif value.size == 1:  # written as TensorFlow writes a scalar: one float_val
        tensor = _varint(1, 1) + shape + field(5, struct.pack("<f", float(value.reshape(-1)[0])))
    else:
        tensor = _varint(1, 1) + shape + field(4, value.astype("<f4").tobytes())
    return _node(name, "Const", value=field(8, tensor), dtype=_varint(6, 1))


def _graph(weight: np.ndarray, bias: np.ndarray, gain: float, block: int, extra_op: str = "") -> bytes:
    """Placeholder -> Conv2D 3x3 SAME -> BiasAdd -> Relu -> Mul by a scalar -> Abs(x) - x (PReLU's way,
    as FSRCNN writes it) -> DepthToSpace -> Transpose to NCHW, as dnn_superres's graphs are built."""
    ones = field(1, field(3, bytes([1, 1, 1, 1])))
    nhwc = field(2, b"NHWC")
    return b"".join([
        _const("w", weight), _const("b", bias), _const("g", np.float32([gain])),
        _const("perm", np.int32([0, 3, 1, 2])),
        _node("x", "Placeholder", dtype=_varint(6, 1)),
        _node("conv", "Conv2D", ("x", "w"), strides=ones, dilations=ones, padding=field(2, b"SAME"), data_format=nhwc),
        _node("biased", "BiasAdd", ("conv", "b"), data_format=nhwc),
        _node("act", extra_op or "Relu", ("biased",)),
        _node("scaled", "Mul", ("g", "act")),
        _node("absolute", "Abs", ("scaled",)),
        _node("prelu", "Sub", ("absolute", "scaled")),
        _node("d2s", "DepthToSpace", ("prelu",), block_size=_varint(3, block), data_format=nhwc),
        _node("out", "Transpose", ("d2s", "perm"), Tperm=_varint(6, 3)),
    ])


def _reference(luma: np.ndarray, weight: np.ndarray, bias: np.ndarray, gain: float, block: int) -> np.ndarray:
    """The graph computed in numpy (NHWC), for ``luma`` ``(H, W)``: ``(1, 1, H * block, W * block)``."""
    h, w = luma.shape
    padded = np.pad(luma, 1)
    conv = sum(padded[i:i + h, j:j + w, None] * weight[i, j, 0] for i in range(3) for j in range(3)) + bias
    scaled = gain * np.maximum(conv, 0)
    prelu = np.abs(scaled) - scaled
    c = prelu.shape[-1] // block ** 2
    up = prelu.reshape(h, w, block, block, c).transpose(0, 2, 1, 3, 4).reshape(h * block, w * block, c)
    return up.transpose(2, 0, 1)[None]


@pytest.fixture(scope="module")
def tiny_graph() -> tuple[bytes, tuple]:
    """A net a little off nearest-neighbour x2 (the engine measures a graph's value range by its output
    shrunk back being its input): each of 4 channels the centre pixel plus a little of its neighbours,
    and |-x/2| - (-x/2) = x."""
    rng = np.random.default_rng(3)
    weight = (0.02 * rng.normal(size=(3, 3, 1, 4))).astype(np.float32)
    weight[1, 1] += 1
    bias = (0.01 * rng.normal(size=4)).astype(np.float32)
    return _graph(weight, bias, -0.5, 2), (weight, bias, -0.5, 2)


def test_a_tensorflow_graph_converts_op_for_op(tiny_graph: tuple[bytes, tuple]) -> None:
    """The converted graph computes what the TensorFlow graph does (computed here in numpy, NHWC, and,
    where this OpenCV has its TensorFlow importer, by OpenCV), at odd sizes too."""
    import onnxruntime as ort

    from srstream.tfgraph import check_against_opencv, to_onnx

    data, params = tiny_graph
    model = to_onnx(data, "tiny")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in ((7, 9), (16, 16)):
        luma = np.random.default_rng(h).random((h, w), dtype=np.float32)
        ours = session.run(None, {"input": luma[None, None]})[0]
        assert ours.shape == (1, 1, 2 * h, 2 * w)
        assert np.abs(ours - _reference(luma, *params)).max() < 1e-5
    worst = check_against_opencv(data, model.SerializeToString())
    assert worst is None or worst < 1e-4  # (OpenCV's own float arithmetic)


def test_what_the_converter_cannot_read_is_named(tiny_graph: tuple[bytes, tuple]) -> None:
    from srstream.tfgraph import to_onnx

    data, (weight, bias, gain, block) = tiny_graph
    with pytest.raises(ModelError, match=r"uses TensorFlow ops sr-stream does not convert \(Elu\)"):
        to_onnx(_graph(weight, bias, gain, block, extra_op="Elu"), "elu")
    with pytest.raises(ModelError, match="is not a TensorFlow graph"):
        to_onnx(b"# a README renamed .pb\n" * 4, "text")
    strided = data.replace(field(1, field(3, bytes([1, 1, 1, 1]))), field(1, field(3, bytes([1, 2, 2, 1]))), 1)
    with pytest.raises(ModelError, match=r"Conv2D conv has strides \[1, 2, 2, 1\]; sr-stream converts 1 only"):
        to_onnx(strided, "strided")


def test_an_opencv_model_runs_with_model_and_exports(tmp_path: Path, tiny_graph: tuple[bytes, tuple],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--model FSRCNN_x2.pb`` was refused, and the way it suggested (``sr-stream export``) failed too, as
    it reads PyTorch files ("Unsupported operand 10"). The graph is now converted once into the cache
    (its spec measured: x2, on the luma) and run; ``export`` writes the converted graph, with its spec."""
    from srstream import cli
    from srstream.cache import cache_root
    from srstream.engine.models import read_onnx_spec

    data, _ = tiny_graph
    model = tmp_path / "Tiny_x2.pb"
    model.write_bytes(data)
    assert cv2.imwrite(str(tmp_path / "in.png"), np.random.default_rng(1).integers(0, 256, (21, 30, 3), np.uint8))
    cached = sorted((cache_root() / "peers").glob("Tiny_x2-*.onnx"))
    for run in range(2):
        out = tmp_path / f"out{run}.png"
        code = cli.main([str(tmp_path / "in.png"), "-o", str(out), "--model", str(model), "--backend", "ort",
                         "--precision", "fp32"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert ("imported Tiny_x2.pb: x2 on the luma" in err) == (run == 0), err
        assert "OpenCV dnn_superres TensorFlow graph converted by sr-stream" in err
        assert cv2.imread(str(out)).shape == (42, 60, 3)
    assert len(sorted((cache_root() / "peers").glob("Tiny_x2-*.onnx"))) == len(cached) + 1
    assert cli.main(["export", str(model), "-o", str(tmp_path / "tiny.onnx")]) == 0
    spec = read_onnx_spec(tmp_path / "tiny.onnx")
    assert (spec.name, spec.scale, spec.color_space, spec.margin >= 1) == ("Tiny_x2", 2, "y", True)
    assert cli.main(["export", str(model), "-o", str(tmp_path / "q.onnx"), "--int8"]) != 0
    assert "converts it to its fp32 ONNX graph only, without --int8" in capsys.readouterr().err


def test_dnn_superres_models_convert_to_what_opencv_runs(tmp_path: Path) -> None:
    """Each of OpenCV's 12 published models (ESPCN, FSRCNN, FSRCNN-small x2/x3/x4, LapSRN x2/x4/x8) gives
    what OpenCV's run of it gives; LapSRN x4 and x8 end each x2 stage in an output of their own, and the
    last stage's is the one taken. Through the engine, FSRCNN x2 on a picture is OpenCV's luma."""
    import onnxruntime as ort

    from srstream import Upscaler
    from srstream.bench.opencv_sr import OpenCvSuperRes
    from srstream.tfgraph import check_against_opencv, to_onnx

    data = shared_data()
    files = sorted((data / "peers").glob("opencv_*/*.pb")) if data else []
    if len(files) < 12:
        pytest.skip("needs OpenCV's dnn_superres models in the shared data (peers/opencv_*)")
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        pytest.skip("this OpenCV has no TensorFlow importer to compare with")
    for path in files:
        model = to_onnx(path.read_bytes(), path.stem, str(path))
        assert check_against_opencv(path.read_bytes(), model.SerializeToString(), str(path)) < 1e-4, path.name
        scale = int(path.stem[-1])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        assert session.run(None, {"input": np.zeros((1, 1, 6, 5), np.float32)})[0].shape == (1, 1, 6 * scale, 5 * scale)
    fsrcnn = data / "peers" / "opencv_FSRCNN" / "FSRCNN_x2.pb"
    picture = sorted((data / "val" / "Set5").iterdir())[0]
    rgb = cv2.cvtColor(cv2.imread(str(picture)), cv2.COLOR_BGR2RGB)[:96, :128]
    with Upscaler(str(fsrcnn), backend="ort", precision="fp32") as up:
        ours = up.upscale(rgb)
    theirs = OpenCvSuperRes(fsrcnn, "fsrcnn", 2)(rgb)
    y = [cv2.cvtColor(np.ascontiguousarray(p[..., ::-1]), cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float64)
         for p in (ours, theirs)]
    assert ours.shape == theirs.shape == (192, 256, 3)
    assert 10 * np.log10(255 ** 2 / np.mean((y[0] - y[1]) ** 2)) > 45


def test_the_bench_reads_an_opencv_models_factor_from_its_graph(tmp_path: Path,
                                                              tiny_graph: tuple[bytes, tuple]) -> None:
    """``sr-stream bench quality -m my_fsrcnn.pb`` (a name that is no known peer) needed --scale."""
    from srstream.bench.methods import open_method

    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        pytest.skip("this OpenCV has no TensorFlow importer to run the graph with")
    path = tmp_path / "my_model.pb"
    path.write_bytes(tiny_graph[0])
    with open_method(str(path)) as method:
        assert method.info.scale == 2 and method.info.backend == "opencv"
        assert method(np.full((5, 7, 3), 90, np.uint8)).shape == (10, 14, 3)
