"""The one error hierarchy of sr-stream.

Library code raises these (translating third-party errors with ``raise ... from``); only the
CLI turns them into messages and exit codes. Every message names the object, what was expected
and what to do about it.

Exit codes (see :data:`EXIT_CODES`) let scripts tell a bad input from a broken install.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "EXIT_CODES",
    "BackendError",
    "ConfigError",
    "DependencyError",
    "ExportError",
    "InputError",
    "KernelError",
    "ModelError",
    "OutputError",
    "RegistryError",
    "SpecError",
    "SRStreamError",
    "TilingError",
    "exit_code_for",
    "unreadable_weights",
]


class SRStreamError(Exception):
    """Base class of every error sr-stream raises on purpose."""

    exit_code = 1


class ConfigError(SRStreamError, ValueError):
    """A command-line option, recipe or override is invalid."""

    exit_code = 2


class RegistryError(ConfigError, KeyError):
    """An unknown or duplicate name in one of the registries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(SRStreamError):
    """An input is missing, unreadable, corrupt, empty or unsupported. Nothing was written."""

    exit_code = 3


class OutputError(SRStreamError):
    """An output cannot be written (exists, unwritable, disk full). The input is untouched."""

    exit_code = 4


class ModelError(SRStreamError):
    """A model is missing, corrupt, or its spec does not fit the request."""

    exit_code = 5


class SpecError(ModelError, ValueError):
    """A model spec is malformed: wrong types, values out of range, unknown keys."""


class ExportError(ModelError):
    """A model cannot be exported, or the export does not compute what the source model does
    (a parity check failed)."""


class TilingError(SRStreamError, ValueError):
    """A tile plan cannot be made with the requested tile size, overlap and model."""

    exit_code = 2


class BackendError(SRStreamError):
    """An inference backend failed to open or to run."""

    exit_code = 6


class KernelError(BackendError, ValueError):
    """A native frame kernel (``srstream.engine._native``) refused its arguments: a bug in the caller."""


class DependencyError(SRStreamError, ImportError):
    """An optional package (torch, tensorrt, pycuda, openvino, matplotlib, onnx...) is missing.

    Its own exit code (not a backend failure: nothing ran), and the message carries the exact
    ``pip install`` line that fixes it.
    """

    exit_code = 7


#: How to get torch for training, the exporter and the torch backend: one instruction everywhere
#: (torch first, for the hardware at hand, so the extra does not pull a CUDA build from PyPI).
TORCH_INSTALL = ("pip install torch --index-url https://download.pytorch.org/whl/cpu (or the torch build for your "
                 "GPU), then pip install 'sr-stream[train]'")

EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "error": SRStreamError.exit_code,
    "usage": ConfigError.exit_code,
    "input": InputError.exit_code,
    "output": OutputError.exit_code,
    "model": ModelError.exit_code,
    "backend": BackendError.exit_code,
    "dependency": DependencyError.exit_code,
    "interrupted": 130,
}


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``kill``, ``timeout``, a container stop, a closed terminal), raised in
    the main thread by the CLI's handler so it stops like Ctrl-C: work in flight is finished and
    kept, nothing complete is replaced."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: The signal that stopped the run (SIGINT unless the CLI's handler saw another).
_stopped_by = {"signum": 2}


def note_signal(signum: int) -> None:
    _stopped_by["signum"] = signum


def interrupted_exit_code() -> int:
    """128 + the signal that stopped the run: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + _stopped_by["signum"]


def exit_code_for(error: BaseException) -> int:
    """The process exit code the CLI uses for ``error``."""
    if isinstance(error, Interrupted):
        return 128 + error.signum
    if isinstance(error, KeyboardInterrupt):
        return EXIT_CODES["interrupted"]
    if isinstance(error, SRStreamError):
        return error.exit_code
    return 1


def unreadable_weights(path: Path, exc: BaseException) -> str:
    """Why the weight file ``path`` did not load (``exc``: what ``torch.load(weights_only=True)`` or
    safetensors raised), in words that say what to do. PyTorch's own text (a page long) suggests
    loading again with ``weights_only=False``, which would run whatever the file holds, and said so
    for a damaged file too."""
    text = str(exc)
    if "Unsupported global" in text or "GLOBAL" in text:
        found = text.split("Unsupported global:", 1)[-1].split("was not an allowed global", 1)[0].strip(" :")
        held = f" ({found})" if "Unsupported global" in text and found else ""
        return (f"{path} holds Python objects beside its tensors{held}, a pickled model or training state: "
                "sr-stream loads weights only and never unpickles arbitrary objects; save its state dict "
                "(torch.save(model.state_dict(), 'weights.pth')) or convert it to safetensors")
    if path.suffix == ".safetensors":
        return f"{path} is not a readable safetensors file ({text.splitlines()[0] if text else exc!r})"
    reason = text.split("WeightsUnpickler error:", 1)[-1].strip() or type(exc).__name__
    reason = reason.splitlines()[0].split(". ")[0].strip()  # PyTorch's first sentence; its advice is not ours
    return f"{path} is not a PyTorch checkpoint sr-stream can read (damaged, cut short or another kind of file: " \
           f"{reason})"
