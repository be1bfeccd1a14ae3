"""The OpenVINO backend passes the tests ONNX Runtime passes: parity, tiled == whole frame, INT8,
device paths; and the command line runs on it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

if importlib.util.find_spec("openvino") is None:  # not importorskip: a plain import sends telemetry
    pytest.skip("needs openvino (pip install 'sr-stream[openvino]')", allow_module_level=True)

from srstream import cli  # noqa: E402
from srstream.engine.accuracy import compare  # noqa: E402
from srstream.engine.backends import Choice, backend_def, open_backend  # noqa: E402
from srstream.engine.backends.ov_backend import OvBackend, OvOptions, cpu_has_bf16  # noqa: E402
from srstream.engine.models import resolve_model  # noqa: E402
from srstream.engine.upscaler import FrameUpscaler  # noqa: E402
from srstream.errors import BackendError, ModelError  # noqa: E402
from srstream.sysinfo import collect  # noqa: E402
from tests.onnx_models import write_conv_net  # noqa: E402


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    return resolve_model("realtime-x2")


def test_openvino_is_imported_without_its_telemetry(tmp_path: Path) -> None:
    """A plain ``import openvino`` forks a process to send usage events (one that hung at exit
    here); the backend's import leaves it out: no telemetry module, no child process, no files."""
    code = ("import sys, multiprocessing\n"
            "from srstream.engine.backends.ov_backend import import_openvino\n"
            "ov = import_openvino()\n"
            "ov.Core().available_devices\n"
            "print('openvino_telemetry' in sys.modules, len(multiprocessing.active_children()))\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          check=True)
    assert done.stdout.split() == ["False", "0"]
    assert not (tmp_path / "intel").exists()  # no client id or statistics written


def test_fp32_matches_onnx_runtime(model) -> None:  # noqa: ANN001
    x = np.random.default_rng(0).random((2, 1, 40, 56), dtype=np.float32)
    with open_backend(model, Choice("ort", "fp32", "")) as ort_b, open_backend(model, Choice("ov", "fp32", "")) as ov_b:
        assert ov_b.name == "ov" and ov_b.config["INFERENCE_PRECISION_HINT"] == "f32"
        assert ov_b.luma_graph and ort_b.luma_graph  # both run the luma-only graph on the CPU
        assert np.abs(ort_b.infer(x) - ov_b.infer(x)).max() < 1e-4
        # another shape compiles its own model; the first one is kept
        assert ov_b.infer(x[:1, :, :24, :24]).shape == (1, 1, 48, 48) and len(ov_b._compiled) == 2
    with OvBackend(model.spec, model.path.read_bytes(), "fp32") as rgb:  # the RGB graph itself
        assert not rgb.luma_graph and rgb.infer(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_tiled_equals_whole_frame(model, precision: str) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    frame = (np.clip(rng.normal(128, 60, (150, 190, 3)), 0, 255)).astype(np.uint8)
    with open_backend(model, Choice("ov", precision, "")) as backend:
        whole = FrameUpscaler(backend, model.spec, 0).upscale(frame)
        tiled = FrameUpscaler(backend, model.spec, 64).upscale(frame)
    assert whole.shape == (300, 380, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_two_lanes_run_at_once_and_give_the_latency_modes_frames(model, precision: str,  # noqa: ANN001
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CPU with 2 threads or more the backend runs a file's frames in two lanes (throughput
    mode, one stream each, sharing one compiled model per shape): each lane's output equals the
    latency mode's, also while both run at once; ``SRSTREAM_LANES=1`` turns them off."""
    rng = np.random.default_rng(2)
    frames = [(np.clip(rng.normal(128, 60, (72, 96, 3)), 0, 255)).astype(np.uint8) for _ in range(6)]
    with open_backend(model, Choice("ov", precision, "", OvOptions(threads=2))) as backend:
        assert backend.lanes() == 2
        lanes = [backend.lane(), backend.lane()]
        assert lanes[0].lanes() == 1 and lanes[0].luma_graph == backend.luma_graph
        want = [FrameUpscaler(backend, model.spec, 0).upscale(f) for f in frames]
        got: dict[int, np.ndarray] = {}
        ups = [FrameUpscaler(lane, model.spec, 0) for lane in lanes]

        def work(index: int) -> None:
            for i in range(index, len(frames), 2):
                got[i] = ups[index].upscale(frames[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(len(frames)):  # the same to the bit on a Zen 4; a kernel chosen for one thread
            diff = np.abs(got[i].astype(int) - want[i].astype(int))  # may round an fp32 sum otherwise
            assert diff.max() <= 1 and (diff == 0).mean() > 0.999
        assert len(backend._lane_models) == 1  # one shape, compiled once for both lanes
        monkeypatch.setenv("SRSTREAM_LANES", "1")
        assert backend.lanes() == 1
    with open_backend(model, Choice("ov", precision, "", OvOptions(threads=1))) as one:
        monkeypatch.delenv("SRSTREAM_LANES")
        assert one.lanes() == 1


def test_int8_is_accurate_here(model) -> None:  # noqa: ANN001
    ov = FrameUpscaler(backend_def("ov").open(model.spec, model.path, "int8"), model.spec, 0).upscale
    ref = FrameUpscaler(backend_def("ort").open(model.spec, model.path, "fp32"), model.spec, 0).upscale
    assert compare(ov, ref, 2).ok


@pytest.mark.skipif(not cpu_has_bf16(collect()), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_bf16_runs_in_bf16(model) -> None:  # noqa: ANN001
    x = np.random.default_rng(2).random((1, 1, 32, 32), dtype=np.float32)  # luma: the CPU runs the luma-only graph
    with open_backend(model, Choice("ov", "bf16", "")) as bf, open_backend(model, Choice("ov", "fp32", "")) as fp:
        diff = np.abs(bf.infer(x) - fp.infer(x)).max()
    assert 0 < diff < 0.05  # bf16 arithmetic: different from fp32, but close


def test_device_paths_fail_clearly(model, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(BackendError, match="'GPU.7' is not present here; available: .*CPU"):
        OvBackend(model.spec, model.path, "fp32", OvOptions(device="GPU.7"))
    with pytest.raises(BackendError, match="fp16 with OpenVINO is for GPU and NPU"):
        OvBackend(model.spec, model.path, "fp16")
    with pytest.raises(BackendError, match="not int4"):
        OvBackend(model.spec, model.path, "int4")
    bare = write_conv_net(tmp_path / "net.onnx", 2)
    with pytest.raises(ModelError, match="no int8 variant"):
        OvBackend(model.spec, bare, "int8")
    with OvBackend(model.spec, model.path, "fp32", OvOptions(device="AUTO")) as auto:
        assert auto.infer(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 3, 16, 16)


def test_bf16_is_refused_where_the_cpu_has_none(model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(OvBackend, "_cpu_capabilities", lambda self: ["FP32", "INT8"])
    with pytest.raises(BackendError, match="no native bf16"):
        OvBackend(model.spec, model.path, "bf16")


def test_cli_upscales_a_video_on_openvino(tiny_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.mp4"
    assert cli.main([str(tiny_video), "-o", str(out), "--backend", "ov", "--device", "CPU"]) == 0
    err = capsys.readouterr().err
    assert " on ov " in err
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (128, 96) and sum(1 for _ in c.decode(s)) == 6
    assert cli.main([str(tiny_video), "-o", str(tmp_path / "p.mp4"), "--backend", "ort", "--device", "GPU"]) == 2
    assert "--device is not an option of the ort backend" in capsys.readouterr().err


def test_int8_luma_graph_runs_its_tail_in_our_kernel(monkeypatch) -> None:  # noqa: ANN001
    """tiny-x2's INT8 luma graph ends in a float conv, skip and DepthToSpace, which the backend cuts
    off and runs natively (srstream.engine.graph_tail): the same output as the whole graph, batched
    and at odd sizes."""
    from srstream.engine import kernels

    if not kernels.has_native():
        pytest.skip("native kernels not built")
    tiny = resolve_model("tiny-x2")
    cut = OvBackend(tiny.spec, tiny.path, "int8")
    monkeypatch.setenv("SRSTREAM_GRAPH_TAIL", "0")
    whole = OvBackend(tiny.spec, tiny.path, "int8")
    assert cut.tail is not None and whole.tail is None and cut.luma_graph
    x = np.random.default_rng(3).random((2, 1, 37, 51), dtype=np.float32)
    np.testing.assert_allclose(cut.infer(x), whole.infer(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["realtime-x2", "tiny-x2"])
def test_int8_with_unsigned_activations_is_accurate(name: str, monkeypatch) -> None:  # noqa: ANN001
    """The INT8 graphs re-encoded with uint8 activations, as OpenVINO gets them on AMX (forced here on
    any CPU): accurate against fp32, and within three levels of the graph as shipped."""
    from srstream.engine.backends import ov_backend

    net = resolve_model(name)
    ref = FrameUpscaler(backend_def("ort").open(net.spec, net.path, "fp32"), net.spec, 0).upscale
    outputs = {}
    for forced in ("1", "0"):
        monkeypatch.setenv(ov_backend.UNSIGNED_ENV, forced)
        upscale = FrameUpscaler(backend_def("ov").open(net.spec, net.path, "int8"), net.spec, 0).upscale
        if forced == "1":
            assert compare(upscale, ref, 2).ok
        outputs[forced] = upscale(np.random.default_rng(6).integers(0, 256, (40, 56, 3), np.uint8)).astype(int)
    assert np.abs(outputs["1"] - outputs["0"]).max() <= 3
