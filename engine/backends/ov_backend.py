"""OpenVINO backend: the CPU plugin everywhere, Intel GPUs and NPUs where their drivers are.

It runs the same ONNX graphs as ONNX Runtime (``NAME.onnx`` for fp32 and bf16, ``NAME.int8.onnx``
for int8), read by OpenVINO's ONNX front end; nothing is converted ahead of time.

Precision is always set explicitly. OpenVINO's CPU plugin otherwise runs an fp32 graph in bf16 on
CPUs that have AVX512-BF16 or AMX, which is faster and measurably less accurate (Set5 x2 with
realtime-x2 on a Zen 4: 0.02 dB lower in fp32, 0.05 dB in the float parts of the int8 graph):
``fp32`` and ``int8`` ask for f32 arithmetic, ``bf16`` for bf16, ``fp16`` (GPU, NPU) for f16.

The graphs have dynamic batch, height and width; each input shape gets its own compiled model
(a static shape ran realtime-x2 7% faster on the CPU than the dynamic one), kept for the last
few shapes, since a video streams one tile or frame shape.

A video file's frames queue up for the network, and on a CPU two of them run at once (:meth:`OvBackend.lanes`,
:meth:`OvBackend.lane`: OpenVINO's throughput mode, two streams that share the cores between them) rather than
one on every core (its latency mode, which single calls and live sources keep). One frame on two threads
meets at a barrier after every layer, and waits there whenever the encoder or the steps after the network
take one of the two cores from it; two frames on a thread each do not wait for each other. On a 2-core
Zen 4, with x264 encoding 720p beside it, realtime-x2-compressed's INT8 graph at 640x360 ran 13.8-16.4 fps
one frame at a time and 18.9-21.0 fps two at a time (alone: 19.1-25.6 and 25.1-26.5;
``benchmarks/results/bench/lanes/``). ``SRSTREAM_LANES=1`` runs one frame at a time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srstream.engine.backends.base import LANES_ENV, Availability, Backend, BackendDef, Lane
from srstream.engine.graph_tail import Tail, split_cached, unsigned_graph_cached
from srstream.engine.models import cpu_luma_graph, variant_path
from srstream.errors import BackendError, DependencyError, ModelError
from srstream.spec import ModelSpec
from srstream.sysinfo import SystemInfo, cpu_info

__all__ = ["BACKEND", "OvBackend", "OvOptions", "cpu_has_bf16", "import_openvino"]

#: ``precision`` -> OpenVINO's INFERENCE_PRECISION_HINT.
_HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16", "fp16": "f16"}
_SHAPES_KEPT = 4


@dataclass(frozen=True)
class OvOptions:
    """``device``: an OpenVINO device (``CPU``, ``GPU``, ``GPU.1``, ``NPU``, ``AUTO``).
    ``threads``: CPU inference threads (0: one per usable core)."""

    device: str = "CPU"
    threads: int = 0


def cpu_has_bf16(info: SystemInfo) -> bool:
    """Native bf16 arithmetic: AVX512-BF16 (Zen 4, Cooper Lake) or AMX (Sapphire Rapids)."""
    return bool(info.cpu.features.get("avx512_bf16") or info.cpu.features.get("amx_bf16"))


def import_openvino() -> Any:
    """``import openvino`` without its import-time telemetry.

    ``import openvino`` imports its model converter, which sends usage events to Google Analytics
    unless a consent file says no (opt-out, not opt-in: ``openvino_telemetry`` counts a missing
    file as consent when it shows no dialog). It sends them from a process forked off a worker
    thread: a fork of a multi-threaded program, whose child hung in an import lock here (no
    network) and held ``sr-stream`` at exit for ever. An upscaler has no business reporting its
    users, so the telemetry package is hidden from that import (the converter then takes its own
    no-op stub); a program that imported ``openvino_telemetry`` before us keeps it.
    """
    import sys

    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment] - makes the import fail
        try:
            import openvino
        finally:
            del sys.modules["openvino_telemetry"]
        return openvino
    import openvino

    return openvino


def _probe(info: SystemInfo) -> Availability:
    if importlib.util.find_spec("openvino") is None:
        return Availability(False, f"missing openvino: {BACKEND.install}")
    try:
        devices = _core().available_devices
    except Exception as exc:  # a broken install must not break `sr-stream info`
        return Availability(False, f"openvino fails to load: {exc}")
    return Availability(True, "devices: " + ", ".join(devices) + ("; CPU bf16" if cpu_has_bf16(info) else ""))


@functools.cache
def _core() -> Any:
    """The process's one ``openvino.Core``, shared by every backend. With one Core per backend, a
    run whose auto-selection had held two OpenVINO backends open at once segfaulted at exit after
    Ctrl-C (3 of about 30 tries on a Zen 4; none in 55 with one Core)."""
    return import_openvino().Core()


#: ``SRSTREAM_OV_UNSIGNED``: ``1`` / ``0`` re-encode INT8 graphs' activations as uint8 for
#: OpenVINO on any CPU / on none (for measuring); unset: on CPUs with AMX only, see :func:`_unsigned_int8`.
UNSIGNED_ENV = "SRSTREAM_OV_UNSIGNED"


def _unsigned_int8() -> bool:
    """Whether OpenVINO gets INT8 graphs with their signed activations re-encoded as uint8
    (:func:`srstream.engine.graph_tail.unsigned_activations`, exact). On AMX the CPU plugin runs
    the signed form in fp32. Elsewhere the form makes no difference: on the same Sapphire Rapids
    with AMX hidden from oneDNN (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`` or ``AVX2``) both forms
    ran the same int8 kernels (``brgconv_avx512_I8``, ``jit_avx2_I8``) at the same speed, and the
    signed form was measured fast and right as shipped on an AVX2 Zen 3 and an AVX-512 VNNI Zen 4.
    So only AMX gets the re-encoded one, unless ``SRSTREAM_OV_UNSIGNED`` says otherwise. (On AMX it
    is also faster than those kernels: realtime-x2's luma graph at 640x360 took 23 ms on AMX's int8
    units against 29 ms with AMX hidden, three alternating runs each.)"""
    forced = os.environ.get(UNSIGNED_ENV, "")
    if forced in ("0", "1"):
        return forced == "1"
    return bool(cpu_info().features.get("amx_int8"))


def _cpu_precisions(info: SystemInfo) -> tuple[str, ...]:
    return ("fp32", "int8", "bf16") if cpu_has_bf16(info) else ("fp32", "int8")


class OvBackend(Backend):
    name = "ov"

    def __init__(self, spec: ModelSpec, model: Path | bytes, precision: str = "fp32",
                 options: OvOptions = OvOptions()) -> None:
        super().__init__(spec, precision)
        try:
            self.core = _core()
        except ModuleNotFoundError as exc:
            raise DependencyError(f"the OpenVINO backend needs {exc.name}: {BACKEND.install}") from exc
        if precision not in _HINTS:
            raise BackendError(f"OpenVINO runs fp32, int8, bf16 (CPUs with AVX512-BF16 or AMX) or fp16 (GPU, NPU), "
                               f"not {precision}")
        self.device_name = options.device
        family = options.device.split(".")[0].upper()
        if family not in ("AUTO", "HETERO", "MULTI") and options.device not in self.core.available_devices:
            raise BackendError(f"OpenVINO device {options.device!r} is not present here; available: "
                               f"{', '.join(self.core.available_devices)}")
        if precision == "fp16" and family == "CPU":
            raise BackendError("fp16 with OpenVINO is for GPU and NPU devices; on the CPU use fp32, int8 or bf16")
        if precision == "bf16" and family == "CPU" and "BF16" not in self._cpu_capabilities():
            raise BackendError("this CPU has no native bf16 (AVX512-BF16 or AMX); use fp32 or int8")
        source = model if isinstance(model, bytes) else variant_path(model, "int8" if precision == "int8" else "fp32")
        luma = cpu_luma_graph(spec, model, precision) if family == "CPU" else None
        if luma is not None:  # on the CPU, the net alone (see OrtBackend)
            source, self.luma_graph = luma, True
        self.tail: Tail | None = None
        unsigned = precision == "int8" and family == "CPU" and _unsigned_int8()
        if luma is not None and precision == "int8":  # its last conv, skip and shuffle by our kernel
            cut = split_cached(luma, unsigned)
            if cut is not None:
                source, self.tail = cut
        if unsigned and source is not None and self.tail is None:
            source = unsigned_graph_cached(source) or source
        if source is None:
            raise ModelError(f"model {spec.name} has no int8 variant beside {model} "
                             f"(expected {Path(model).stem}.int8.onnx); export one with sr-stream export --int8")
        try:
            self.model = self.core.read_model(source if isinstance(source, bytes) else str(source))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            where = f"the in-memory graph of {spec.name}" if isinstance(source, bytes) else str(source)
            raise ModelError(f"OpenVINO cannot read {where}: {exc}") from exc
        self.config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if family == "CPU":
            self.config["INFERENCE_NUM_THREADS"] = options.threads or len(os.sched_getaffinity(0))
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lane_models: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # compiled for lanes, shared
        self._compiling = threading.Lock()
        batch = self.model.inputs[0].get_partial_shape()[0]
        if batch.is_static and batch.get_length() > 0:  # a graph exported for one batch size (a foreign one)
            self.max_batch = min(self.max_batch, batch.get_length())

    def _cpu_capabilities(self) -> list[str]:
        return list(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))

    @property
    def device(self) -> str:
        try:
            return str(self.core.get_property(self.device_name, "FULL_DEVICE_NAME"))
        except Exception:  # AUTO and virtual devices have no single name
            return self.device_name

    def memory_budget(self) -> int:
        return 1 << 30

    def _compile(self, shape: tuple[int, ...], config: dict[str, Any]) -> Any:
        model = self.model.clone()
        try:
            model.reshape(list(shape))
            return self.core.compile_model(model, self.device_name, config)
        except Exception as exc:
            raise BackendError(f"OpenVINO cannot compile {self.spec.name} for {shape} on {self.device_name}: {exc}") from exc

    def _request(self, shape: tuple[int, ...]) -> Any:
        """An infer request compiled for ``shape`` (the last few shapes are kept)."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        self._compiled[shape] = self._compile(shape, self.config).create_infer_request()
        while len(self._compiled) > _SHAPES_KEPT:
            self._compiled.popitem(last=False)
        return self._compiled[shape]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run(self._request(tuple(batch.shape)), batch)

    def _run(self, request: Any, batch: np.ndarray) -> np.ndarray:  # noqa: ANN401 - an InferRequest
        batch = np.ascontiguousarray(batch, np.float32)
        try:
            request.infer({0: batch})
        except Exception as exc:
            raise BackendError(f"OpenVINO failed on a {tuple(batch.shape)} batch: {exc}") from exc
        if self.tail is not None:
            return self.tail.apply(request.get_output_tensor(0).data, batch)
        return np.array(request.get_output_tensor(0).data, np.float32, copy=True)

    def lanes(self) -> int:
        """2 on a CPU given 2 threads or more (see the module), else 1."""
        if os.environ.get(LANES_ENV) == "1" or self.device_name.split(".")[0].upper() != "CPU":
            return 1
        return 2 if self.config.get("INFERENCE_NUM_THREADS", 0) >= 2 else 1

    def lane(self) -> OvLane:
        return OvLane(self)

    def _lane_model(self, shape: tuple[int, ...]) -> Any:
        """The model compiled for ``shape`` in throughput mode, one stream per lane, shared by the lanes."""
        with self._compiling:
            if shape not in self._lane_models:
                config = {**self.config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.lanes()}
                self._lane_models[shape] = self._compile(shape, config)
                while len(self._lane_models) > _SHAPES_KEPT:
                    self._lane_models.popitem(last=False)
            return self._lane_models[shape]

    def close(self) -> None:
        self._compiled.clear()
        self._lane_models.clear()
        self.__dict__.pop("model", None)


class OvLane(Lane):
    """One lane of an :class:`OvBackend`: its own infer requests on the backend's throughput-mode models."""

    def __init__(self, backend: OvBackend) -> None:
        super().__init__(backend)
        self._requests: dict[tuple[int, ...], Any] = {}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        shape = tuple(batch.shape)
        request = self._requests.get(shape)
        if request is None:
            if len(self._requests) >= _SHAPES_KEPT:
                self._requests.clear()
            request = self._requests[shape] = self.backend._lane_model(shape).create_infer_request()
        return self.backend._run(request, batch)


BACKEND = BackendDef(
    name="ov", title="OpenVINO (CPU; Intel GPU and NPU where present)", libraries=("openvino",),
    precisions=("fp32", "int8", "bf16", "fp16"), runner="srstream.engine.backends.ov_backend:OvBackend",
    options=OvOptions, probe=_probe, install="pip install 'sr-stream[openvino]'", cpu_precisions=_cpu_precisions,
    device_field="device",
)
