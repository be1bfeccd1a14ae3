"""Shared by subcommands whose implementation has not shipped yet: they parse, then say so."""

from __future__ import annotations

import argparse

from srstream.commands import Command
from srstream.errors import SRStreamError


def pending(what: str, description: str) -> Command:
    """A command that accepts any arguments and fails with a clear message naming ``what``."""

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(args: argparse.Namespace) -> int:
        raise SRStreamError(f"{what} is not part of this version of sr-stream yet")

    return Command(configure, run, description)
