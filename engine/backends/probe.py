"""Which inference backends can run here, and what is missing for the others.

A probe never imports torch or tensorrt: it looks for their modules with
``importlib.util.find_spec`` and for NVIDIA GPUs with ``nvidia-smi``. Only ONNX Runtime, a base
dependency, is imported, to list its execution providers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from srstream.sysinfo import SystemInfo

__all__ = ["BACKENDS", "BackendStatus", "BackendSupport", "onnxruntime_conflict", "probe"]


@dataclass(frozen=True)
class BackendSupport:
    """What a backend needs and offers.

    Attributes:
        name: the ``--backend`` name.
        runtime: what it runs on, for people.
        modules: import names that must be importable.
        needs_nvidia_gpu: True when it only runs on an NVIDIA GPU.
        precisions: precisions it can run, best first.
        install: the command that installs what it needs.
    """

    name: str
    runtime: str
    modules: tuple[str, ...]
    needs_nvidia_gpu: bool
    precisions: tuple[str, ...]
    install: str


BACKENDS = (
    BackendSupport("trt", "TensorRT engines (pycuda buffers and streams)", ("tensorrt", "pycuda"),
                   True, ("fp16", "fp32", "int8"), "pip install 'sr-stream[gpu]'"),
    BackendSupport("ort", "ONNX Runtime (CPU; CUDA/TensorRT EPs with onnxruntime-gpu)",
                   ("onnxruntime",), False, ("fp32", "int8", "fp16"), "pip install sr-stream"),
    BackendSupport("torch", "PyTorch reference (CPU bf16 on AMX, CUDA fp16)", ("torch",),
                   False, ("fp32", "bf16", "fp16"), "pip install 'sr-stream[train]'"),
)


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    detail: str


def onnxruntime_conflict(info: SystemInfo) -> str | None:
    """A message when both ``onnxruntime`` and ``onnxruntime-gpu`` are installed.

    Both distributions write the same ``onnxruntime`` package, so which one you get depends on
    install order and uninstalling either breaks the other.
    """
    if info.packages.get("onnxruntime") and info.packages.get("onnxruntime-gpu"):
        return ("both onnxruntime and onnxruntime-gpu are installed and overwrite each other; "
                "keep one: `pip uninstall -y onnxruntime onnxruntime-gpu && "
                "pip install onnxruntime-gpu` (GPU) or `... && pip install onnxruntime` (CPU)")
    return None


def _ort_providers() -> list[str]:
    import onnxruntime  # base dependency, torch-free

    return list(onnxruntime.get_available_providers())


def probe(info: SystemInfo) -> list[BackendStatus]:
    """Availability of every backend in :data:`BACKENDS` on the machine ``info`` describes."""
    statuses = []
    for backend in BACKENDS:
        missing = [m for m in backend.modules if importlib.util.find_spec(m) is None]
        if missing:
            statuses.append(BackendStatus(
                backend.name, False, f"missing {', '.join(missing)}: {backend.install}"))
            continue
        if backend.needs_nvidia_gpu and not info.gpus:
            statuses.append(BackendStatus(backend.name, False, "no NVIDIA GPU found (nvidia-smi)"))
            continue
        detail = ", ".join(backend.precisions)
        if backend.name == "ort":
            try:
                detail = "providers: " + ", ".join(_ort_providers())
            except Exception as exc:  # a broken install must not break `sr-stream info`
                statuses.append(BackendStatus(backend.name, False, f"onnxruntime fails to import: {exc}"))
                continue
            conflict = onnxruntime_conflict(info)
            if conflict:
                detail += f" (warning: {conflict})"
        elif backend.name == "torch":
            amx = info.cpu.features.get("amx_bf16", False)
            detail = "CPU fp32" + (", bf16 on AMX" if amx else "") + (", CUDA fp16" if info.gpus else "")
        statuses.append(BackendStatus(backend.name, True, detail))
    return statuses
