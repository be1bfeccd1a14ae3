"""Inference backends behind one small interface (``open -> infer(batch) -> close``).

:data:`BACKENDS` is the only table of backends: each row points at a backend module's
``BACKEND`` declaration (:class:`~srstream.engine.backends.base.BackendDef`: name, options,
precisions, availability probe, install line, runner). Adding a backend is one module and one row
here; the command line's ``--backend`` choices, ``sr-stream info`` and ``--precision auto``'s
candidates come from the declarations. Declaration modules import their runtimes only inside
functions, so reading the table imports no runtime.

Which backend and precision ``auto`` means is decided, measured and cached by
:mod:`srstream.engine.autotune`; :func:`open_backend` opens a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srstream.engine.backends.base import Availability, Backend, BackendDef
from srstream.registry import Entry, Registry

__all__ = ["BACKENDS", "Availability", "Backend", "BackendDef", "Choice", "backend_def", "backend_names",
           "definitions", "open_backend"]

BACKENDS: Registry[BackendDef] = Registry("backend", [
    Entry("ort", "srstream.engine.backends.ort_backend:BACKEND", "ONNX Runtime"),
    Entry("ov", "srstream.engine.backends.ov_backend:BACKEND", "OpenVINO"),
    Entry("trt", "srstream.engine.backends.trt_backend:BACKEND", "TensorRT engines with pycuda"),
    Entry("torch", "srstream.engine.backends.torch_backend:BACKEND", "PyTorch reference"),
])


def backend_names() -> tuple[str, ...]:
    """``--backend`` choices after ``auto``, in table order."""
    return BACKENDS.names()


def backend_def(name: str) -> BackendDef:
    """The declaration of backend ``name``.

    Raises:
        RegistryError: unknown name (the message lists the known ones).
    """
    return BACKENDS.load(name)


def definitions() -> list[BackendDef]:
    """Every backend's declaration, in table order."""
    return [BACKENDS.load(name) for name in BACKENDS.names()]


@dataclass(frozen=True)
class Choice:
    """A backend and precision to open, the options to open it with, and why they were chosen."""

    backend: str
    precision: str
    reason: str
    options: Any = None  # the backend's options dataclass; None: its defaults


def open_backend(model, choice: Choice) -> Backend:  # noqa: ANN001 - ResolvedModel
    """Open ``choice`` for ``model`` (a :class:`~srstream.engine.models.ResolvedModel`)."""
    return backend_def(choice.backend).open(model.spec, model.path, choice.precision, choice.options)
