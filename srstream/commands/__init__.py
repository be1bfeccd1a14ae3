"""Subcommands of the ``sr-stream`` CLI, one module each, imported only when chosen.

Each module defines ``COMMAND = Command(configure, run)``: ``configure`` adds the arguments to
an argparse parser, ``run`` does the work and returns the exit code (raising
:class:`~srstream.errors.SRStreamError` subclasses for failures). The table of names lives in
:mod:`srstream.cli`. Command modules stay torch-free at import time so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PRECISIONS", "Command", "add_backend_arguments", "frame_size", "non_negative_number", "positive_number",
           "whole_number"]

#: ``--precision`` choices (what each backend runs is in its declaration).
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class Command:
    """One subcommand: how to parse its arguments and how to run it."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


def add_backend_arguments(parser: argparse.ArgumentParser, backend_help: str) -> None:
    """``--backend`` (choices from the backend registry), ``--precision`` and ``--device``."""
    from srstream.engine.backends import backend_names  # the registry's names; no runtime is imported

    parser.add_argument("--backend", choices=("auto", *backend_names()), default="auto", help=backend_help)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="numeric precision (default: the fastest one that is accurate on this machine)")
    parser.add_argument("--device", help="where the backend runs, for backends with devices: OpenVINO's CPU, GPU, "
                                         "GPU.1, NPU or AUTO; torch's cpu or cuda")


def frame_size(text: str) -> tuple[int, int]:
    """argparse type of ``WIDTHxHEIGHT`` options (``--input 640x360``)."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x360, got {text!r}")
    return int(w), int(h)


def positive_number(text: str, *, zero: bool = False) -> float:
    """argparse type of a rate, a budget or a time above 0 (``--fps 29.97``, ``--max-latency 50``;
    ``zero``: 0 or more): ``float`` alone also reads ``nan`` and ``inf``, which passed every ``<= 0``
    check after it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not ((value >= 0 if zero else value > 0) and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number {'of 0 or more' if zero else 'above 0'}, got {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """argparse type of a budget of 0 or more (``--int8-max-cost 0.04``), finite."""
    return positive_number(text, zero=True)


def whole_number(minimum: int) -> Callable[[str], int]:
    """argparse type of a count of ``minimum`` or more (``--calib-count 64``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of {minimum} or more, got {text!r}")
        return value

    parse.__name__ = "whole_number"  # argparse names the type in some messages
    return parse
