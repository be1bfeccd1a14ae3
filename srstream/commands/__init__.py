"""Subcommands of the ``sr-stream`` CLI, one module each, imported only when chosen.

Each module defines ``COMMAND = Command(configure, run)``: ``configure`` adds the arguments to
an argparse parser, ``run`` does the work and returns the exit code (raising
:class:`~srstream.errors.SRStreamError` subclasses for failures). The table of names lives in
:mod:`srstream.cli`. Command modules stay torch-free at import time so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command"]


@dataclass(frozen=True)
class Command:
    """One subcommand: how to parse its arguments and how to run it."""

    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""
