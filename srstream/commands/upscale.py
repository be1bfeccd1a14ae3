"""``sr-stream INPUT`` / ``sr-stream upscale INPUT``: upscale a video, an image or a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from srstream.commands import Command
from srstream.errors import SRStreamError


def tile_size(text: str) -> int | str:
    """``--tile``: ``auto`` or a non-negative integer (0 = whole frames)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number of pixels, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"tile size must be >= 0, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video file, image, or folder of images")
    parser.add_argument("-o", "--output", type=Path,
                        help="output path (default: INPUT_xS.ext beside the input)")
    parser.add_argument("-m", "--model", default=None,
                        help="bundled model name or path to an exported .onnx (default: realtime-x2)")
    parser.add_argument("--backend", choices=("auto", "ort", "trt", "torch"), default="auto",
                        help="inference backend (default: the fastest available)")
    parser.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16", "int8"),
                        default="auto", help="numeric precision (default: fastest correct)")
    parser.add_argument("--tile", type=tile_size, default="auto",
                        help="tile size in input pixels, 0 for whole frames, or auto")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    from srstream.engine.media import probe
    from srstream.engine.models import DEFAULT_MODEL, resolve_model
    from srstream.engine.outputs import check_output, default_output

    media = probe(args.input)
    model = resolve_model(args.model or DEFAULT_MODEL)
    output = args.output or default_output(media.path, model.spec.scale, media.kind)
    check_output(media.path, output, overwrite=args.overwrite)
    raise SRStreamError(
        f"{media.kind} {media.path} and model {model.name} (x{model.spec.scale}) are valid, but "
        "the streaming engine is not part of this version yet; nothing was written"
    )


COMMAND = Command(configure, run, "Upscale a video (audio and subtitles kept), an image or a folder.")
