"""The backend interface: ``open -> infer(batch) -> close``, context-managed, and
:class:`BackendDef`, the one description of a backend the registry holds.

Each backend module declares one ``BACKEND = BackendDef(...)``: its name, its options
dataclass, the precisions it runs, how to tell whether it can run here (without importing its
runtime where a module search is enough) and the runner class, imported only when opened. The
registry in :mod:`srstream.engine.backends` lists those declarations and nothing else; the
command line's choices, ``sr-stream info`` and auto-selection all read them.

A runner (:class:`Backend`) runs one model at one precision. ``infer`` takes a float32 ``(N, C, h, w)`` batch with
values in the spec's value range and returns float32 ``(N, C, h * scale, w * scale)``. Backends
with a static input shape (TensorRT engines built for one tile size) say so in ``fixed_tile``;
the upscaler then tiles with exactly that size.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from srstream.spec import ModelSpec
from srstream.sysinfo import SystemInfo, package_version
from srstream.tiling import TilePlan

__all__ = ["Availability", "Backend", "BackendDef"]


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here: what it offers, or why not and what to install."""

    available: bool
    detail: str


def _no_cpu_candidates(info: SystemInfo) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class BackendDef:
    """Everything the engine knows about one backend.

    Attributes:
        name: the ``--backend`` name.
        title: what it is, for people.
        libraries: distributions whose versions identify the runtime (the first installed one
            is reported and keys cached measurements).
        precisions: what it can run, best first.
        runner: ``"module:Class"`` of its :class:`Backend`, imported only by :meth:`open`.
        options: its frozen options dataclass; ``options()`` holds the defaults.
        probe: ``SystemInfo -> Availability``.
        cpu_precisions: the precisions ``--precision auto`` may measure it at on this CPU
            (empty: not a CPU candidate, e.g. GPU-only or reference backends).
        install: the line that installs what it needs.
        device_field: the options field ``--device`` sets (None: the backend takes no device).
    """

    name: str
    title: str
    libraries: tuple[str, ...]
    precisions: tuple[str, ...]
    runner: str
    options: type
    probe: Callable[[SystemInfo], Availability]
    install: str
    cpu_precisions: Callable[[SystemInfo], tuple[str, ...]] = field(default=_no_cpu_candidates)
    device_field: str | None = None

    def make_options(self, device: str | None = None) -> Any:
        """The options for a run: the defaults, with ``--device`` applied when given.

        Raises:
            ConfigError: ``device`` given to a backend that takes none.
        """
        if device is None:
            return self.options()
        if self.device_field is None:
            from srstream.errors import ConfigError

            raise ConfigError(f"--device is not an option of the {self.name} backend ({self.title})")
        return self.options(**{self.device_field: device})

    def runtime_version(self) -> str:
        """``"onnxruntime 1.32.0"``: the installed runtime, or ``"not installed"``."""
        for lib in self.libraries:
            version = package_version(lib)
            if version:
                return f"{lib} {version}"
        return "not installed"

    def open(self, spec: ModelSpec, model: Path | bytes, precision: str, options: Any = None) -> Backend:
        """An opened runner for ``model`` at ``precision`` (``options`` default to the backend's)."""
        module, _, attr = self.runner.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        return cls(spec, model, precision, options if options is not None else self.options())


#: ``SRSTREAM_LANES=1``: a file's frames go through the network one at a time, as a live source's do
#: (:meth:`Backend.lanes`).
LANES_ENV = "SRSTREAM_LANES"


class Backend(ABC):
    """Base class of every inference backend."""

    #: the ``--backend`` name.
    name: str = ""

    def __init__(self, spec: ModelSpec, precision: str) -> None:
        self.spec = spec
        self.precision = precision
        # a graph exported for one picture size (a foreign one: srstream.engine.foreign) takes tiles of it only
        self.fixed_tile = int(spec.arch_params.get("input_size", 0))

    #: Largest batch of tiles per ``infer`` call.
    max_batch: int = 4
    #: Square tile size the backend requires (0: any size, including whole frames).
    fixed_tile: int = 0
    #: The numpy dtype ``infer`` takes without a conversion (tiles are packed straight into it).
    input_dtype: np.dtype = np.dtype(np.float32)
    #: True when the backend runs a ``compact_y`` model's luma-only graph
    #: (:func:`~srstream.engine.models.luma_variant_path`): its tiles then hold luma and its
    #: output is the upscaled luma, and the upscaler carries the chroma (bilinearly, as the
    #: model's own graph does).
    luma_graph: bool = False

    @property
    def device(self) -> str:
        """Where it runs, for the run summary (``"CPU"``, ``"NVIDIA H100 ..."``)."""
        return "CPU"

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on ``batch``; raises :class:`~srstream.errors.BackendError` on failure."""

    def infer_batches(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs of several batches, in order. Backends that can overlap copies and compute
        across batches (TensorRT) override this; the default runs them one by one."""
        return [self.infer(b) for b in batches]

    def lanes(self) -> int:
        """How many frames to run at once when frames queue up (a file's, not a live source's): 1,
        or more where :meth:`lane` gives views that run side by side with better throughput than
        one frame on every core (OpenVINO's streams on a CPU)."""
        return 1

    def lane(self) -> Lane:
        """A view of this backend for one of :meth:`lanes` threads that infer at the same time:
        its own requests, the compiled graphs shared. Only where :meth:`lanes` is above 1."""
        raise NotImplementedError(f"{self.name} runs one frame at a time")

    def run_frame_samples(self, frame: np.ndarray, plan: TilePlan, mode: int, gain: float, bias: float,
                          inv: tuple[float, float]) -> np.ndarray | None:
        """Optional device path for a whole frame of an RGB model: pack, infer, blend and turn the
        result back into samples (``inv``: ``(inv_gain, inv_bias)``) where the model runs.

        Returns the ``(H*s, W*s, C)`` frame of ``frame``'s type (channels past the model's are
        left for the caller), or ``None`` when the backend has no such path.
        """
        return None

    def run_frame_planes(self, frame: np.ndarray, plan: TilePlan, mode: int, gain: float,
                         bias: float) -> np.ndarray | None:
        """Optional device path for a whole frame, stopping at the blended float32
        ``(C_out, H*s, W*s)`` planes (luma models and grey frames finish on the CPU), or ``None``
        when the backend has no such path and the upscaler packs and blends on the CPU."""
        return None

    def run_frame_yuv420(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray], matrix: tuple[float, float, bool],
                         plan: TilePlan, gain: float, bias: float, inv: tuple[float, float]) -> np.ndarray | None:
        """Optional device path for a decoded 8-bit 4:2:0 frame through an RGB model: the
        ``(H*s*3/2, W*s)`` yuv420p result (Y rows, then U and V), or ``None`` (no such path)."""
        return None

    def close(self) -> None:
        """Release sessions, engines and buffers (idempotent)."""

    def memory_budget(self) -> int:
        """Bytes of activation memory one ``infer`` call may use (drives ``--tile auto``)."""
        return 2 << 30

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} {self.precision} on {self.device}"


class Lane:
    """One lane of a backend (:meth:`Backend.lane`): a subclass's ``infer`` runs on what the lane
    holds of its own (an infer request, a session); it runs its frames one at a time, and everything
    else is the backend's."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def infer_batches(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.infer(b) for b in batches]

    def lanes(self) -> int:
        return 1

    def __getattr__(self, name: str):  # noqa: ANN204 - spec, max_batch, input_dtype, luma_graph, ...
        return getattr(self.backend, name)
