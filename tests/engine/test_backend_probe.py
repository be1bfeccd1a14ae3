"""Backend availability as `sr-stream info` reports it."""

from __future__ import annotations

import dataclasses
import importlib.util

from srstream.engine.backends.probe import BACKENDS, onnxruntime_conflict, probe
from srstream.sysinfo import GpuInfo, collect


def test_every_backend_is_reported_and_ort_is_available() -> None:
    statuses = {s.name: s for s in probe(collect())}
    assert set(statuses) == {b.name for b in BACKENDS}
    assert statuses["ort"].available and "CPUExecutionProvider" in statuses["ort"].detail


def test_missing_runtime_names_the_install_line() -> None:
    info = collect()
    statuses = {s.name: s for s in probe(info)}
    if importlib.util.find_spec("tensorrt") is None:
        assert not statuses["trt"].available and "pip install 'sr-stream[gpu]'" in statuses["trt"].detail
    if importlib.util.find_spec("torch") is None:
        assert not statuses["torch"].available and "sr-stream[train]" in statuses["torch"].detail


def test_trt_needs_a_gpu_even_when_installed(monkeypatch) -> None:
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
