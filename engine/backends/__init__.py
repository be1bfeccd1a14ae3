"""Inference backends behind one small interface (``open -> infer(batch) -> close``).

:data:`BACKENDS` is the explicit registry; :func:`open_backend` resolves ``--backend`` and
``--precision`` (``auto`` picks the fastest available combination and says why). :mod:`.probe`
tells which backends this machine can run without importing their heavy runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass

from srstream.errors import ConfigError
from srstream.registry import Entry, Registry

__all__ = ["BACKENDS", "Choice", "choose", "open_backend"]

BACKENDS: Registry[type] = Registry("backend", [
    Entry("ort", "srstream.engine.backends.ort_backend:OrtBackend", "ONNX Runtime"),
    Entry("trt", "srstream.engine.backends.trt_backend:TrtBackend", "TensorRT engines with pycuda"),
    Entry("torch", "srstream.engine.backends.torch_backend:TorchBackend", "PyTorch reference"),
])


@dataclass(frozen=True)
class Choice:
    backend: str
    precision: str
    reason: str


def choose(model, backend: str = "auto", precision: str = "auto") -> Choice:  # noqa: ANN001 - ResolvedModel
    """Resolve ``auto`` for ``model`` on this machine.

    ``auto`` backend: TensorRT when tensorrt, pycuda and a GPU are present; else ONNX Runtime.
    ``auto`` precision: fp16 on GPUs; on the CPU the INT8 graph when the model ships one (its
    measured PSNR cost is in the spec's metrics), else fp32.

    Raises:
        ConfigError: an unknown backend name.
    """
    from srstream.engine.backends.probe import probe
    from srstream.engine.models import available_precisions
    from srstream.sysinfo import collect

    if backend not in ("auto", *BACKENDS.names()):
        raise ConfigError(f"unknown backend {backend!r}; known: auto, {', '.join(BACKENDS.names())}")
    if backend == "auto":
        status = {s.name: s for s in probe(collect())}
        backend = "trt" if status["trt"].available else "ort"
        why = "TensorRT and an NVIDIA GPU found" if backend == "trt" else status["trt"].detail
    else:
        why = "chosen with --backend"
    if precision != "auto":
        return Choice(backend, precision, why)
    variants = available_precisions(model.path)
    if backend == "trt":
        return Choice(backend, "fp16", why)
    if backend == "torch":
        return Choice(backend, "fp32", why)
    import onnxruntime as ort

    gpu = any(p in ort.get_available_providers() for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    if gpu:
        return Choice(backend, "fp16" if "fp16" in variants else "fp32", why + "; ONNX Runtime with a CUDA provider")
    if "int8" in variants:
        return Choice(backend, "int8", why + "; INT8 graph on the CPU")
    return Choice(backend, "fp32", why + "; CPU")


def open_backend(model, choice: Choice):  # noqa: ANN001, ANN201 - ResolvedModel -> Backend
    """Instantiate the chosen backend for ``model``."""
    cls = BACKENDS.load(choice.backend)
    return cls(model.spec, model.path, choice.precision)
