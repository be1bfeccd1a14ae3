"""Where sr-stream keeps what it computes once per machine: TensorRT engines, imported peer models,
measured backend choices, models adapted to a video.

``$SRSTREAM_CACHE`` when set, else ``$XDG_CACHE_HOME/sr-stream``, else ``~/.cache/sr-stream``.
Everything in it can be deleted at any time; it is rebuilt when needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from srstream.errors import OutputError

__all__ = ["cache_root", "new_entry", "unwritable"]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("SRSTREAM_CACHE"):
        return Path(os.environ["SRSTREAM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sr-stream"


def unwritable(folder: Path, exc: OSError) -> OutputError:
    """The error for a cache entry that could not be written into ``folder``'s parent: what to do."""
    return OutputError(f"could not keep the adapted model in {folder.parent}: {exc}; free some space there, or "
                       "point SRSTREAM_CACHE at a folder with room and write access")


@contextmanager
def new_entry(folder: Path, complete: Callable[[], bool], prefix: str, part: str = "") -> Iterator[Path]:
    """A work folder beside ``folder`` to make a cache entry in; when the block ends, its ``part``
    (all of it by default) becomes ``folder``, unless ``complete()`` says another run made the same
    entry meanwhile (an incomplete entry an earlier crash left is replaced). The work folder never
    stays behind, and an ``OSError`` (a full disk, a read-only cache) becomes :func:`unwritable`'s error."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=folder.parent))
    except OSError as exc:
        raise unwritable(folder, exc) from exc
    try:
        yield work
        if not complete():
            shutil.rmtree(folder, ignore_errors=True)
            try:
                os.replace(work / part if part else work, folder)
            except OSError:
                if not complete():
                    raise
    except OSError as exc:
        raise unwritable(folder, exc) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
