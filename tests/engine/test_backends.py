"""Backend choice and the backends' failure messages; TensorRT runs where it exists."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from srstream import cli
from srstream.engine.autotune import choose
from srstream.engine.backends import Choice, open_backend
from srstream.engine.backends.ort_backend import OrtBackend, OrtOptions
from srstream.engine.models import ResolvedModel, read_onnx_spec, resolve_model
from srstream.sysinfo import gpus
from tests.conftest import SAMPLE_CLIP as SAMPLE
from tests.onnx_models import conv_net_spec, write_conv_net


def test_auto_without_an_int8_graph_runs_a_float_precision(tmp_path: Path) -> None:
    if gpus():
        pytest.skip("a GPU machine picks a GPU backend")
    path = write_conv_net(tmp_path / "net.onnx", 2)
    assert choose(ResolvedModel("net", path, read_onnx_spec(path))).precision in ("fp32", "bf16")


def test_ort_pool_threads_do_not_spin_between_frames(tmp_path: Path) -> None:
    """Between frames the decoder and encoder need the cores (see ort_backend: +1 fps end to end)."""
    path = write_conv_net(tmp_path / "net.onnx", 2)
    model = ResolvedModel("net", path, read_onnx_spec(path))
    with open_backend(model, Choice("ort", "fp32", "test")) as backend:
        options = backend.session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_missing_variant_is_a_model_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_conv_net(tmp_path / "net.onnx", 2)
    code = cli.main([str(SAMPLE), "--model", str(path), "--precision", "int8", "-o", str(tmp_path / "o.mp4")])
    assert code == 5 and "no int8 variant" in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()


def test_trt_without_tensorrt_names_the_install(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    code = cli.main([str(SAMPLE), "--backend", "trt", "-o", str(tmp_path / "o.mp4")])
    assert code == 7 and "pip install 'sr-stream[gpu]'" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_backend_matches_onnx_runtime_on_the_default_model() -> None:
    """torch runs the RGB graph's module; ONNX Runtime on the CPU runs the luma-only graph, whose
    output is exactly the luma of the RGB graph's (its chroma is bilinear, which is linear)."""
    model = resolve_model("realtime-x2")
    x = np.random.default_rng(0).random((1, 3, 24, 40), dtype=np.float32)
    weights = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)
    with open_backend(model, Choice("ort", "fp32", "")) as ort_b, open_backend(model, Choice("torch", "fp32", "")) as t_b:
        assert ort_b.luma_graph and not t_b.luma_graph
        luma = (t_b.infer(x) * weights).sum(1, keepdims=True)
        assert np.abs(ort_b.infer((x * weights).sum(1, keepdims=True)) - luma).max() < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None or importlib.util.find_spec("pycuda") is None
                    or not gpus(), reason="needs tensorrt, pycuda and an NVIDIA GPU")
def test_trt_backend_matches_onnx_runtime(tmp_path: Path) -> None:
    model = resolve_model("realtime-x2")
    from srstream.engine.backends.ort_backend import OrtBackend
    from srstream.engine.backends.trt_backend import TrtBackend

    from srstream.engine.backends.trt_backend import TrtOptions

    with TrtBackend(model.spec, model.path, "fp16", TrtOptions(cache=tmp_path)) as trt_b, \
            OrtBackend(model.spec, model.path.read_bytes(), "fp32") as ort_b:  # the RGB graph, as TensorRT runs
        t = model.spec.tile
        x = np.random.default_rng(0).random((3, 3, t, t), dtype=np.float32)
        outs = trt_b.infer_batches([x[:2], x[2:]])
        ref = ort_b.infer(x)
        assert np.abs(np.concatenate(outs) - ref).max() < 2 / 255


def test_onnx_runtime_runs_two_lanes_of_half_the_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU with 2 threads or more ONNX Runtime runs a file's frames in two lanes, each a
    session of its own with half the threads, giving the main session's output; 1 thread, or
    ``SRSTREAM_LANES=1``, keeps one."""
    spec = conv_net_spec(2)
    path = write_conv_net(tmp_path / "net.onnx", 2, spec=spec)
    x = np.random.default_rng(3).random((2, 3, 20, 24), np.float32)
    with OrtBackend(read_onnx_spec(path), path, "fp32", OrtOptions(threads=2)) as backend:
        assert backend.lanes() == 2
        lane = backend.lane()
        assert lane.lanes() == 1 and lane.session is not backend.session
        assert lane.session.get_session_options().intra_op_num_threads == 1
        assert np.allclose(lane.infer(x), backend.infer(x), atol=1e-5)
        monkeypatch.setenv("SRSTREAM_LANES", "1")
        assert backend.lanes() == 1
    monkeypatch.delenv("SRSTREAM_LANES")
    with OrtBackend(read_onnx_spec(path), path, "fp32", OrtOptions(threads=1)) as one:
        assert one.lanes() == 1
