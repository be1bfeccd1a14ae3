"""ONNX Runtime backend: the CPU provider everywhere; CUDA / TensorRT providers with onnxruntime-gpu.

Precision selects the graph file exported beside the model: ``NAME.onnx`` (fp32),
``NAME.int8.onnx`` (QDQ, CPU) or ``NAME.fp16.onnx`` (GPU providers). A graph already in memory
(bytes, as the exporter holds it) is run as given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srstream.engine.backends.base import LANES_ENV, Availability, Backend, BackendDef, Lane
from srstream.engine.models import cpu_luma_graph, variant_path
from srstream.errors import BackendError, ModelError
from srstream.spec import ModelSpec
from srstream.sysinfo import SystemInfo

__all__ = ["BACKEND", "OrtBackend", "OrtOptions", "onnxruntime_conflict"]

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class OrtOptions:
    """``threads``: intra-op threads (0: one per usable core). ``gpu``: use a GPU provider when present."""

    threads: int = 0
    gpu: bool = True


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


def _probe(info: SystemInfo) -> Availability:
    try:
        import onnxruntime  # base dependency, torch-free

        providers = list(onnxruntime.get_available_providers())
    except Exception as exc:  # a broken install must not break `sr-stream info`
        return Availability(False, f"onnxruntime fails to import: {exc}")
    detail = "providers: " + ", ".join(providers)
    conflict = onnxruntime_conflict(info)
    return Availability(True, detail + (f" (warning: {conflict})" if conflict else ""))


def _cpu_precisions(info: SystemInfo) -> tuple[str, ...]:
    return ("fp32", "int8")


class OrtBackend(Backend):
    name = "ort"

    def __init__(self, spec: ModelSpec, model: Path | bytes, precision: str = "fp32",
                 options: OrtOptions = OrtOptions()) -> None:
        import onnxruntime as ort

        super().__init__(spec, precision)
        available = ort.get_available_providers()
        gpu = [p for p in GPU_PROVIDERS if p in available and options.gpu]
        if precision == "fp16" and not gpu:
            raise BackendError("fp16 with ONNX Runtime needs onnxruntime-gpu and a CUDA GPU; use --precision fp32 "
                               "or int8 on the CPU")
        if precision in ("bf16",):
            raise BackendError("ONNX Runtime does not run bf16 graphs here; use --backend torch for bf16")
        path = model if isinstance(model, bytes) else variant_path(model, precision)
        if path is None:
            raise ModelError(f"model {spec.name} has no {precision} variant beside {model} "
                             f"(expected {model.stem}.{precision}.onnx); export one with sr-stream export --{precision}")
        self.threads = options.threads or len(os.sched_getaffinity(0))
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.threads
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning between runs: in the file pipeline the decoder
        # and x264 need those cores between frames (2-core CPU, realtime-x2 INT8 on the 30-s traffic
        # clip end to end: 21.2 / 21.3 fps passive vs 20.1 / 20.0 spinning; the model alone 30-34
        # fps either way).
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # int8 (QDQ) graphs are for the CPU; fp16 needs a GPU provider; fp32 takes a GPU when there is one.
        providers = [*(gpu if precision != "int8" else []), "CPUExecutionProvider"]
        luma = cpu_luma_graph(spec, model, precision) if providers == ["CPUExecutionProvider"] else None
        if luma is not None:  # on the CPU, the net alone: the colour work is done once per frame outside
            path, self.luma_graph = luma, True
        self._load = (path, session_options, providers)
        self.session = self._session(self.threads)
        self.provider = self.session.get_providers()[0]
        self.input_dtype = np.dtype(np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32)
        batch = self.session.get_inputs()[0].shape[0]
        if isinstance(batch, int) and batch > 0:  # a graph exported for one batch size (a foreign one): no more
            self.max_batch = min(self.max_batch, batch)

    def _session(self, threads: int) -> Any:  # noqa: ANN401 - an onnxruntime.InferenceSession
        import onnxruntime as ort

        path, session_options, providers = self._load
        session_options.intra_op_num_threads = threads
        try:
            return ort.InferenceSession(path if isinstance(path, bytes) else str(path), session_options,
                                        providers=providers)
        except Exception as exc:  # ORT's exception types are not importable
            where = f"the in-memory graph of {self.spec.name}" if isinstance(path, bytes) else str(path)
            raise ModelError(f"ONNX Runtime cannot load {where}: {exc}") from exc

    def lanes(self) -> int:
        """2 on the CPU given 2 threads or more: a file's frames two at a time, each on a session of
        half the threads (see :mod:`srstream.engine.backends.ov_backend`, whose lanes these follow)."""
        if os.environ.get(LANES_ENV) == "1" or self.provider != "CPUExecutionProvider":
            return 1
        return 2 if self.threads >= 2 else 1

    def lane(self) -> OrtLane:
        return OrtLane(self, self._session(max(1, self.threads // self.lanes())))

    @property
    def device(self) -> str:
        return "CPU" if self.provider == "CPUExecutionProvider" else self.provider.removesuffix("ExecutionProvider")

    def memory_budget(self) -> int:
        return (1 << 30) if self.provider == "CPUExecutionProvider" else (2 << 30)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run([self.spec.output_name], {self.spec.input_name: batch.astype(self.input_dtype, copy=False)})[0]
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed on a {tuple(batch.shape)} batch: {exc}") from exc
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        self.__dict__.pop("session", None)


class OrtLane(Lane):
    """One lane of an :class:`OrtBackend`: a session of its own, of half the threads."""

    def __init__(self, backend: OrtBackend, session: Any) -> None:  # noqa: ANN401
        super().__init__(backend)
        self.session = session

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return OrtBackend.infer(self, batch)  # type: ignore[arg-type] - its session, the backend's spec


BACKEND = BackendDef(
    name="ort", title="ONNX Runtime (CPU; CUDA/TensorRT EPs with onnxruntime-gpu)",
    libraries=("onnxruntime", "onnxruntime-gpu"), precisions=("fp32", "int8", "fp16"),
    runner="srstream.engine.backends.ort_backend:OrtBackend", options=OrtOptions, probe=_probe,
    install="pip install sr-stream", cpu_precisions=_cpu_precisions,
)
