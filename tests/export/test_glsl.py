"""Our nets as mpv/libplacebo user shaders: written from the exported graph, and run for real by
FFmpeg's libplacebo filter on Mesa's software Vulkan (lavapipe); the luma plane the shader writes
equals the ONNX graph's luma within 2/255. Skips with the reason where FFmpeg, its libplacebo
filter or a Vulkan device is missing (bash tests/system-deps.sh installs them on Debian)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream import cli
from srstream.engine.models import resolve_model
from srstream.errors import ConfigError
from srstream.export.glsl import glsl_support, read_net, write_glsl
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@functools.cache
def _libplacebo() -> str:
    """Why the libplacebo filter cannot run here, or "" when it can."""
    if shutil.which("ffmpeg") is None:
        return "no ffmpeg command (Debian: apt install ffmpeg mesa-vulkan-drivers)"
    filters = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    if "libplacebo" not in filters:
        return "this ffmpeg has no libplacebo filter"
    probe = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-init_hw_device", "vulkan", "-f", "lavfi",
                            "-i", "color=size=16x16", "-frames:v", "1", "-f", "null", "-"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"no Vulkan device for FFmpeg (apt install mesa-vulkan-drivers): {probe.stderr.strip()[-200:]}"
    return ""


def _clip(path: Path) -> Path:
    """A lossless yuv420p clip with edges and texture (64x48, 2 frames)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=Fraction(5))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for t in range(2):
            luma = (128 + 80 * np.sin(xx / (3 + t)) * np.cos(yy / 5) + rng.normal(0, 8, xx.shape)).clip(0, 255)
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.planes[0].update(np.ascontiguousarray(luma.astype(np.uint8)))
            frame.planes[1].update(np.full((24, 32), 128, np.uint8))
            frame.planes[2].update(np.full((24, 32), 128, np.uint8))
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _luma(path: Path) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            plane = f.planes[0]
            out.append(np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :f.width].copy())
    return out


def _small(tmp_path: Path, scale: int = 4, skip: str = "nearest") -> Path:
    """A small trained-shape net exported by the exporter (random weights), in a shader Mesa
    compiles in seconds (the bundled realtime-x4 takes minutes to compile on the CPU the first
    time): at x4, the pixel shuffle of four output textures; with ``skip="linear"``, the learned
    5x5 skip filter (moved off its nearest start, so a shader adding the nearest skip fails)."""
    import torch
    from safetensors.torch import save_file

    from srstream.archs import build_generator, generator_spec
    from srstream.export.pipeline import ExportOptions, run_export
    from srstream.spec import METADATA_KEY

    torch.manual_seed(0)
    name = f"small-x{scale}" + ("-linear" if skip == "linear" else "")
    spec = generator_spec(name, "compact_y", scale, params={"features": 8, "convs": 1, "act": "relu", "skip": skip})
    net = build_generator(spec)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
        if skip == "linear":
            net.luma.skip_conv.weight.add_(0.02 * torch.randn_like(net.luma.skip_conv.weight))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"),
              metadata={METADATA_KEY: spec.to_json()})
    run_export(tmp_path / "w.safetensors", ExportOptions(out=tmp_path / f"{name}.onnx"), log=lambda *_: None)
    return tmp_path / f"{name}.onnx"


@pytest.mark.parametrize(("name", "precision"), [("tiny-x2", "mediump"), ("tiny-x2", "highp"), ("small-x4", "mediump"),
                                               ("small-x2-linear", "mediump")])
def test_the_shader_computes_what_the_onnx_graph_does(tmp_path: Path, name: str, precision: str) -> None:
    why = _libplacebo()
    if why:
        pytest.skip(why)
    small = {"small-x4": (4, "nearest"), "small-x2-linear": (2, "linear")}
    model = resolve_model(str(_small(tmp_path, *small[name])) if name in small else name)
    shader = tmp_path / f"{name}.glsl"
    write_glsl(read_net(model.path), shader, precision=precision)
    assert f"{precision} vec4 acc" in shader.read_text()
    src = _clip(tmp_path / "src.mkv")
    s = model.spec.scale
    out = tmp_path / "out.mkv"
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-init_hw_device", "vulkan", "-i", str(src),
                           "-vf", f"hwupload,libplacebo=w={64 * s}:h={48 * s}:custom_shader_path={shader}:format=yuv420p,"
                                  "hwdownload,format=yuv420p", "-c:v", "ffv1", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import onnxruntime as ort

    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    for lr, got in zip(_luma(src), _luma(out), strict=True):
        grey = np.repeat((lr.astype(np.float32) / 255.0)[None, None], 3, axis=1)  # R=G=B: the graph's luma is lr
        ref = session.run(None, {session.get_inputs()[0].name: grey})[0][0, 0]
        want = np.clip(np.floor(ref * 255 + 0.5), 0, 255)
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want).max() <= 2  # within 2/255 on the plane the shader writes


def test_only_compact_luma_nets_are_written_and_the_cli_says_why(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert glsl_support(resolve_model("realtime-x2").spec) == ""
    odd = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    with pytest.raises(ConfigError, match="nearest is not a compact net"):
        read_net(odd)
    assert cli.main(["export", str(odd), "--glsl", str(tmp_path / "n.glsl")]) == 2
    assert "only compact nets export to GLSL" in capsys.readouterr().err
    assert cli.main(["export", "tiny-x2", "--glsl", str(tmp_path / "t.glsl")]) == 0
    text = (tmp_path / "t.glsl").read_text()
    # 16 features: 4 passes for each of the first 5 convs, 1 for the last (4 channels), 1 for the shuffle
    assert text.startswith("// sr-stream tiny-x2") and text.count("//!HOOK LUMA") == 5 * 4 + 1 + 1
    assert "Licence of the weights: MIT" in text


@pytest.mark.parametrize("name", ["tiny-x2", "realtime-x2", "small-x2-linear"])
def test_half_precision_feature_maps_stay_within_a_level(name: str, tmp_path: Path) -> None:
    """The numpy mirror of the shader equals the ONNX graph in fp32, and moves by under one level
    when every product and sum is rounded to fp16 (what mediump may run as), on a real picture."""
    import cv2
    import onnxruntime as ort

    from srstream.export.glsl import run_net

    model = resolve_model(str(_small(tmp_path, 2, "linear")) if name == "small-x2-linear" else name)
    net = read_net(model.path)
    assert (net.skip is not None) == (name == "small-x2-linear")
    photo = Path(__file__).resolve().parents[2] / "engine" / "checks"
    crops = sorted(photo.glob("*.png"))
    assert crops, "the bundled check crops are missing"
    session = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    for crop in crops[:2]:
        luma = cv2.cvtColor(cv2.imread(str(crop)), cv2.COLOR_BGR2GRAY)[:48, :64].astype(np.float32) / 255
        full = run_net(net, luma)
        ref = session.run(None, {session.get_inputs()[0].name: np.repeat(luma[None, None], 3, axis=1)})[0][0, 0]
        assert np.abs(full - ref).max() < 1e-4
        half = run_net(net, luma, np.float16)
        assert np.abs(half - full).max() * 255 < 1.0
