"""Third-party weight files (``.pth``, ``.pt``, ``.safetensors``: the community's ESRGAN, Real-ESRGAN
compact, SPAN and RealPLKSR models, leftthomas/SRGAN) as ONNX graphs the engine runs: imported,
exported and verified by sr-stream's exporter once (torch needed, imported here only when a file is
not in the cache yet), then kept in the cache, keyed by the file's contents, so a changed file is
exported again and an unchanged one is not.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from srstream.errors import DependencyError, InputError, OutputError

__all__ = ["WEIGHT_SUFFIXES", "imported_onnx", "is_weight_file"]

#: The weight files :func:`imported_onnx` takes.
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")


def is_weight_file(name: str | Path) -> bool:
    """Whether ``name`` names a weight file :func:`imported_onnx` takes (by its suffix)."""
    return Path(name).suffix.lower() in WEIGHT_SUFFIXES


def _default_cache() -> Path:
    from srstream.cache import cache_root

    return cache_root() / "peers"


def imported_onnx(path: Path, name: str | None = None, cache_dir: Path | None = None,
                  log: Callable[[str], object] | None = None) -> Path:
    """The ONNX file of the weights at ``path``: the cached one, or exported (and verified) into the
    cache now, its progress given to ``log`` (default: standard error, so that an output on standard
    output stays clean). ``name`` names the model (default: the file's stem).

    Raises:
        InputError: no such file.
        DependencyError: torch or the exporter's other packages are not installed.
        ModelError: the file is no format sr-stream imports, or its export failed its checks.
        OutputError: the cache cannot be written.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    name = name or path.stem
    out = (cache_dir or _default_cache()) / f"{re.sub(r'[^A-Za-z0-9._+-]', '_', name)[:80]}-{digest}.onnx"
    if out.is_file():
        return out
    try:
        from srstream.export.pipeline import ExportOptions, describe, run_export
    except ModuleNotFoundError as exc:
        raise DependencyError(f"{path} holds PyTorch weights, which sr-stream's exporter turns into the ONNX graph "
                              f"it runs, once; that needs {exc.name}: pip install 'sr-stream[export,train]' (or "
                              f"export it where that is installed, sr-stream export {path} -o {path.stem}.onnx, "
                              "and pass the .onnx)") from exc
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot keep the imported model in {out.parent}: {exc}; point SRSTREAM_CACHE at a "
                          "folder with room and write access") from exc
    log = log or (lambda line: print(line, file=sys.stderr))
    for line in describe(run_export(path, ExportOptions(out=out, name=name), log=log))[1:]:
        log(line)  # its parity with PyTorch, and where it is kept
    return out
