"""The backend interface: ``open -> infer(batch) -> close``, context-managed.

A backend runs one model at one precision. ``infer`` takes a float32 ``(N, C, h, w)`` batch with
values in the spec's value range and returns float32 ``(N, C, h * scale, w * scale)``. Backends
with a static input shape (TensorRT engines built for one tile size) say so in ``fixed_tile``;
the upscaler then tiles with exactly that size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType

import numpy as np

from srstream.spec import ModelSpec
from srstream.tiling import TilePlan

__all__ = ["Backend"]


class Backend(ABC):
    """Base class of every inference backend."""

    #: the ``--backend`` name.
    name: str = ""

    def __init__(self, spec: ModelSpec, precision: str) -> None:
        self.spec = spec
        self.precision = precision

    #: Largest batch of tiles per ``infer`` call.
    max_batch: int = 4
    #: Square tile size the backend requires (0: any size, including whole frames).
    fixed_tile: int = 0
    #: The numpy dtype ``infer`` takes without a conversion (tiles are packed straight into it).
    input_dtype: np.dtype = np.dtype(np.float32)

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

    def run_frame(self, frame: np.ndarray, plan: TilePlan, mode: int, gain: float, bias: float,
                  unpack: tuple[float, float] | None) -> np.ndarray | None:
        """Optional device path for a whole frame: pack, infer, blend (and with ``unpack``,
        ``(inv_gain, inv_bias)``, turn the result back into samples) where the model runs.

        Returns the ``(H*s, W*s, C)`` frame (``unpack`` given; channels past the model's are
        left for the caller) or the float32 ``(C_out, H*s, W*s)`` planes, or ``None`` when the
        backend has no such path and the upscaler should pack and blend on the CPU.
        """
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
