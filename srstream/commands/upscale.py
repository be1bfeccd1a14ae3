"""``sr-stream INPUT`` / ``sr-stream upscale INPUT``: upscale a video, an image, a folder or a glob."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from srstream.commands import Command, add_backend_arguments, positive_number
from srstream.engine.encode import DEFAULT_PRESET
from srstream.errors import ConfigError, InputError, OutputError, SRStreamError

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


def _factor(text: str) -> float:
    try:
        value = float(text.lower().removeprefix("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a factor such as 2, 1.5 or 3, got {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"a factor of 1 or more, got {text!r} (sr-stream does not shrink)")
    if not math.isfinite(value):  # inf passed, to fail as "cannot convert float infinity to integer"
        raise argparse.ArgumentTypeError(f"expected a factor such as 2, 1.5 or 3, got {text!r}")
    return value


def _sized_model(args: argparse.Namespace, height: int | None):  # noqa: ANN202 - (ResolvedModel, OutputSize, tag)
    """``--model`` / ``--scale`` / ``--height`` / ``--fast`` for an input ``height`` pixels high (None:
    unknown, a folder): the model, the :class:`~srstream.engine.upscaler.OutputSize` its output is
    resized to (None: its own factor) and the tag of the default output's name (``x2``, ``x1.5``,
    ``1080p``)."""
    from srstream.engine.models import MODEL_FOR_SCALE, pick_model
    from srstream.engine.upscaler import OutputSize

    if args.height is not None and args.scale is not None:
        raise ConfigError("--scale and --height both set the output size: give one")
    if args.height is None and (args.scale is None or (args.scale == int(args.scale) and not args.model
                                                       and int(args.scale) in MODEL_FOR_SCALE)):
        model = pick_model(args.model, int(args.scale) if args.scale else None, fast=args.fast)
        return model, None, f"x{model.spec.scale}"
    rule = OutputSize(scale=args.scale) if args.height is None else OutputSize(height=args.height)
    if height and args.height is not None and args.height < height:
        raise ConfigError(f"--height {args.height} is below the input's {height}: sr-stream does not shrink")
    factor = args.scale if args.scale is not None else (args.height / height if height else None)
    if args.model:
        model = pick_model(args.model, None)
    else:
        net = next((s for s in sorted(MODEL_FOR_SCALE) if factor is not None and s >= factor - 1e-9),
                   max(MODEL_FOR_SCALE))
        model = pick_model(None, net, fast=args.fast)
    if factor is not None and factor > model.spec.scale + 1e-9:  # only interpolation would make up the rest
        asked = f"--scale {args.scale:g}" if args.scale is not None else f"--height {args.height} (x{factor:.3g})"
        raise ConfigError(f"model {model.name} upscales x{model.spec.scale}, not x{factor:.3g}: {asked} would enlarge "
                          f"its output by interpolation; pick a model of x{factor:.3g} or more, or a smaller size "
                          "(or run twice: the first output as the second input)")
    if args.scale is not None and args.scale == model.spec.scale:
        return model, None, f"x{model.spec.scale}"
    return model, rule, rule.label


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="+",  # kept as written: a URL is no path (Path would fold its "//")
                        help="video file, image, folder of images, a quoted glob ('shots/*.png'), or a live source: "
                             "camera[:N], screen[:DISPLAY][@x,y,w,h], window:TITLE, lavfi:GRAPH, or a network "
                             "stream's URL (rtsp://, rtmp://, srt://, udp://, http(s):// for HLS or MJPEG). "
                             "Several files or folders (a shell's unquoted *.mp4) are each upscaled as alone, "
                             "into -o FOLDER where given")
    parser.add_argument("-o", "--output", type=_output_arg,
                        help="output path (default: INPUT_xS.ext beside the input; a folder for folders/globs), "
                             "or an existing folder (the output goes there under its default name); for a video, "
                             "numbered frames with 'frames/%%06d.png'; for a folder of images, a video (an image "
                             "sequence, --fps)")
    parser.add_argument("-m", "--model", default=None,
                        help="bundled model (realtime-x2; realtime-x2-compressed, which heavily compressed videos take; "
                             "realtime-x2-screen, which screen recordings and games take; tiny-x2, tiny-x2-deep, "
                             "realtime-x4, realtime-x4-compressed, which --scale 4 takes for heavily compressed input; "
                             "quality-x4, gan-x4) or an exported .onnx (default: realtime-x2)")
    parser.add_argument("--scale", type=_factor,
                        help="upscaling factor: 2 or 4 pick the bundled model for it; any other factor of 1 or "
                             "more (1.5, 3) runs the model of the next larger factor and shrinks its output to "
                             "it (area filter); with --model, a factor below the model's shrinks its output")
    parser.add_argument("--deinterlace", choices=("auto", "on", "off", "double"), default="auto",
                        help="for video: auto (default) deinterlaces a video whose first frame is interlaced (DVD, "
                             "TV captures) with FFmpeg's bwdif before upscaling, a frame out for each frame in, or "
                             "rebuilds telecined film (3:2 pulldown) into its 24 fps frames; double: as auto, but a "
                             "frame out for each field (50i/60i sport and TV shot as video become 50/60 fps, twice "
                             "the work); on: bwdif on every frame marked interlaced; off: the fields upscaled as they "
                             "are (combing kept)")
    parser.add_argument("--height", type=int, default=None,
                        help="output height in pixels (e.g. 1080: 720p -> 1080p), the width following the aspect "
                             "ratio, both even; the model of the factor that reaches it, its output shrunk to it")
    parser.add_argument("--fast", action="store_true",
                        help="the cheapest bundled model of the scale (tiny-x2 at x2): for slow CPUs and big inputs")
    add_backend_arguments(parser, "inference backend (default: the fastest one that is accurate here, measured "
                                  "once per machine; `sr-stream info --tune` shows the table)")
    parser.add_argument("--tile", type=tile_size, default="auto",
                        help="tile size in input pixels, 0 for whole frames, or auto")
    parser.add_argument("--ensemble", action="store_true",
                        help="x8 self-ensemble: every flip/rotation upscaled and averaged (about +0.1 dB, 8x the time; "
                             "for stills and offline video)")
    parser.add_argument("--ext", metavar="FORMAT",
                        help="write image outputs in this format (png, jpg, webp, avif, tif, bmp, heic, jxl), not each "
                             "input's: a folder's or glob's images (an animation, a TIFF's pages or a GIF that the "
                             "format cannot hold keep theirs, named), or one image's default output")
    parser.add_argument("--quality", type=int, metavar="1-100",
                        help="the quality of lossy image outputs (JPEG, WebP, AVIF, HEIC, JPEG XL; a WebP is then "
                             "lossy), a video's numbered frames' too: lower for smaller files (default: JPEG, WebP, "
                             "AVIF and JPEG XL 95, HEIC 75; a WebP of a lossless source lossless; a JPEG XL at 100 "
                             "lossless)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="run the network on every frame whole; by default it runs only on the blocks whose "
                             "input changed from the frame before (within the model's reach) and the rest of the "
                             "output is reused: the same result, faster where frames repeat (a 720p game capture "
                             "with a still camera 2.6x end to end on a 2-core Zen 4, a desktop capture 1.3-1.5x; "
                             "camera footage, whose noise changes every pixel, runs as before)")
    parser.add_argument("--tileable", action="store_true",
                        help="the input is a texture that repeats edge to edge: upscale it as if it wrapped around, "
                             "so the output tiles without seams (a plain upscale leaves a line at every repeat); "
                             "the model's own factor only")
    # const: engine.stabilize.DEFAULT_STRENGTH, written out so that --help does not import OpenCV (a test ties them)
    parser.add_argument("--stabilize", nargs="?", type=stabilize_level, const=0.5, default="auto",
                        metavar="auto|STRENGTH",
                        help="steady the output from frame to frame where the content only moved (0-1, 0.5 when "
                             "given without a value; 0: off): less flicker on compressed video, for some CPU time "
                             "(about 15%% of a frame's). auto (default): on for a video file whose own quantiser "
                             "takes the model's compressed variant or that looks like a screen recording (whose "
                             "frames that stand still are held at 0.85) and for a screen or window capture that "
                             "takes the screen variant, off otherwise (clean video, images, cameras)")
    # auto: engine.changecap.DEFAULT_GAIN, written out so that --help does not import OpenCV (a test ties them)
    parser.add_argument("--change-cap", type=change_cap_gain, default="auto", metavar="auto|off|GAIN",
                        help="no output pixel changes from one frame to the next by more than GAIN times the change "
                             "of the input pixel it comes from: what stands still in the input stands still in the "
                             "output (desktops, static backgrounds), where the network would shimmer with changes "
                             "a few pixels away. auto (default): 2 (each input pixel and its neighbours) for video "
                             "and live sources; off for images")
    parser.add_argument("--compression", type=compression_level, default="auto", metavar="auto|0-1",
                        help="for a model with a compression-strength input: how compressed the input is, 0 (clean) "
                             "to 1 (a mean H.264 quantiser of 45 or more); auto (default) reads a video's quantiser "
                             "from its own stream, and takes 0 for images and live sources")
    # const: trainer.adapt.DEFAULT_STEPS, written out so that --help does not import torch (a test ties them)
    parser.add_argument("--adapt", nargs="?", type=adapt_steps, default="auto", const=200,
                        metavar="auto|off|fast|STEPS",
                        help="for a video file: first tune the model to the video itself (frames sampled across it, "
                             "downscaled and re-encoded at its own quantiser; no original needed), then upscale with "
                             "the tuned copy: textures the model never saw (+0.1-0.75 dB on three clips, clean and "
                             "compressed; README). 'fast' refits only the model's last conv by least squares (13-18 s "
                             "on 2 cores of a Sapphire Rapids, about three times that on a Zen 3; no torch, needs "
                             "onnx; only as far as the fit carries across a scale, so text keeps the model as it "
                             "is; a quarter of it for a screen recording). "
                             "auto (the default): fast for a video file of 2000 frames or more, with frames of at "
                             "least 640x360's pixels, upscaled on the CPU, where the fit adds 3-7%% to the run (on "
                             "the Sapphire Rapids; up to about a seventh on a Zen 3), or of 64 or more that this "
                             "machine takes 5 minutes or more to upscale (the fit then adds at most a tenth); "
                             "off: never. "
                             "STEPS (--adapt alone: "
                             "200) fine-tunes the whole net with torch (on a GPU where torch sees one), about 2 "
                             "minutes on 2 CPU cores, and needs "
                             "sr-stream[train,export]. The tuned model is kept in the cache, so the same command "
                             "again reuses it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output (for a folder: redo every image, not only those an earlier "
                        "run of the same command left undone)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="say nothing but errors, a folder's failed files and what an interrupted run kept (no "
                             "progress, notes or summaries): for scripts and scheduled jobs; the exit code says "
                             "how it went")
    parser.add_argument("-r", "--recursive", action="store_true",
                        help="for a folder: its subfolders too, each image and video written at the same place "
                             "under the output folder")
    parser.add_argument("--segments", default="auto", metavar="auto|off|FRAMES",
                        help="run a video as a resumable job of segments this many frames long, in a folder beside "
                             "the output (auto: videos, or scenes taken with --start/--to, of 3000+ frames, 600-frame "
                             "segments); after a crash or Ctrl-C "
                             "the same command continues where it stopped")
    parser.add_argument("--restart", action="store_true",
                        help="with segments: drop an unfinished job of this output and start over")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="run a video's segments as N Ray tasks at a time, on a local Ray instance (each with its "
                             "share of the cores) or with --ray-address on a cluster; needs sr-stream[cluster]. The "
                             "file is the same whatever N")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="run the segments on the Ray cluster at ADDR (HOST:PORT, or auto); every node must see "
                             "the input at the same path. Keep Ray clusters on a trusted network (see the README)")
    video = parser.add_argument_group("video output")
    video.add_argument("--codec", help="video encoder (default: libx264, libx265 for HDR inputs; libvpx-vp9 for "
                                       ".webm outputs, libsvtav1 for 10-bit ones); h264_nvenc, hevc_nvenc, "
                                       "av1_nvenc: NVIDIA's hardware encoders, where the GPU has one")
    video.add_argument("--crf", type=int, help="constant rate factor, lower is better (default: 16 for x264, 18 for "
                                               "x265, VP9, AV1 and NVENC's constant quality)")
    video.add_argument("--bitrate", help="target bitrate instead of CRF, e.g. 8M")
    video.add_argument("--preset", default=DEFAULT_PRESET,
                       help=f"encoder preset (x264/x265; default {DEFAULT_PRESET}: at CRF 16 it keeps medium-at-18's "
                            "quality on camera footage for about 2x less encoder time; slower presets make smaller "
                            "files; VP9: the x264 names as libvpx's speed; NVENC: p1-p7, or an x264 name taken as "
                            "the nearest)")
    video.add_argument("--pix-fmt", help="output pixel format (default: 4:2:0 at the input's depth: yuv420p, or "
                                          "yuv420p10le for 10-bit and deeper inputs)")
    video.add_argument("--audio", type=Path, metavar="FILE",
                       help="for a folder or glob of images with -o VIDEO: the video's sound, the first audio "
                            "stream of FILE (an audio file, or a video whose sound is wanted)")
    video.add_argument("--no-audio", action="store_true",
                       help="drop audio instead of copying it (a file's, or a network stream's in a recording)")
    video.add_argument("--no-subtitles", action="store_true", help="drop subtitles instead of copying them")
    video.add_argument("--start", type=_seconds, metavar="TIME",
                       help="begin this far into a video file (seconds, M:SS or H:MM:SS.ss, as players show it): with "
                            "--duration or --frames, that scene only; the output's times, sound, subtitles and "
                            "chapters count from there")
    video.add_argument("--to", type=_seconds, metavar="TIME",
                       help="end at this time of a video file (as --start takes it; in place of --duration)")
    live = parser.add_argument_group("live sources (camera, screen, window)")
    live.add_argument("--fps", type=positive_number,
                      help="capture frame rate (default: the device's); for a folder or glob of images with -o VIDEO, "
                           "the video's frame rate (default 25)")
    live.add_argument("--size", help="capture size WIDTHxHEIGHT for cameras and whole screens (default: the device's)")
    live.add_argument("--duration", type=_seconds, metavar="SECONDS",
                      help="stop after this many seconds (default: until closed or Ctrl-C); for a video file, "
                           "upscale this many seconds of it only, from its start or --start (a preview)")
    live.add_argument("--frames", type=int, help="stop after capturing this many frames; for a video file, upscale "
                      "this many frames of it only, from its start or --start (a preview)")
    live.add_argument("--no-display", action="store_true", help="no window (record with -o or feed --virtual-camera)")
    live.add_argument("--no-overlay", action="store_true", help="start the window without the stats overlay (key O)")
    live.add_argument("--no-pace", action="store_true",
                      help="show each frame as soon as it is upscaled (the least latency), not at its capture time "
                           "plus a steady delay (motion as captured; the delay is the upscale time's 90th percentile)")
    live.add_argument("--window-pos", help="window position X,Y on the screen")
    live.add_argument("--virtual-camera", action="store_true", help="also send the upscaled frames to a virtual camera "
                                                                     "(pyvirtualcam)")
    live.add_argument("--max-latency", type=positive_number, metavar="MS",
                      help="latency budget: switch to INT8 or a faster bundled model when the median misses it")
    live.add_argument("--report", type=Path, help="write the live run's counters and latencies as JSON here")
    live.add_argument("--audio-input", metavar="DEVICE",
                      help="record this sound device beside a camera, screen or window with -o: default, "
                           "alsa:NAME, pulse:NAME (Linux), N (macOS), NAME (Windows), lavfi:GRAPH")


class _LineProgress:
    """Progress for logs and pipes (stderr is not a terminal): one line every ``every`` seconds
    with the count, the rate and the time left, instead of a bar nobody sees redrawn."""

    def __init__(self, total: int, unit: str, every: float = 5.0, clock: Callable[[], float] | None = None) -> None:
        import time

        self.total, self.unit, self.every, self.done = total, unit, every, 0
        self.clock = clock or time.monotonic
        self.start = self.last = self.clock()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            total = self.total if self.total >= self.done else 0  # more frames than the container declared
            of = f"/{total}" if total else ""
            eta = f", {(total - self.done) / rate:.0f} s left" if total and rate else ""
            print(f"sr-stream: {self.done}{of} {self.unit}s, {rate:.1f} {self.unit}s/s{eta}", file=sys.stderr,
                  flush=True)

    def __enter__(self) -> _LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(total: int, unit: str):  # noqa: ANN202
    if not sys.stderr.isatty():
        return _LineProgress(total, unit)
    from tqdm import tqdm

    return tqdm(total=total or None, unit=unit, dynamic_ncols=True, file=sys.stderr, leave=False)


class _Quiet:
    """``--quiet``: a text stream passing on only the lines that say what went wrong or what to do
    next (:data:`QUIET_KEEPS`), whole lines at a time; the rest (progress, notes, summaries) is
    dropped. Not a terminal, so progress is never drawn as a bar."""

    def __init__(self, target: Any) -> None:  # noqa: ANN401 - a text stream
        self.target, self.pending = target, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.startswith(QUIET_KEEPS) or (line.startswith("sr-stream: ") and " failed: " in line):
                self.target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return False


#: The lines ``--quiet`` keeps: errors, a folder's failed files (``  failed: PATH: why``, and
#: ``sr-stream: PATH failed: why``) and what an interrupted run kept and how to go on.
QUIET_KEEPS = ("sr-stream: error", "sr-stream: interrupted", "  failed: ")


def _output_arg(text: str) -> Path | str:
    """``-o``: a path, or a server's URL that a live run sends to (``rtmp://...``), kept as text (a
    Path folds its "//")."""
    from srstream.engine.sources import is_stream_url

    return text if is_stream_url(text) else Path(text)


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "quiet", False):
        return _run(args)
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stderr(_Quiet(sys.stderr)))
        if str(args.output) != "-":  # -o -: the picture or video itself goes to standard output
            stack.enter_context(contextlib.redirect_stdout(_Quiet(sys.stdout)))
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from srstream.engine.media import is_pipe
    from srstream.engine.models import pick_model
    from srstream.engine.sources import parse_live

    if isinstance(args.input, list) and len(args.input) > 1:
        return _several(args, args.input)
    text = args.input[0] if isinstance(args.input, list) else args.input
    args.input = Path(text)
    if is_pipe(args.input):  # `sr-stream <(ffmpeg ...) -o out.mp4`: read once, as standard input is
        if args.output is None:
            raise ConfigError(f"{text} is a pipe, with no name to make the output's from: name it with -o FILE")
        pipe = os.open(args.input, os.O_RDONLY)
        os.dup2(pipe, 0)
        os.close(pipe)
        args.input = Path("-")
    if str(args.output) == "-" and _image_out(args):
        return _to_stdout(args)
    if str(args.input) == "-" and args.output is not None and _names_an_image(Path(args.output)):
        return _from_stdin(args)
    if not args.input.exists() and str(args.input) != "-":
        source = parse_live(text, fps=args.fps, size=args.size)
        if source is not None and args.adapt not in ("auto", "off"):
            raise ConfigError("--adapt tunes the model to one video file before upscaling it; a live source has "
                              "no file to learn from first: drop --adapt")
        if source is not None:
            from srstream.commands.live import check_live_output, live_model, run_live_command

            check_live_output(args.output, args.overwrite)

            if args.height is not None or (args.scale is not None and args.scale not in (2, 4)):
                raise ConfigError("--height and factors other than a model's (2, 4) are for files and images; a "
                                  "live source is upscaled by the model's own factor")
            scale = int(args.scale) if args.scale else None
            model = pick_model(args.model, scale, fast=args.fast) if args.model or args.fast else None
            found, steady = None, False
            # its size, rate, compression and look, from its first frames
            if source.kind == "stream":
                from srstream.engine.sources import listens, probe_stream, pushed, shown_url

                if pushed(source.url):  # sent to sr-stream: sr-stream as the server (OBS pushing RTMP), or UDP
                    what = "a sender to connect to" if listens(source.url) else "the stream sent to"
                    print(f"sr-stream: waiting for {what} {shown_url(source.url)} (Ctrl-C stops)",
                          file=sys.stderr, flush=True)
                source, found = probe_stream(source, hold=True)  # its connection kept for the run
                size = "x".join(map(str, source.size)) if source.size else "size unknown"
                rate = f"{source.rate:g} fps" if source.rate else "frame rate unknown"
                print(f"sr-stream: {source}: {size}, {rate}, "
                      f"{found.describe() if found else 'no frame decoded yet'}", file=sys.stderr)
            elif source.kind == "camera":  # its rate (MJPEG where it comes faster) and compression, as above
                from srstream.engine.sources import probe_camera

                source, found, line = probe_camera(source)
                if line:
                    print(f"sr-stream: {line}", file=sys.stderr)
            elif source.kind in ("screen", "window") and source.size is None:  # its size, for the tier
                from srstream.engine.sources import probe_screen

                source = probe_screen(source)
                if source.size:
                    print(f"sr-stream: {source}: {source.size[0]}x{source.size[1]}", file=sys.stderr)
            try:
                if model is None:
                    model, steady = live_model(args, source, found)
                from srstream.engine.strength import for_stream

                model, _ = for_stream(model, _compression(model, args.compression, None, found))
                return run_live_command(args, source, model, steady)
            finally:
                if source.held is not None:  # a run that never took the probe's connection
                    source.held.close()
    _no_server(args)
    return _run_file(args)


def _no_server(args: argparse.Namespace) -> None:
    """Files are upscaled into files: ``-o rtmp://...`` is for live sources."""
    if isinstance(args.output, str):
        raise ConfigError(f"-o {args.output}: a live source's upscaled frames are sent to a server as they come; a "
                          "file is upscaled into a file (upscale it, then send that: ffmpeg -re -i OUT -c copy -f "
                          "flv rtmp://...)")


def _names_an_image(output: Path) -> bool:
    """Whether ``-o`` names an image file (or a folder: an image's default name goes there)."""
    from srstream.images import IMAGE_SUFFIXES

    return output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir()


def _image_out(args: argparse.Namespace) -> bool:
    """Whether ``-o -`` asks for a picture on standard output: standard input with ``--ext``, or an
    image file."""
    if str(args.input) == "-":
        return args.ext is not None
    if not args.input.is_file():
        return False
    from srstream.engine.media import probe

    try:
        return probe(args.input).kind == "image"
    except SRStreamError:
        return False  # said by the run itself


def _to_stdout(args: argparse.Namespace) -> int:
    """``sr-stream photo.jpg -o - | ...``, ``... | sr-stream - -o - --ext png > big.png``: the
    picture upscaled into a temporary file (in ``--ext``'s format, or the input's), then copied
    to standard output; every word goes to stderr."""
    import io
    import shutil
    import tempfile

    from srstream.engine.outputs import image_format, still_suffix

    suffix = image_format(args.ext) or still_suffix(args.input.suffix)
    with tempfile.TemporaryDirectory(prefix="sr-stream-stdout-") as folder:
        target = args.output = Path(folder) / f"standard output{suffix}"
        said = io.StringIO()  # the summary, said on stderr of standard output, not of the temporary file
        try:
            with _said_as(target, "standard output"), contextlib.redirect_stdout(said):
                code = _from_stdin(args) if str(args.input) == "-" else _run_file(args)
        finally:
            sys.stderr.write(said.getvalue().replace(str(target), "standard output"))
        if code == 0:
            with open(target, "rb") as made:
                shutil.copyfileobj(made, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        return code


def _from_stdin(args: argparse.Namespace) -> int:
    """``convert photo.jpg png:- | sr-stream - -o big.png``: a picture read from standard input
    (whole, into a temporary file that goes when the run ends), found by its content as a file
    without an extension is, and upscaled as that file would be."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sr-stream-stdin-") as folder:
        path = Path(folder) / "standard input"
        with open(path, "wb") as kept:
            shutil.copyfileobj(sys.stdin.buffer, kept, 1 << 20)
        if not path.stat().st_size:
            raise InputError("standard input was empty: pipe a picture into it (convert photo.jpg png:- | "
                             f"sr-stream - -o {args.output})")
        args.input = path
        with _said_as(path, "standard input"):
            return _run_file(args)


@contextlib.contextmanager
def _said_as(path: Path, name: str) -> Iterator[None]:
    """An error said of the temporary file ``path`` standing for a pipe, said of ``name`` instead."""
    try:
        yield
    except SRStreamError as exc:
        raise type(exc)(str(exc).replace(str(path), name)) from exc.__cause__


#: The options of live sources that a file has no use for: (attribute, option, what it is unset).
_LIVE_ONLY = (("size", "--size", None), ("no_display", "--no-display", False), ("no_overlay", "--no-overlay", False),
              ("no_pace", "--no-pace", False), ("window_pos", "--window-pos", None),
              ("virtual_camera", "--virtual-camera", False), ("max_latency", "--max-latency", None),
              ("report", "--report", None), ("audio_input", "--audio-input", None))


#: The options of a video output: (attribute, option, what it is unset); the first five set its encoder.
_VIDEO_ONLY = (("codec", "--codec", None), ("crf", "--crf", None), ("bitrate", "--bitrate", None),
               ("preset", "--preset", DEFAULT_PRESET), ("pix_fmt", "--pix-fmt", None),
               ("no_audio", "--no-audio", False), ("no_subtitles", "--no-subtitles", False),
               ("segments", "--segments", "auto"), ("restart", "--restart", False),
               ("deinterlace", "--deinterlace", "auto"))


def _given(args: argparse.Namespace, options: tuple) -> list[str]:
    """Which of ``options`` (attribute, option, unset) the command line set."""
    return [option for attr, option, unset in options if getattr(args, attr, unset) != unset]


def _run_file(args: argparse.Namespace) -> int:
    """A video, an image, or a folder's or glob's images and videos (``args.input`` a Path)."""
    job, model, resize = _plan(args)
    if job.sequence is not None:
        print(f"sr-stream: {job.sequence.describe()}", file=sys.stderr)
    if job.media.kind == "folder" and not job.media.recursive and job.sequence is None:
        _say_unread_subfolders(job.media.path, job.output)
    if job.videos:
        return _folder(args, job)
    return _upscale(args, job, model, resize)


def _plan(args: argparse.Namespace, into: Path | None = None, overwrite: bool | None = None,  # noqa: ANN202
          alone: bool = True):
    """:func:`_run_file`'s job, model and resize, every check made before any work. ``into``: the
    folder the default output goes into, in place of the input's; ``overwrite``: in place of
    ``--overwrite`` (:func:`_several` plans with True, to learn every output before it runs any)."""
    from srstream.engine.api import plan_file

    given = _given(args, _LIVE_ONLY)
    # they were ignored without a word (--size 1920x1080 upscaled a file by the model's factor); a
    # missing input is said to be missing, by plan_file
    if given and args.input.exists():
        raise ConfigError(f"{', '.join(given)}: for live sources (camera, screen, window, a network stream); "
                          f"{args.input} is a file: drop {'it' if len(given) == 1 else 'them'}"
                          + ("; --scale or --height sets a file's output size" if "--size" in given else ""))

    height = None
    if args.height is not None and args.input.exists() and not args.input.is_dir():
        from srstream.engine.media import probe

        height = probe(args.input).height or None
    model, resize, tag = _sized_model(args, height)
    job = plan_file(args.input, args.output, scale=tag, overwrite=args.overwrite if overwrite is None else overwrite,
                    codec=args.codec, crf=args.crf, bitrate=args.bitrate, preset=args.preset, pix_fmt=args.pix_fmt,
                    audio=not args.no_audio, subtitles=not args.no_subtitles, segments=args.segments,
                    restart=args.restart, workers=args.workers, ray_address=args.ray_address,
                    recursive=args.recursive, fps=args.fps, sound=args.audio, max_frames=args.frames,
                    max_seconds=_until(args), into=into, image_format=args.ext,
                    image_quality=args.quality, start=args.start)  # every check before any work
    unused = _unused_image_options(args, job)
    if alone and unused:
        if job.sequence is not None:
            what = f"goes into the video {job.output}"
        elif job.kind == "video":
            what = "is a video, whose output -o names (e.g. -o out.mkv, or -o 'frames/%06d.png' for numbered frames)"
        else:
            what = "holds videos only, whose outputs keep their formats"
        crf = "; --crf sets a video's quality" if "--quality" in unused else ""
        raise ConfigError(f"{', '.join(unused)}: for image outputs; {args.input} {what}{crf}: drop "
                          f"{'it' if len(unused) == 1 else 'them'}")
    return job, model, resize


#: The options of image outputs: (attribute, option, what it is unset).
_IMAGE_ONLY = (("ext", "--ext", None), ("quality", "--quality", None))


def _unused_image_options(args: argparse.Namespace, job) -> list[str]:  # noqa: ANN001 - FileJob
    """Which of :data:`_IMAGE_ONLY` the command line set and ``job`` has no use for: a video's, an
    image sequence's, a folder of videos only (``--quality`` serves numbered frames and an animated
    WebP too; ``--ext`` an animation given alone, which it names: ``ANIMATION_FORMATS``)."""
    from srstream.engine.api import ANIMATION_FORMATS
    from srstream.engine.outputs import image_format

    images = job.sequence is None and (job.kind == "image" or (job.kind != "video" and job.media.frames))
    animated = args.output is None and job.kind == "video" and job.output is not None \
        and job.output.suffix.lower() == ANIMATION_FORMATS.get(image_format(args.ext) or "", "")
    return [option for option in _given(args, _IMAGE_ONLY)
            if not (images or (option == "--quality" and (job.frames is not None or job.animation))
                    or (option == "--ext" and animated))]


def _several(args: argparse.Namespace, texts: list[str]) -> int:
    """Several inputs, as a shell expands ``sr-stream *.mp4``: each upscaled as ``sr-stream INPUT``
    alone would upscale it (its own model variant, audio, a resumable job when long), into its
    default output beside it, or with ``-o FOLDER`` under the same name in that folder. Every input
    is planned before any is run: a missing one, an input given twice or two inputs' same output
    stop the run before any work; an input that is another's output (``sr-stream *.mp4`` again) is
    left out, or with ``--overwrite``, which would replace it, stops the run. As in a folder run, a file
    output already there (a finished earlier run) is skipped unless ``--overwrite``, one that fails
    is listed and the rest go on (exit 3 at the end), and Ctrl-C stops the run: the same command
    continues it."""
    import copy

    from srstream.engine.outputs import VIDEO_SUFFIXES

    _no_server(args)
    from srstream.engine.sources import parse_live
    from srstream.images import IMAGE_SUFFIXES

    inputs = [Path(text) for text in texts]
    for text, path in zip(texts, inputs):
        if not path.exists():
            if text == "-" or parse_live(text, fps=args.fps, size=args.size) is not None:
                what, alone = (("standard input", "- -o OUT") if text == "-"
                               else (f"{text} is a live source, which", text))
                raise ConfigError(f"{what} is upscaled alone: run `sr-stream {alone}` by itself; several inputs are "
                                  "files or folders")
            raise InputError(f"{text}: no such file or folder; nothing was upscaled (check the name, or quote a "
                             "pattern: 'shots/*.png')")
    real = [os.path.realpath(path) for path in inputs]
    for i, place in enumerate(real):
        if place in real[:i]:
            raise ConfigError(f"{inputs[i]} is given twice (as {inputs[real.index(place)]}); give each input once")
    into = args.output
    if into is not None:
        if str(into) == "-" or (into.exists() and not into.is_dir()):
            raise ConfigError(f"-o {into}: several inputs go into a folder, each under its own name; name a folder "
                              "(it is made if missing)")
        if not into.exists() and into.suffix.lower() in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES):
            raise ConfigError(f"-o {into} names a file; several inputs go into a folder, each under its own name: "
                              "name a folder (it is made if missing)")
    created = into is not None and not into.exists()
    if created:
        try:
            into.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create {into}: {exc.strerror or exc}; choose another -o folder") from exc
    try:
        report, targets, images, videos = _plan_several(args, inputs, into)
    except BaseException:
        if created:  # refused before any work: the folder made for it goes too (only if empty)
            with contextlib.suppress(OSError):
                into.rmdir()
        raise
    ran = _each(args, list(targets.items()), "input", str,
                lambda path: _for_images(args) if path in images else _for_videos(args) if path in videos
                else copy.copy(args))
    ran.total, ran.failed = report.total, report.failed + ran.failed  # with the inputs refused in planning
    return _end_of_run(ran, into or "sr-stream", "inputs")


def _each(args: argparse.Namespace, pairs: list[tuple[Path, Path]], noun: str, shown: Callable[[Path], str],
          options: Callable[[Path], argparse.Namespace]):  # noqa: ANN202 - a folders.BatchReport-like report
    """Each ``(input, output)`` of a folder's videos or of several inputs run as ``sr-stream INPUT -o
    OUTPUT`` would run it, with the command's ``options(input)``, through
    :func:`srstream.engine.folders.run_videos` (a finished output skipped unless ``--overwrite``, a
    failure listed and the rest run, Ctrl-C stopping them all); each announced as ``noun N of M``
    and named as ``shown(input)`` says."""
    from srstream.engine.folders import run_videos
    from srstream.errors import interrupted_exit_code

    def one(path: Path, target: Path) -> int:
        single = options(path)
        single.input, single.output = path, target
        try:
            return _run_file(single)
        except SRStreamError as exc:
            print(f"sr-stream: {shown(path)} failed: {exc}", file=sys.stderr)
            raise

    def announce(number: int, path: Path, target: Path) -> None:
        print(f"sr-stream: {noun} {number} of {len(pairs)}: {shown(path)} -> {target}", file=sys.stderr)

    return run_videos(pairs, one, overwrite=args.overwrite, announce=announce,
                      interrupted=lambda code: code == interrupted_exit_code())


def _end_of_run(report, out: Path | str, noun: str, failed_images: InputError | None = None) -> int:  # noqa: ANN001
    """How a run of several videos or inputs (a :class:`~srstream.engine.folders.VideosReport`) ends:
    interrupted (the same command continues), or its summary, what failed, and exit 3 if anything did."""
    from srstream.engine.folders import failure
    from srstream.errors import interrupted_exit_code

    if report.interrupted:
        print(f"sr-stream: interrupted; the {noun} finished are kept, and the same command continues with the rest",
              file=sys.stderr)
        return interrupted_exit_code()
    print(report.summary(out, noun))
    for path, why in report.failed:
        print(f"  failed: {path}: {why}", file=sys.stderr)
    if report.failed or failed_images:
        raise failure(report, str(failed_images).split(" could not")[0] if failed_images else None, noun)
    return 0


def _upscale(args: argparse.Namespace, job, model, resize) -> int:  # noqa: ANN001 - FileJob, ResolvedModel, OutputSize
    """A planned video, image, or folder's or glob's images, with the model its content takes."""
    from srstream.engine.api import Upscaler

    # what a video's output takes, for images or into numbered frames, was ignored without a word
    # (--crf 20 for a photo, --codec libx265 for a video's PNG frames)
    if job.kind != "video" and (given := _given(args, _VIDEO_ONLY)):
        what = "an image" if job.kind == "image" else "a folder of images"
        raise ConfigError(f"{', '.join(given)}: for a video (and the videos of a folder); {args.input} is {what}: "
                          f"drop {'it' if len(given) == 1 else 'them'}")
    if job.frames is not None and (given := _given(args, _VIDEO_ONLY[:5])):
        raise ConfigError(f"{', '.join(given)}: set a video encoder; numbered frames are written as "
                          f"{job.frames.suffix} images: drop {'it' if len(given) == 1 else 'them'}, or write a video "
                          "with -o")
    if args.stabilize not in ("auto", 0.0) and job.kind != "video":
        raise ConfigError("--stabilize steadies video over time; it does nothing for images and folders")
    if args.change_cap not in ("auto", 0.0) and job.kind != "video":
        raise ConfigError("--change-cap ties each video frame to the one before; it does nothing for images and "
                          "folders")
    media = job.media
    on_file = job.kind == "video" and str(media.path) != "-"
    if args.adapt not in ("auto", "off") and not on_file:
        raise ConfigError("--adapt tunes the model to one video file before upscaling it; for images, folders and "
                          "streams read from stdin drop --adapt")
    hard = False  # compressed hard enough for the compressed variant, or a screen recording: steadied
    screen = False  # a screen recording: its frames that stand still are held harder
    if job.kind == "video" and not args.model and not args.fast and str(media.path) != "-":
        from srstream.engine.models import screen_variant

        model, hard = _for_content(model, media.path)
        screen = screen_variant(model.name)
    elif job.kind == "image" and not args.model and not args.fast and str(media.path) != "-":
        model = _for_lossy_stills(model, [media.path])
    elif job.kind in ("folder", "glob") and not args.model and not args.fast:
        from srstream.engine.stills import expand_inputs

        model = _for_lossy_stills(model, expand_inputs(media.path, media.recursive))
    if args.adapt == "auto" and on_file:
        model = _auto_fit(model, media, args, _frames_taken(media, job))
    elif args.adapt not in ("auto", "off"):
        model = _adapted(model, media.path, args.adapt)
    compression = _compression(model, args.compression, media.path if job.kind == "video" else None)
    from srstream.engine.stabilize import setting, still_setting

    stabilize, tolerance = setting(args.stabilize, hard)
    if hard and args.stabilize == "auto":
        print("sr-stream: steadying the output over time, as for every screen recording and every stream "
              "compressed this hard (--stabilize 0 turns it off)", file=sys.stderr)
    with Upscaler(model, backend=args.backend,
                  precision=args.precision, tile=args.tile, device=args.device, ensemble=args.ensemble,
                  size=_timing_size(job), stabilize=stabilize,
                  stabilize_tolerance=tolerance, stabilize_still=still_setting(screen), compression=compression,
                  change_cap=cap_setting(args.change_cap, job.kind == "video"), output=resize,
                  deinterlace=args.deinterlace, tileable=args.tileable,
                  reuse=not args.no_reuse and job.kind != "image") as up:  # one picture: nothing to reuse
        print(f"sr-stream: {up.describe()} ({up.reason})", file=sys.stderr)
        if up.spec.arch == "foreign":  # an ONNX graph from elsewhere: say what was measured of it
            print(f"sr-stream: {up.spec.source}", file=sys.stderr)
        if job.kind == "video":
            return _video(media, job, up)
        if job.kind == "image":
            return _image(job, up)
        return _batch(job, up)


def _timing_size(job) -> tuple[int, int] | None:  # noqa: ANN001 - FileJob
    """The frame size ``auto`` times its candidates at: a video's own (measured once per machine and
    size, then cached); None for images (the default 640x360: one measurement serves every image,
    where timing each image's own size took a large photo's upscale 16 times over before its one
    upscale, and again for every new size)."""
    media = job.media
    return (media.width, media.height) if media.width and job.kind == "video" else None


def _for_content(model, path: Path):  # noqa: ANN001, ANN202 - ResolvedModel
    """The default model, its variant for screen recordings when the first frames look like one,
    or its variant for compressed video when the input's own quantiser says it was compressed hard
    (:func:`srstream.engine.models.for_content`); and whether the stabiliser's ``auto`` steadies
    it: a stream its quantiser says was compressed hard, and every screen recording (steadied, the
    screen variant's output changes less from frame to frame at no cost in PSNR)."""
    from srstream.engine.compression import measure
    from srstream.engine.models import for_content, resolve_model, steadied

    compression = measure(path)
    qp = compression.h264_qp if compression else None
    name, why = for_content(model.name, qp, compression.look if compression else None)
    hard = steadied(model.name, qp, name)
    if name == model.name:
        return model, hard
    print(f"sr-stream: {why}", file=sys.stderr)
    return resolve_model(name), hard


#: The most images of a folder whose quantisers :func:`_for_lossy_stills` reads (each file's first 64 KiB).
STILLS_CHECKED = 200

#: What a lossy still's own quantiser is called, by the codec of its fit (:data:`srstream.engine.compression.SCALES`).
_STILL_QUANTISERS = {"mjpeg": ("JPEG", "mean luma quantiser step"), "vp8": ("WebP", "VP8 quantiser step"),
                     "av1": ("AVIF", "AV1 q index"), "hevc": ("HEIC", "HEVC slice QP")}


def _still_quantiser_of(path: Path, head: int = 1 << 20) -> tuple[str, float, float] | None:
    """The codec of the lossy picture at ``path`` (``mjpeg`` for a JPEG, ``vp8`` for a lossy WebP,
    ``av1`` for an AVIF, ``hevc`` for a HEIC/HEIF), its own quantiser (a JPEG's mean luma
    quantisation step, a WebP's VP8 luma AC step, an AVIF's q index, a HEIC's slice QP) and that
    quantiser on H.264's scale (:data:`srstream.engine.compression.SCALES`, and for an AVIF or a
    HEIC :data:`~srstream.engine.compression.PICTURE_OFFSETS`); a JPEG's and a WebP's read from the
    first ``head`` bytes (the tables come before the picture data, after EXIF and ICC blocks), an
    AVIF's and a HEIC's from their picture's headers. None for anything else (a PNG, a lossless
    WebP) or unreadable."""
    from srstream.engine.compression import (PICTURE_OFFSETS, Compression, jpeg_quantiser, picture_quantiser,
                                             webp_quantiser)
    from srstream.images import picture_kind

    try:
        with open(path, "rb") as f:
            data = f.read(head)
    except OSError:
        return None  # the run says what is wrong with it
    if data[4:8] == b"ftyp":  # ISO BMFF: a picture (or a video: an .mp4 in a folder of pictures is not one)
        if not picture_kind(data):  # its brands: srstream.images.AVIF_BRANDS, HEIF_BRANDS
            return None
        picture = picture_quantiser(path)
        if picture is None:
            return None
        codec, found = picture
        return codec, found, Compression(codec, found, 1).h264_qp + PICTURE_OFFSETS[codec]
    codec, found = ("mjpeg", jpeg_quantiser(data)) if data[:3] == b"\xff\xd8\xff" else ("vp8", webp_quantiser(data))
    return None if found is None else (codec, found, Compression(codec, found, 1).h264_qp)


def _for_lossy_stills(model, paths: list[Path]):  # noqa: ANN001, ANN202 - ResolvedModel
    """The default model, or its variant for compressed input where the image at ``paths`` (of a
    folder, each of the first :data:`STILLS_CHECKED`) is a JPEG, a lossy WebP, an AVIF or a HEIC
    whose own quantiser says it was stored lossily enough: the threshold of a video's quantiser, on
    H.264's scale (libjpeg's quality 95 maps to 23.4, over the threshold of 22; a camera's 97-100
    stay under it). On Set5, Set14 and BSD100 stored as JPEGs at quality 30-90 the variant scores
    0.15-0.74 dB over the default, at 95 -0.02 to +0.14, and 0.26-0.55 dB under it on the clean
    pictures (benchmarks/results/bench/jpeg_stills_variant.md; WebP, AVIF, HEIC:
    webp_stills_variant.md, avif_stills_variant.md, heic_stills_variant.md); a folder with one
    picture that is not such a still keeps the default."""
    from srstream.engine.models import COMPRESSED_VARIANTS, for_compression, resolve_model

    checked = paths[:STILLS_CHECKED]
    found = [_still_quantiser_of(path, 1 << 20 if len(checked) == 1 else 1 << 16) for path in checked]
    if not found or None in found:
        return model
    lowest = min(qp for _, _, qp in found)
    name = for_compression(model.name, lowest)[0]
    if name == model.name:
        return model
    threshold = COMPRESSED_VARIANTS[model.name][1]
    codecs = sorted({codec for codec, _, _ in found})
    kinds = " and ".join(_STILL_QUANTISERS[c][0] + ("s" if len(found) > 1 else "") for c in codecs)
    values = sorted(value for _, value, _ in found)
    if len(codecs) > 1:
        measured = f"H.264's {lowest:.1f} at least"
    elif len(found) == 1:
        measured = f"{_STILL_QUANTISERS[codecs[0]][1]} {values[0]:.1f}, H.264's {lowest:.1f}"
    else:
        plural = _STILL_QUANTISERS[codecs[0]][1].replace("step", "steps")
        measured = f"{plural} {values[0]:.1f}-{values[-1]:.1f}, H.264's {lowest:.1f} at least"
    said = (f"the picture was stored as a lossy {kinds}" if len(found) == 1 else
            f"the {len(found)} pictures{' checked' if len(paths) > len(found) else ''} were stored as lossy {kinds}")
    print(f"sr-stream: {said} ({measured} >= {threshold:g}): {name}, trained for compressed input; --model "
          f"{model.name} keeps the default", file=sys.stderr)
    return resolve_model(name)


def _adapted(model, path: Path, steps: int | str):  # noqa: ANN001, ANN202 - ResolvedModel
    """``model`` fine-tuned on the video at ``path`` for ``steps`` steps
    (:func:`srstream.trainer.adapt.adapt_to_video`), or with its last conv refitted for ``"fast"``
    (:func:`srstream.engine.refit.refit_to_video`); or the copy an earlier run kept.

    Raises:
        DependencyError: torch or the export extras are missing."""
    from srstream.engine.compression import measure
    from srstream.errors import DependencyError

    if steps == "fast":
        from srstream.engine.refit import refit_to_video

        found = measure(path)
        fitted = refit_to_video(path, model, found.h264_qp if found else None,
                                log=lambda text: print(f"sr-stream: {text}", file=sys.stderr, flush=True))
        where = fitted.model.path.parent
        if not fitted.shrink:
            print(f"sr-stream: the fit to this video did not carry across a scale (text and fine lines often do "
                  f"not): upscaling with {model.name} as it is", file=sys.stderr)
        elif fitted.reused:
            print(f"sr-stream: {model.name} fitted to this video by an earlier run ({where})", file=sys.stderr)
        else:
            print(f"sr-stream: fitted {model.name} in {fitted.seconds:.0f} s; kept in {where}, so running this "
                  "command again reuses it", file=sys.stderr)
        return fitted.model

    try:
        from srstream.trainer.adapt import AdaptOptions, adapt_to_video
    except ModuleNotFoundError as exc:
        raise DependencyError(f"--adapt trains the model on the video and needs {exc.name}: pip install "
                              "'sr-stream[train,export]' (with a CPU build of torch first, as the README says), or "
                              "drop --adapt, or use --adapt fast (no torch)") from exc
    found = measure(path)
    result = adapt_to_video(path, model, found.h264_qp if found else None, AdaptOptions(steps=steps),
                            log=lambda text: print(f"sr-stream: {text}", file=sys.stderr, flush=True))
    where = result.model.path.parent
    if result.reused:
        print(f"sr-stream: {model.name} adapted to this video by an earlier run ({where})", file=sys.stderr)
    else:
        print(f"sr-stream: adapted {model.name} in {result.seconds:.0f} s on {result.frames} frames at CRF "
              f"{'/'.join(map(str, result.crfs))}; kept in {where}, so running this command again reuses it",
              file=sys.stderr)
    return result.model


def _frames_taken(media, job) -> int:  # noqa: ANN001 - MediaInfo, FileJob
    """The frames a video's run upscales, as the fit's worth is judged: its length (declared, or
    its duration times its rate), or the part ``--frames``, ``--duration`` and ``--start`` take."""
    import dataclasses

    from srstream.engine.api import frames_wanted

    return frames_wanted(dataclasses.replace(media, frames=media.approx_frames), job.limit, job.start)


def _auto_fit(model, media, args: argparse.Namespace, frames: int):  # noqa: ANN001, ANN202 - ResolvedModel, MediaInfo
    """``--adapt auto`` on a video file: ``model`` with its last conv fitted to the video as
    ``--adapt fast`` fits it, where :func:`srstream.engine.refit.fit_reason` says the fit is worth
    its time for the ``frames`` the run upscales (a 100-frame preview of a film is not worth a fit
    that takes as long as 130 frames' run; it was judged by the film's length); else, or when the
    fit cannot be made, ``model`` as it is (saying why)."""
    from srstream.engine import refit

    if args.backend not in ("auto", "ort", "ov") or args.precision not in ("auto", "fp32", "int8", "bf16"):
        return model  # the refit writes fp32 and INT8 ONNX graphs for ONNX Runtime and OpenVINO only
    if args.device not in (None, "CPU", "cpu"):
        return model
    from srstream.engine.autotune import expected_fps

    size = (media.width, media.height)
    why = refit.fit_reason(model, *size, frames,  # the speed opening it measures anyway
                           lambda: expected_fps(model, args.backend, args.precision, size=size))
    if why is None:
        return model
    if args.backend == "auto":
        from srstream.sysinfo import gpus

        if gpus():  # the video upscales on the GPU, next to which the fit on the CPU is not cheap
            return model
    print(f"sr-stream: {why} gets {model.name}'s last conv fitted to it first, or an earlier run's fit "
          "(--adapt off skips it)", file=sys.stderr, flush=True)
    try:
        return _adapted(model, media.path, "fast")
    except SRStreamError as exc:  # the video upscales as it is; its own errors come up when it is read again
        print(f"sr-stream: could not fit {model.name} to this video ({exc}); upscaling with it as it is",
              file=sys.stderr)
        return model


def adapt_steps(text: str) -> int | str:
    """``--adapt``: a number of training steps, at least 1, or ``auto``, ``off`` or ``fast``."""
    if text in ("auto", "off", "fast"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of training steps, such as 100, or auto, off or "
                                         "fast") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1 step (drop --adapt to run the model as it is)")
    return value


def _auto_or_unit(text: str, wrong: str, out_of_range: str) -> str | float:
    """``auto`` or a number in [0, 1], for argparse; the messages name what the number means."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: auto, or {wrong}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: {out_of_range}")
    return value


def stabilize_level(text: str) -> str | float:
    """``--stabilize``: ``auto`` or a strength in [0, 1]."""
    return _auto_or_unit(text, "a strength from 0 (off) to 1", "the strength runs from 0 (off) to 1")


def change_cap_gain(text: str) -> str | float:
    """``--change-cap``: ``auto``, ``off`` or a gain above 0."""
    if text in ("auto", "off"):
        return 0.0 if text == "off" else text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: auto, off, or a gain such as 1") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: the gain must be above 0 (off turns the cap off)")
    return value


def cap_setting(asked: str | float, video: bool) -> float:
    """The change cap's gain for ``--change-cap ASKED`` (0: off): ``auto`` caps video and live sources."""
    if asked == "auto":
        from srstream.engine.changecap import DEFAULT_GAIN

        return DEFAULT_GAIN if video else 0.0
    return float(asked)


def compression_level(text: str) -> str | float:
    """``--compression``: ``auto`` or a strength in [0, 1]."""
    return _auto_or_unit(text, "a number from 0 (clean) to 1", "the compression strength runs from 0 (clean) to 1")


def _compression(model, level: str | float, video: Path | None, found=None) -> float | None:  # noqa: ANN001
    """The compression strength a strength-conditioned ``model`` (a ResolvedModel) runs at (None
    for other models): ``level`` as given, or with ``auto`` the one the video's own quantiser says,
    or a network stream's (``found``, read from its first frames); 0 for anything else: images,
    devices, a stream read from stdin, a codec that exports no quantiser.

    Raises:
        ConfigError: a level given for a model without a strength input."""
    from srstream.engine.strength import conditioned

    if not conditioned(model.spec):
        if level != "auto":
            raise ConfigError(f"--compression {level:g}: model {model.name} has no compression-strength input; "
                              "drop --compression, or pass a model trained with one (`strength: true`)")
        return None
    if level != "auto":
        return float(level)
    if found is None and (video is None or str(video) == "-"):
        return 0.0
    from srstream.engine.compression import measure
    from srstream.engine.strength import quantise
    from srstream.strength import from_qp

    found = found or measure(video)
    qp = found.h264_qp if found else None
    strength = quantise(from_qp(qp))  # in the steps the engine runs
    print(f"sr-stream: compression strength {strength:.2f}: "
          f"{found.describe() if found else 'no quantiser could be read'}", file=sys.stderr)
    return strength


def _seconds(text: str) -> float:
    """A time as players show it, ``"90"``, ``"1:30"``, ``"1:02:03.5"``, in seconds (argparse's type)."""
    parts = text.strip().split(":")
    try:
        if len(parts) > 3 or any(not part.strip() for part in parts):
            raise ValueError(text)
        numbers = [float(part) for part in parts]
        if not all(math.isfinite(n) for n in numbers) or any(n < 0 for n in numbers) \
                or any(n >= 60 for n in numbers[1:]) or any(not n.is_integer() for n in numbers[:-1]):
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds (90, 7.5) or a time as players show it (1:30, "
                                         "1:02:03.5)") from None
    total = 0.0
    for n in numbers:
        total = total * 60 + n
    return total


def _until(args: argparse.Namespace) -> float | None:
    """The seconds a video file's run takes: ``--duration``, or ``--to`` less ``--start``.

    Raises:
        ConfigError: both given, or a ``--to`` that is not after ``--start``.
    """
    if args.to is None:
        return args.duration
    if args.duration is not None:
        raise ConfigError("--to and --duration both say where the run ends: give one")
    from srstream.engine.video import clock

    begin = args.start or 0.0
    if args.to <= begin:
        raise ConfigError(f"--to {clock(args.to)} is not after --start {clock(begin)}: the scene would be empty")
    return args.to - begin


def _frames_wanted(media, job) -> int:  # noqa: ANN001 - MediaInfo, FileJob
    """The frames a run reads, for its progress (:func:`srstream.engine.api.frames_wanted`; 0: not known)."""
    from srstream.engine.api import frames_wanted

    return frames_wanted(media, job.limit, job.start)


def _video(media, job, up) -> int:  # noqa: ANN001 - MediaInfo, FileJob, Upscaler
    import numpy as np

    from srstream.engine.outputs import PICTURE_VIDEO_SUFFIXES

    output = job.output
    streaming = str(output) == "-"  # stdout carries the video: every word goes to stderr
    frames = up.frame_upscaler
    if media.width:
        width, height = up.output_size(media.width, media.height,
                                       picture=output.suffix.lower() in PICTURE_VIDEO_SUFFIXES)
        tiles = frames.tile_label(media.height, media.width)
        print(f"sr-stream: {media.width}x{media.height} -> {width}x{height}, {tiles}", file=sys.stderr)
    with _progress(_frames_wanted(media, job), "frame") as bar:
        result = up.run(job, progress=bar.update)
    if result.segments is not None:
        return _job_summary(result.segments, output, up)
    report = result.video
    if job.frames is not None:
        return _frames_summary(media, job, report, up)
    if job.animation and report.interrupted:
        from srstream.errors import interrupted_exit_code

        print(f"sr-stream: interrupted after {report.frames_out} frames; an animated WebP is written whole, so "
              f"nothing was kept: run again for the whole input, or take part of it (--duration)", file=sys.stderr)
        return interrupted_exit_code()
    lat = np.array(report.upscale_ms or [0.0])
    fps = report.frames_out / report.seconds if report.seconds else 0.0
    decoded = report.frames_decoded or report.frames_in
    print(f"{output}: {report.frames_out} frame{'' if report.frames_out == 1 else 's'} ({decoded} decoded) in "
          f"{report.seconds:.1f} s, "
          f"{fps:.1f} fps end to end; upscale p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms "
          f"per frame{f' ({lanes} at a time)' if (lanes := getattr(report, 'lanes', 1)) > 1 else ''}; "
          f"{frames.backend.describe()}; copied: {', '.join(report.copied_streams) or 'nothing'}",
          file=sys.stderr if streaming else sys.stdout)
    stats = getattr(frames, "reuse_stats", None)
    spared = stats.describe() if stats is not None else None
    if spared:
        print(f"sr-stream: {spared}", file=sys.stderr if streaming else sys.stdout)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if report.interrupted:
        from srstream.errors import interrupted_exit_code

        if streaming:
            print(f"sr-stream: interrupted; {report.frames_out} frames were streamed", file=sys.stderr)
        elif report.kept is not None:
            untouched = f"; {output} was left as it was" if output.exists() else ""
            print(f"sr-stream: interrupted; the first {report.frames_out} frames are in {report.kept} (a valid "
                  f"video){untouched}. Run again to upscale the whole input.", file=sys.stderr)
        else:
            print("sr-stream: interrupted before any frame was written; nothing was kept", file=sys.stderr)
        return interrupted_exit_code()
    if report.ended_early:
        raise InputError(f"{media.path}: {report.ended_early}; {output} holds the {report.frames_out} frames that "
                         "decoded (the input looks truncated or damaged)")
    return 0


def _frames_summary(media, job, report, up) -> int:  # noqa: ANN001 - MediaInfo, FileJob, Report, Upscaler
    """A video upscaled into numbered frame files: what was written, and how to continue."""
    from srstream.errors import interrupted_exit_code

    fps = report.frames_out / report.seconds if report.seconds else 0.0
    print(f"{job.frames}: {report.frames_out} frames written in {report.seconds:.1f} s, {fps:.1f} fps; "
          f"{up.frame_upscaler.backend.describe()}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if report.interrupted:
        print(f"sr-stream: interrupted; every frame written is whole and stays in {job.frames.folder}: the same "
              "command continues from there", file=sys.stderr)
        return interrupted_exit_code()
    if report.ended_early:
        raise InputError(f"{media.path}: {report.ended_early}; {job.frames.folder} holds the frames that decoded "
                         "(the input looks truncated or damaged)")
    return 0


def _job_summary(report, output: Path, up) -> int:  # noqa: ANN001 - JobReport, Upscaler
    from srstream.errors import interrupted_exit_code

    if report.interrupted:  # the job has said what is kept and how to continue
        return interrupted_exit_code()
    fps = report.frames_out / report.seconds if report.seconds else 0.0
    reused = f", {report.reused} reused from an earlier run" if report.reused else ""
    plural = "s" if report.segments != 1 else ""
    print(f"{output}: {report.frames_out} frames in {report.segments} segment{plural}{reused}, {report.seconds:.1f} s, "
          f"{fps:.1f} fps; {up.frame_upscaler.backend.describe()}; copied: "
          f"{', '.join(report.copied_streams) or 'nothing'}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if report.ended_early:
        raise InputError(f"{report.ended_early}; {output} holds the {report.frames_out} frames that decoded (the "
                         "input looks truncated or damaged)")
    return 0


def _image(job, up) -> int:  # noqa: ANN001 - FileJob, Upscaler
    result = up.run(job)
    width, height = result.size
    size = f"{width}x{height}"
    if job.media.frames > 1:
        from srstream.engine.stills import PAGED_SUFFIXES

        paged = job.media.path.suffix.lower() in PAGED_SUFFIXES
        count = job.media.frames
        size = f"{count} pages (the first {size})" if paged else f"an animation of {count} frames of {size}"
    print(f"{job.output}: {size} in {result.seconds:.2f} s; {up.frame_upscaler.backend.describe()}")
    return 0


def _say_unread_subfolders(folder: Path, output: Path) -> None:
    """A note naming the subfolders of ``folder`` with images or videos (not the run's ``output``) that
    a run without ``-r`` leaves alone."""
    from srstream.engine.stills import unread_subfolders_note

    note = unread_subfolders_note(folder, output)
    if note:
        print(f"note: {note}", file=sys.stderr)


def _batch(job, up) -> int:  # noqa: ANN001 - FileJob, Upscaler
    from srstream.engine.stills import expand_inputs, folder_raws

    files, output = expand_inputs(job.media.path, job.media.recursive), job.output
    with _progress(len(files), "image") as bar:
        report = up.run(job, progress=bar.update).batch
    print(f"{output}: {len(report.done)} of {len(files)} images upscaled in {report.seconds:.1f} s"
          + (f", {len(report.skipped)} skipped (already there)" if report.skipped else "")
          + (f", {len(report.failed)} failed" if report.failed else ""))
    if report.own_format:
        names = ", ".join(p.name for p in report.own_format[:3]) + (", ..." if len(report.own_format) > 3 else "")
        count = f"{len(report.own_format)} image{'s' if len(report.own_format) > 1 else ''}"
        print(f"note: {count} kept their own format, which --ext {job.image_suffix.lstrip('.')} cannot hold (an "
              f"animation, a TIFF's pages, a GIF): {names}", file=sys.stderr)
    raws = folder_raws(job.media.path, job.media.recursive)
    if raws:
        from srstream.images import develop_first

        names = ", ".join(p.name for p in raws[:3]) + (", ..." if len(raws) > 3 else "")
        print(f"note: {len(raws)} camera raw file{'s' if len(raws) > 1 else ''} left alone ({names}): "
              f"{develop_first(len(raws))}", file=sys.stderr)
    for src, why in report.failed:
        print(f"  failed: {src}: {why}", file=sys.stderr)
    if report.interrupted:
        from srstream.errors import interrupted_exit_code

        print("sr-stream: interrupted; finished images are kept, and the same command continues with the rest",
              file=sys.stderr)
        return interrupted_exit_code()
    if report.failed:
        raise InputError(f"{len(report.failed)} of {len(files)} images could not be upscaled (listed above); the "
                         "same command, run again, retries only those")
    return 0


#: A part of a video (attribute, option, unset): each video of several inputs takes it, an image among them is whole.
_VIDEO_PART = (("start", "--start", None), ("to", "--to", None), ("frames", "--frames", None),
               ("duration", "--duration", None))


def _image_whole(single: argparse.Namespace, into: Path | None, refusal: ConfigError):  # noqa: ANN202 - FileJob
    """The plan of an image among several inputs that ``refusal`` refused for asking a part of a
    video (:data:`_VIDEO_PART`), made without it: the image is upscaled whole, as a folder's
    images are without the options for videos; None for another refusal, or a video's."""
    import copy

    if not _given(single, _VIDEO_PART):
        return None
    whole = copy.copy(single)
    for attr, _, unset in _VIDEO_PART:
        setattr(whole, attr, unset)
    try:
        job = _plan(whole, into, overwrite=True, alone=False)[0]
    except SRStreamError:
        return None
    return job if job.kind == "image" else None


def _plan_several(args: argparse.Namespace, inputs: list[Path], into: Path | None):  # noqa: ANN202
    """:func:`_several`'s plan: the report to fill, each input's output (those that could be
    planned) and which inputs are images.

    Raises:
        ConfigError, InputError or OutputError: every input refused alike (settings that no input
            takes, a folder none can be written to), the first one's. OutputError: an output that
            is one of the inputs, with ``--overwrite``; two inputs' same output.
    """
    import copy

    from srstream.engine.folders import VideosReport

    real = [os.path.realpath(path) for path in inputs]
    report = VideosReport(total=len(inputs))
    targets: dict[Path, Path] = {}
    images: set[Path] = set()  # run without the options for videos, as a folder run's images are
    videos: set[Path] = set()
    refused: list[SRStreamError] = []
    whole: list[ConfigError] = []  # an image's refusal of a video's part (--start, --frames): run whole
    for path in inputs:
        single = copy.copy(args)
        single.input, single.output = path, None
        try:
            job = _plan(single, into, overwrite=True, alone=False)[0]
        except ConfigError as exc:
            job = _image_whole(single, into, exc)
            if job is None:
                report.failed.append((path, str(exc)))
                refused.append(exc)
                continue
            whole.append(exc)
        except (InputError, OutputError) as exc:  # this input alone: listed, the rest go on
            report.failed.append((path, str(exc)))
            refused.append(exc)
            continue
        targets[path] = job.output
        if job.kind == "image":
            images.add(path)
        if _unused_image_options(args, job):
            videos.add(path)  # --ext, --quality do nothing to it: run without, as a folder's videos are
    if len(refused) == len(inputs) and len({type(exc) for exc in refused}) == 1:
        raise refused[0]  # settings no input takes (--crf 99), a folder none can be written to: said once
    if len(images) == len(inputs):
        if whole:
            raise whole[0]  # images alone: a video's part is refused, as for one image
        images = set()  # images alone: an option for videos is refused, as for one image
    if targets and len(videos) == len(targets):
        unused = _given(args, _IMAGE_ONLY)
        raise ConfigError(f"{', '.join(unused)}: for image outputs, and these inputs are videos, whose outputs take "
                          f"their own: drop {'it' if len(unused) == 1 else 'them'}")
    made: dict[str, Path] = {}
    for path, target in list(targets.items()):
        place = os.path.realpath(target)
        if place in real and not args.overwrite:  # `sr-stream *.mp4` again: the shell now names the outputs too
            output = inputs[real.index(place)]
            print(f"sr-stream: leaving out {output}: it is {path}'s output (an earlier run's), which this run keeps",
                  file=sys.stderr)
            targets.pop(output, None)
            images.discard(output)
            report.failed = [(p, why) for p, why in report.failed if p != output]
            report.total -= 1
        elif place in real:
            raise OutputError(f"{path}'s output {target} is one of the inputs, and --overwrite would replace it; "
                              "nothing was upscaled: choose an -o folder, or leave that input out")
    for path, target in targets.items():
        place = os.path.realpath(target)
        if place in made and args.ext is not None and made[place].with_suffix("") == path.with_suffix(""):
            raise OutputError(f"{made[place]} and {path} would both be written to {target} (--ext {args.ext}); "
                              "nothing was upscaled: rename one, or drop --ext")
        if place in made:
            raise OutputError(f"{made[place]} and {path} would both be written to {target}; nothing was upscaled: "
                              "upscale them into different -o folders")
        made[place] = path
    return report, targets, images, videos


def _for_images(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of ``args`` without what is for videos only, which does nothing to a folder's (or a
    run of several inputs') images."""
    import copy

    images = copy.copy(args)
    images.stabilize, images.change_cap, images.adapt = "auto", "auto", "auto"
    for attr, _, unset in _VIDEO_PART:  # a part of each video; an image is whole
        setattr(images, attr, unset)
    for attr, _, unset in _VIDEO_ONLY:
        setattr(images, attr, unset)
    return images


def _for_videos(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of ``args`` without what is for images only (``--ext``, ``--quality``), which does nothing to a
    folder's (or a run of several inputs') videos."""
    import copy

    videos = copy.copy(args)
    for attr, _, unset in _IMAGE_ONLY:
        setattr(videos, attr, unset)
    return videos


def _folder(args: argparse.Namespace, job) -> int:  # noqa: ANN001 - FileJob
    """A folder or glob with videos: its images and GIFs as a batch (:func:`_batch`), then each video
    as ``sr-stream VIDEO -o OUT/VIDEO`` would make it (its own model variant, audio, subtitles, a
    resumable job when long), into the output folder (:mod:`srstream.engine.folders`). A video
    already there (a finished earlier run: outputs appear only when complete) is skipped unless
    ``--overwrite``; one that fails is listed and the rest go on (exit 3 at the end); Ctrl-C stops
    the run, and the same command continues it."""
    import dataclasses

    from srstream.errors import interrupted_exit_code

    failed_images: InputError | None = None
    if job.media.frames:
        images = _for_images(args)
        model, resize, _ = _sized_model(images, None)
        try:
            code = _upscale(images, dataclasses.replace(job, videos=()), model, resize)
        except InputError as exc:  # images that failed: listed; the videos still run
            failed_images, code = exc, 0
        if code == interrupted_exit_code():
            return code
    job.output.mkdir(exist_ok=True)

    def single(video: Path) -> argparse.Namespace:
        one = _for_videos(args)
        one.recursive = False
        return one

    report = _each(args, list(job.videos), "video", lambda path: path.name, single)
    return _end_of_run(report, job.output, "videos", failed_images)


COMMAND = Command(configure, run, "Upscale a video (audio and subtitles kept), an image, a folder or a glob.")
