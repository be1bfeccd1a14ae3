"""sr-stream: a real-time super-resolution engine.

This package is the torch-free core every part imports: the model spec (:mod:`srstream.spec`),
the tile planner (:mod:`srstream.tiling`), the error hierarchy (:mod:`srstream.errors`), the
registry helper (:mod:`srstream.registry`) and the command line (:mod:`srstream.cli`), and the
Python API: ``from srstream import Upscaler`` (:mod:`srstream.engine.api`, imported on first use).
The heavier parts live in sub-packages imported only when used: ``srstream.engine`` (runtime,
never imports torch), ``srstream.export``, ``srstream.trainer`` and ``srstream.archs`` (torch).
"""

from pathlib import Path as _Path

from srstream import _checkout

__version__ = "0.1.0"

_checkout.install(_Path(__file__).resolve().parent)

__all__ = ["Upscaler", "__version__"]


def __getattr__(name: str):  # noqa: ANN202 - ``from srstream import Upscaler``, imported when asked for
    if name == "Upscaler":
        from srstream.engine.api import Upscaler

        return Upscaler
    raise AttributeError(f"module 'srstream' has no attribute {name!r}")
