"""Silencing what the export tools print on their own account (torch-free, so the fp16
converter and the TensorRT builder, which the GPU runtime uses, need no torch)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence what the export tools print on their own account: torch's exporter (progress
    lines, internal deprecation warnings), onnxscript, ONNX Runtime's converters and quantizer
    (advice on the root logger, calibration progress on stdout). Real failures still raise."""
    loggers = [logging.getLogger(name) for name in ("", "torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
