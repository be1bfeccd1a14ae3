"""Writing files so that nobody ever sees half of one: a hidden temporary file beside the target,
then one rename. Shared by the exporter, the engine cache, image and video outputs."""

from __future__ import annotations

import os
from pathlib import Path

from srstream.errors import OutputError

__all__ = ["partial_path", "write_atomic"]


def partial_path(path: Path) -> Path:
    """The temporary name for ``path``: hidden, with the same extension (encoders pick the
    format from it), e.g. ``out/.clip_x2.partial.mp4``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_atomic(path: Path, data: bytes) -> int:
    """Write ``data`` to ``path`` (creating its folder) via :func:`partial_path`; returns the size.

    Raises:
        OutputError: the folder is not writable or the disk is full; nothing is left behind.
    """
    path = Path(path)
    tmp = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; check the folder and free space") from exc
    return len(data)
