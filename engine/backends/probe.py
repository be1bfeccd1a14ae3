"""Which inference backends can run here, and what is missing for the others.

Each backend's own declaration says how to tell (:attr:`BackendDef.probe`); this only asks them
all. Probes never import torch or tensorrt: they look for modules with ``importlib.util.find_spec``
and for NVIDIA GPUs with ``nvidia-smi``. ONNX Runtime (a base dependency) and OpenVINO are
loaded to list their providers and devices.
"""

from __future__ import annotations

from dataclasses import dataclass

from srstream.engine.backends import definitions
from srstream.engine.backends.ort_backend import onnxruntime_conflict
from srstream.sysinfo import SystemInfo

__all__ = ["BackendStatus", "onnxruntime_conflict", "probe"]


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    detail: str
    runtime: str  # "onnxruntime 1.32.0", or "not installed"


def probe(info: SystemInfo) -> list[BackendStatus]:
    """Availability of every registered backend on the machine ``info`` describes."""
    out = []
    for backend in definitions():
        status = backend.probe(info)
        out.append(BackendStatus(backend.name, status.available, status.detail, backend.runtime_version()))
    return out
