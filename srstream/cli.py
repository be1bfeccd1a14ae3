"""The ``sr-stream`` command line (also ``python -m srstream``).

``sr-stream INPUT [-o OUTPUT] ...`` upscales (the default action, also spelled
``sr-stream upscale INPUT``); ``train``, ``export``, ``bench`` and ``info`` are subcommands.
Subcommands are registered by name and imported only when chosen, so ``sr-stream --help`` and
``sr-stream info`` never import torch.

A first argument that is a subcommand name always means the subcommand, even when a file of
that name exists; in that case a note says how to upscale the file instead (``./NAME`` or
``sr-stream upscale NAME``). Anything else is an input to upscale.

This module is the only place that turns exceptions into messages and exit codes.
"""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
import threading
from collections.abc import Sequence

from srstream import __version__
from srstream.commands import Command
from srstream.errors import ConfigError, Interrupted, SRStreamError, exit_code_for, note_signal
from srstream.registry import Entry, Registry

__all__ = ["COMMANDS", "DEFAULT_COMMAND", "main"]

PROG = "sr-stream"
DEFAULT_COMMAND = "upscale"

COMMANDS: Registry[Command] = Registry("subcommand", [
    Entry("upscale", "srstream.commands.upscale:COMMAND",
          "upscale a video, image or folder (the default: `sr-stream INPUT`)"),
    Entry("train", "srstream.commands.train:COMMAND",
          "train a generator from a recipe", "pip install torch (for your hardware), then 'sr-stream[train]'"),
    Entry("export", "srstream.commands.export:COMMAND",
          "checkpoint -> ONNX (fp32/fp16/int8) -> TensorRT engine", "pip install 'sr-stream[export]'"),
    Entry("bench", "srstream.commands.bench:COMMAND",
          "quality (PSNR/SSIM) and speed benchmarks"),
    Entry("info", "srstream.commands.info:COMMAND",
          "versions, CPU features, GPUs and available backends (--json)"),
])


def _top_help() -> str:
    width = max(len(n) for n in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {entry.summary}" for name, entry in COMMANDS.entries().items())
    return f"""usage: {PROG} INPUT [-o OUTPUT] [options]      upscale (see `{PROG} upscale --help`)
       {PROG} COMMAND [options]

Real-time super-resolution for video files, images, folders, cameras and screens.

commands:
{rows}

options:
  -h, --help     show this help and exit
  --version      show the version and exit

`{PROG} COMMAND --help` shows a command's options. A first argument that names a command
runs the command; to upscale a file called like a command, write ./NAME.
"""


def _could_be_input(name: str) -> bool:
    """A file, or a folder holding images: something `sr-stream NAME` could have meant to upscale
    (the repository's own `export/` package folder is neither)."""
    if os.path.isfile(name):
        return True
    if os.path.isdir(name):
        from srstream.images import FOLDER_SUFFIXES

        try:
            return any(os.path.splitext(entry)[1].lower() in FOLDER_SUFFIXES for entry in os.listdir(name))
        except OSError:
            return False
    return False


def _split(argv: list[str]) -> tuple[str, list[str]]:
    """Pick the subcommand and its arguments from ``argv`` (see the module docstring)."""
    first = argv[0]
    if first in COMMANDS:
        if _could_be_input(first):
            print(f"{PROG}: note: running the '{first}' command; to upscale the file '{first}' "
                  f"run `{PROG} ./{first}`", file=sys.stderr)
        return first, argv[1:]
    if not first.startswith("-") and not os.path.exists(first):
        close = difflib.get_close_matches(first, COMMANDS.names(), n=1, cutoff=0.75)
        if close:
            raise ConfigError(
                f"'{first}' is neither a command nor an existing file; did you mean "
                f"`{PROG} {close[0]}`?"
            )
    return DEFAULT_COMMAND, argv


def _run(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(_top_help())
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(_top_help())
        return 0
    if argv[0] == "--version":
        print(f"{PROG} {__version__}")
        return 0
    name, rest = _split(argv)
    command = COMMANDS.load(name)
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {name}" if name != DEFAULT_COMMAND or argv[:1] == [name] else PROG,
        description=command.description or COMMANDS.entry(name).summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.configure(parser)
    dashed = next((arg for arg in rest[:rest.index("--") if "--" in rest else len(rest)]
                   if arg.startswith("-") and arg not in parser._option_string_actions and os.path.exists(arg)), None)
    if dashed is not None:  # argparse said "unrecognized arguments" or "input is required"
        raise ConfigError(f"{dashed} is read as an option; to upscale the file {dashed}, write ./{dashed} (or put -- "
                          "before it)")
    # several inputs may come on either side of options (`sr-stream a.mp4 --crf 18 b.mp4`); Python
    # 3.11's intermixed parsing loses the inputs after a `--` (`sr-stream --crf 18 -- -clip.mp4`)
    intermixed = name == DEFAULT_COMMAND and "--" not in rest
    args = parser.parse_intermixed_args(rest) if intermixed else parser.parse_args(rest)
    return command.run(args)


#: Stop signals a stopping run lets by while it finishes what it has (its output written whole, or its
#: part kept): a second Ctrl-C, or ``timeout``'s signal sent to the process and then to its group,
#: landed while a live recording's muxer was being closed and lost the whole recording (its temporary
#: file deleted as the exception passed). The one after these stops it at once, as FFmpeg's fourth does.
LET_BY = 2

_signals = {"count": 0}


def _raise_interrupted(signum: int, frame: object) -> None:
    _signals["count"] += 1
    if 1 < _signals["count"] <= LET_BY + 1:
        left = LET_BY + 2 - _signals["count"]
        try:  # os.write: a print here could re-enter one the signal interrupted
            os.write(2, f"{PROG}: stopping; what was done is being kept (Ctrl-C {left} more "
                        f"time{'s' if left > 1 else ''} quits at once and loses it)\n".encode())
        except OSError:  # a closed terminal (SIGHUP)
            pass
        return
    if _signals["count"] == 1:
        note_signal(signum)
    raise Interrupted(signum)


def _stop_signals() -> dict[int, object]:
    """SIGTERM and SIGHUP stop a run like Ctrl-C (outputs finished and kept, never half-written).
    SIGINT gets the same handler even when the process inherited it ignored (as a shell's
    background jobs and some CI runners start it), so ``kill -INT`` always stops a run, as it
    stops FFmpeg. Returns the previous handlers (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    _signals["count"] = 0
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, _raise_interrupted)
    note_signal(signal.SIGINT)
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    previous = _stop_signals()
    try:
        return _run(args)
    except KeyboardInterrupt as exc:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return exit_code_for(exc)
    except SRStreamError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    except BrokenPipeError:  # `sr-stream info | head`: the reader left early; not an error
        try:  # keep the interpreter's final flush from failing on the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
