"""Third-party weight files (``.pth``, ``.pt``, ``.safetensors``: the community's ESRGAN, Real-ESRGAN
compact, SPAN and RealPLKSR models, leftthomas/SRGAN) as ONNX graphs the engine runs: imported,
exported and verified by sr-stream's exporter once (torch needed, imported here only when a file is
not in the cache yet), then kept in the cache, keyed by the file's contents, so a changed file is
exported again and an unchanged one is not. OpenCV dnn_superres's TensorFlow graphs (``.pb``:
ESPCN, FSRCNN, LapSRN) likewise, converted by :mod:`srstream.tfgraph` (onnx needed, not torch).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from srstream.errors import DependencyError, InputError, OutputError

__all__ = ["WEIGHT_SUFFIXES", "imported_graph", "imported_onnx", "is_weight_file"]

#: The weight files :func:`imported_onnx` takes (``.pb``: a TensorFlow graph, OpenCV dnn_superres's).
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".pb")


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
    if path.suffix.lower() == ".pb":
        return imported_graph(path, name, out, log or (lambda line: print(line, file=sys.stderr)))
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


def imported_graph(path: Path, name: str, out: Path, log: Callable[[str], object]) -> Path:
    """An OpenCV dnn_superres ``.pb`` graph converted (:func:`srstream.tfgraph.to_onnx`), checked
    against OpenCV's own run of it where OpenCV can, its spec measured by running it as any graph
    from elsewhere is (:func:`srstream.engine.foreign.foreign_spec`) and written into it, and kept
    at ``out``."""
    import dataclasses

    import onnxruntime as ort

    from srstream.atomic import write_atomic
    from srstream.engine.foreign import foreign_spec
    from srstream.tfgraph import check_against_opencv, to_onnx

    data = path.read_bytes()
    model = to_onnx(data, name, str(path))
    worst = check_against_opencv(data, model.SerializeToString(), str(path))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    spec = foreign_spec(path, session)
    checked = (f"equal to OpenCV's run of it within {worst:.0e}" if worst is not None else
               "not checked against OpenCV (this OpenCV has no TensorFlow importer)")
    measured = spec.source.split("(", 1)[1].rstrip(")")
    spec = dataclasses.replace(spec, name=name,
                               source=f"{path.name}: OpenCV dnn_superres TensorFlow graph converted by sr-stream, "
                                      f"{checked}; spec measured ({measured})")
    for key, value in spec.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, model.SerializeToString())
    except OSError as exc:
        raise OutputError(f"cannot keep the imported model in {out.parent}: {exc}; point SRSTREAM_CACHE at a "
                          "folder with room and write access") from exc
    log(f"imported {path.name}: x{spec.scale} on the luma, {checked}; kept as {out}")
    return out
