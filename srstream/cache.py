"""Where sr-stream keeps what it computes once per machine: TensorRT engines, imported peer models,
measured backend choices, models adapted to a video.

``$SRSTREAM_CACHE`` when set, else ``$XDG_CACHE_HOME/sr-stream``, else ``~/.cache/sr-stream``.
Everything in it can be deleted at any time; it is rebuilt when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from srstream.errors import OutputError

__all__ = ["cache_root", "unwritable"]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("SRSTREAM_CACHE"):
        return Path(os.environ["SRSTREAM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sr-stream"


def unwritable(folder: Path, exc: OSError) -> OutputError:
    """The error for a cache entry that could not be written into ``folder``'s parent: what to do."""
    return OutputError(f"could not keep the adapted model in {folder.parent}: {exc}; free some space there, or "
                       "point SRSTREAM_CACHE at a folder with room and write access")
