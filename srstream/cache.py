"""Where sr-stream keeps what it computes once per machine: TensorRT engines, imported peer models,
measured backend choices.

``$SRSTREAM_CACHE`` when set, else ``$XDG_CACHE_HOME/sr-stream``, else ``~/.cache/sr-stream``.
Everything in it can be deleted at any time; it is rebuilt when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("SRSTREAM_CACHE"):
        return Path(os.environ["SRSTREAM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sr-stream"
