"""Backend availability as `sr-stream info` reports it, from each backend's own declaration."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from srstream.engine.backends import BACKENDS, backend_def, definitions
from srstream.engine.backends.probe import onnxruntime_conflict, probe
from srstream.errors import ConfigError
from srstream.sysinfo import GpuInfo, collect


def test_every_registered_backend_is_reported_and_ort_is_available() -> None:
    statuses = {s.name: s for s in probe(collect())}
    assert list(statuses) == list(BACKENDS.names()) == [b.name for b in definitions()]
    assert statuses["ort"].available and "CPUExecutionProvider" in statuses["ort"].detail
    assert statuses["ort"].runtime.startswith("onnxruntime ")


@pytest.mark.parametrize(("name", "module", "install"), [
    ("trt", "tensorrt", "pip install 'sr-stream[gpu]'"),
    ("torch", "torch", "sr-stream[train]"),
    ("ov", "openvino", "pip install 'sr-stream[openvino]'"),
])
def test_a_missing_runtime_names_its_install_line(monkeypatch: pytest.MonkeyPatch, name: str, module: str,
                                                  install: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == module else real(m, *a))
    status = next(s for s in probe(collect()) if s.name == name)
    assert not status.available and install in status.detail


def test_trt_needs_a_gpu_even_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name in ("tensorrt", "pycuda") else real(name, *a))
    info = dataclasses.replace(collect(), gpus=[])
    trt = next(s for s in probe(info) if s.name == "trt")
    assert not trt.available and "no NVIDIA GPU" in trt.detail
    gpu = GpuInfo(0, "NVIDIA H100", 81559, "9.0", "570")
    trt = next(s for s in probe(dataclasses.replace(info, gpus=[gpu])) if s.name == "trt")
    assert trt.available


def test_onnxruntime_double_install_is_flagged() -> None:
    info = collect()
    both = dataclasses.replace(info, packages={**info.packages, "onnxruntime": "1.20", "onnxruntime-gpu": "1.20"})
    assert "overwrite each other" in (onnxruntime_conflict(both) or "")
    one = dataclasses.replace(info, packages={**info.packages, "onnxruntime": "1.20", "onnxruntime-gpu": None})
    assert onnxruntime_conflict(one) is None


def test_declarations_are_complete_and_options_have_defaults() -> None:
    for b in definitions():
        assert b.name and b.title and b.precisions and b.install.startswith("pip install")
        options = b.options()  # every option has a default
        assert dataclasses.is_dataclass(options) and dataclasses.fields(options) is not None
        if b.device_field is not None:
            assert b.make_options("X") == b.options(**{b.device_field: "X"})


def test_device_is_refused_by_backends_without_devices() -> None:
    with pytest.raises(ConfigError, match="--device is not an option of the ort backend"):
        backend_def("ort").make_options("GPU")


def test_auto_takes_torch_fp16_on_cuda_where_torch_sees_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found on an H200: with torch's CUDA build and no TensorRT, `auto` timed CPU candidates only
    and ran the sample clip at a third of the GPU's end-to-end speed."""
    from srstream.engine import autotune
    from srstream.engine.models import resolve_model

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorrt", "pycuda") else real(name, *a))
    monkeypatch.setattr(autotune, "_torch_sees_cuda", lambda: True)
    model = resolve_model("realtime-x2")
    info = dataclasses.replace(collect(), gpus=[GpuInfo(0, "NVIDIA H200", 143771, "9.0", "580")])
    choice = autotune.select(model, info=info).choice
    assert (choice.backend, choice.precision, choice.options.device) == ("torch", "fp16", "cuda")
    assert "NVIDIA GPU" in choice.reason
    assert autotune._gpu_choice(model, dataclasses.replace(info, gpus=[]), "auto", "auto") is None
    assert autotune._gpu_choice(model, info, "auto", "int8") is None  # torch runs no int8 graph
    assert autotune._gpu_choice(model, info, "ov", "auto") is None
