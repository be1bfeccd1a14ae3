"""``sr-stream camera`` / ``screen[...]`` / ``window:TITLE`` / ``lavfi:GRAPH``: live upscaling.

Reached through ``sr-stream INPUT`` when INPUT names a live source and no such file exists;
the options are the upscale command's "live sources" group (plus ``-o`` to record and the video
encoder options for it).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from srstream.errors import ConfigError, InputError

__all__ = ["build_ladder", "live_model", "run_live_command"]


def live_model(args: argparse.Namespace, source, found=None):  # noqa: ANN001, ANN201 - LiveSource, Compression
    """Without ``--model``: the largest bundled tier of the scale that holds the source's frame
    rate on this machine (measured once, cached), said once in the run header; for a screen or
    window capture, that tier's screen variant where it has one; for a network stream, the variant
    its first frames call for (``found``, :func:`srstream.engine.sources.probe_stream`: compressed
    hard, or a screen), as for a file, and for an MJPEG camera the one its quantisation tables call
    for (:func:`srstream.engine.sources.probe_camera`). Returns (model, whether ``--stabilize auto``
    steadies it: a stream that took a variant, as a file that did)."""
    from srstream.engine.autotune import pick_tier
    from srstream.engine.models import BUNDLED_MODELS, SCREEN_VARIANTS, for_content, resolve_model, steadied

    tier = pick_tier(args.scale or 2, fps=args.fps or source.rate or 30.0, size=source.size, backend=args.backend,
                     precision=args.precision, device=args.device)
    print(f"sr-stream: model {tier.reason}", file=sys.stderr)
    variant = SCREEN_VARIANTS.get(tier.model.name)
    if source.kind in ("screen", "window") and variant in BUNDLED_MODELS:  # the same graph and speed
        print(f"sr-stream: a {source.kind} capture: {variant}, trained on desktops and text "
              f"(--model {tier.model.name} keeps the tier)", file=sys.stderr)
        return resolve_model(variant), False
    if found is None:
        return tier.model, False
    name, why = for_content(tier.model.name, found.h264_qp, found.look)
    if why:
        print(f"sr-stream: {why}", file=sys.stderr)
    return resolve_model(name), steadied(tier.model.name, found.h264_qp, name)


def build_ladder(model, backend: str, precision: str, tile, stack: contextlib.ExitStack, *,  # noqa: ANN001
                 size: tuple[int, int] | None = None, device: str | None = None, stabilize: float = 0.0,
                 stabilize_tolerance: float = 6.0, stabilize_still: float = 0.0, change_cap: float = 0.0,
                 reuse: bool = True) -> list:
    """The configurations ``--max-latency`` may step down to, cheapest last.

    First the chosen model as asked; then its fastest INT8 candidate that is accurate on this
    machine, when it ships an INT8 graph and another precision was chosen; then each bundled
    tier of the same scale (:data:`srstream.engine.models.TIERS`) whose graph is smaller (fewer
    weights: these are convolutional nets run at input resolution, so their cost per pixel follows
    their weight count) and not the same architecture, in its fastest correct variant. A variant
    trained for other input is no rung of its own: it is its tier's graph (``quality-x4`` stepped
    down to ``realtime-x4`` and then to ``realtime-x4-compressed``, which is no faster). Candidates are timed at the capture ``size``.
    Each rung opens its backend only when it is reached; ``stack`` closes them. Every rung is
    steadied (``stabilize``: strength, 0 for off; its tolerance and still-frame strength as
    :class:`srstream.engine.stabilize.StabilizedUpscaler` takes them) and capped alike.
    """
    from srstream.engine.autotune import choose, select
    from srstream.engine.backends import open_backend
    from srstream.errors import BackendError
    from srstream.engine.live import Rung
    from srstream.engine.models import TIERS, available_precisions, resolve_model
    from srstream.engine.upscaler import FrameUpscaler

    def rung(m, choice) -> Rung:  # noqa: ANN001
        def make() -> FrameUpscaler:
            be = stack.enter_context(open_backend(m, choice))
            upscaler = FrameUpscaler(be, m.spec, tile, reuse=reuse)
            made.opened.append(upscaler)
            if stabilize:
                from srstream.engine.stabilize import StabilizedUpscaler

                upscaler = StabilizedUpscaler(upscaler, stabilize, stabilize_tolerance,  # type: ignore[assignment]
                                              stabilize_still)
            if change_cap:
                from srstream.engine.changecap import CappedUpscaler

                upscaler = CappedUpscaler(upscaler, change_cap)  # type: ignore[assignment]
            return upscaler

        made = Rung(f"{m.spec.name} x{m.spec.scale} {choice.backend}/{choice.precision}", make)
        return made

    first = choose(model, backend, precision, size=size, device=device)
    ladder = [rung(model, first)]
    if first.precision != "int8" and "int8" in available_precisions(model.path):
        try:
            ladder.append(rung(model, select(model, precision="int8", size=size).choice))
        except BackendError:
            pass  # no INT8 candidate is accurate on this machine: no such rung
    graph_bytes = model.path.stat().st_size
    faster = []
    for name in TIERS.get(model.spec.scale, ()):
        other = resolve_model(name)
        # a smaller graph (fewer weights) of the same scale; another training of the same
        # architecture (realtime-x2-compressed beside realtime-x2) costs the same, so it is no rung
        same_graph = (other.spec.arch, other.spec.arch_params) == (model.spec.arch, model.spec.arch_params)
        other_size = other.path.stat().st_size
        if other.spec.scale == model.spec.scale and other_size < graph_bytes and not same_graph:
            faster.append((other_size, other))
    for _, other in sorted(faster, key=lambda pair: -pair[0]):
        ladder.append(rung(other, choose(other, "auto", "auto", size=size)))
    return ladder


def _position(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--window-pos {text!r}: expected X,Y (e.g. 0,0)") from None
    return x, y


def check_live_output(output: Path | str | None, overwrite: bool) -> None:
    """Refuse a live run's ``-o`` before its source is opened (a sender may be waited for, for hours)
    and before its model is prepared: a server's URL sent nothing over, a file that exists, a folder
    that does not, or an extension that is not a video's. A picture's (.png, .webp) and none at all
    were refused at the first frame, after the model had loaded; an HLS playlist (.m3u8) was written
    naming the recording's temporary file as its one segment.

    Raises:
        ConfigError: what to change.
    """
    from srstream.engine.live_sinks import sent_format
    from srstream.engine.outputs import VIDEO_SUFFIXES

    if output is None or str(output) == "-":
        return
    if isinstance(output, str):  # a server's URL
        sent_format(output)
        return
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        hls = output.suffix.lower() == ".m3u8"
        raise ConfigError(f"-o {output}: a live run records a video; end it with one of "
                          f"{', '.join(VIDEO_SUFFIXES[:6])} ..." + (
                              ", or send it to a server that makes HLS of it (-o rtmp://..., nginx-rtmp, MediaMTX)"
                              if hls else ""))
    if output.exists() and not overwrite:
        raise ConfigError(f"{output} exists; pass --overwrite to replace it")
    if not output.parent.is_dir():
        raise ConfigError(f"{output.parent} is not a folder; create it first")


def run_live_command(args: argparse.Namespace, source, model, steady: bool = False) -> int:  # noqa: ANN001
    """Upscale the live ``source`` (a LiveSource) with ``model`` (a ResolvedModel); ``steady``: a
    network stream that :func:`live_model` says ``--stabilize auto`` steadies."""
    from srstream.commands.upscale import cap_setting
    from srstream.engine.live import run_live
    from srstream.engine.messages import Report
    from srstream.engine.live_sinks import Recorder, VirtualCamera
    from srstream.engine.encode import options_for

    if args.ensemble:
        raise ConfigError("--ensemble runs the model 8 times a frame: it is for stills and files, not live sources")
    if args.tileable:
        raise ConfigError("--tileable is for textures that repeat edge to edge (images and files), not live sources")
    if getattr(args, "start", None) is not None or getattr(args, "to", None) is not None:
        raise ConfigError("--start and --to cut a scene from a video file; a live source starts now (--duration "
                          "stops it): drop them")
    if args.frames is not None and args.frames <= 0:
        raise ConfigError(f"--frames must be positive, got {args.frames}")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration must be positive, got {args.duration}")
    from srstream.engine.models import screen_variant
    from srstream.engine.stabilize import DEFAULT_TOLERANCE, setting, still_setting

    # a screen or window capture that took the screen variant (no --model) is steadied as a screen
    # recording in a file is, by default and its still frames held harder; other live sources only on
    # --stabilize. A capture is not compressed: the clean stream's tolerance (on the game capture's clean
    # frames 12 levels cost 0.041 dB, 6 cost 0.014; the desktop's took the same from both:
    # benchmarks/results/bench/stabilizer_still_live.md)
    screen = not args.model and not args.fast and screen_variant(model.name)
    strength, tolerance = setting(args.stabilize, screen)[0], DEFAULT_TOLERANCE
    if steady:  # a network stream is compressed: the file pipeline's setting, tolerance included
        strength, tolerance = setting(args.stabilize, True)
    if (screen or steady) and args.stabilize == "auto":
        print("sr-stream: steadying the output over time, as for every screen recording and every stream "
              "compressed this hard (--stabilize 0 turns it off)", file=sys.stderr)
    output: Path | str | None = args.output  # (a str: a server's URL, -o rtmp://...)
    sent = isinstance(output, str)
    from srstream.engine.live_sinks import sent_format
    from srstream.engine.sources import shown_url

    check_live_output(output, args.overwrite)  # (again: the stream may have taken long to come)
    to_stdout = output is not None and str(output) == "-"  # Matroska, for another program to read
    out = sys.stderr if to_stdout else sys.stdout  # the summary: standard output carries the video then
    report = Report(source=str(source))
    sinks = []
    display = None
    with contextlib.ExitStack() as stack:
        ladder = build_ladder(model, args.backend, args.precision, args.tile, stack, size=source.size,
                              device=args.device, stabilize=strength, stabilize_tolerance=tolerance,
                              stabilize_still=still_setting(screen), change_cap=cap_setting(args.change_cap, True),
                              reuse=not args.no_reuse)
        if output is not None:
            suffix = ".mkv" if to_stdout else sent_format(output)[1] if sent else output.suffix
            options = options_for(suffix, args.codec, args.crf, bitrate=args.bitrate, preset=args.preset,
                                  pix_fmt=args.pix_fmt)
            options.validate(suffix)
            recorder = Recorder(output, options, report)
            stack.enter_context(recorder.pending)  # released (and its temporary file removed) on any exit
            sinks.append(recorder)
        if args.virtual_camera:
            sinks.append(VirtualCamera(args.fps or 30))
        if not args.no_display:
            from srstream.engine.display import WindowDisplay

            display = WindowDisplay(f"sr-stream {model.spec.name} x{model.spec.scale} - {source}",
                                    overlay=not args.no_overlay, position=_position(args.window_pos))
        elif not sinks:
            print("sr-stream: --no-display without -o or --virtual-camera: frames are upscaled and measured only",
                  file=sys.stderr)
        print(f"sr-stream: {source} -> {ladder[0].label}"
              + (f", then down to {', '.join(r.label for r in ladder[1:])} if over {args.max_latency:g} ms"
                 if args.max_latency and len(ladder) > 1 else "")
              + (f"; {'sending' if sent else 'recording'} to "
                 f"{'standard output (Matroska)' if to_stdout else shown_url(output) if sent else output}"
                 if output else "")
              + ("; Ctrl-C or Q in the window stops" if display else "; Ctrl-C stops"), file=sys.stderr)
        audio_input = None
        if args.audio_input:
            from srstream.engine.sources import parse_audio_input

            if output is None:
                raise ConfigError("--audio-input records a sound device beside the pictures: give -o FILE")
            audio_input = None if args.no_audio else parse_audio_input(args.audio_input)
        run_live(source, ladder, display=display, sinks=sinks, report=report, max_frames=args.frames,
                 max_seconds=args.duration, max_latency_ms=args.max_latency, sound=not args.no_audio,
                 audio_input=audio_input, pace=not args.no_pace)
    for switch in report.switches:
        print(f"sr-stream: switched {switch}", file=sys.stderr)
    print(report.summary(), file=out)
    from srstream.engine.reuse import ReuseStats

    spared = ReuseStats.total(u.reuse_stats for r in ladder for u in r.opened).describe()
    if spared:
        print(f"sr-stream: {spared}", file=out)
    where = None if report.output is None else "-" if to_stdout else shown_url(str(report.output)) if sent \
        else str(report.output)
    if where is not None:
        sound = f"; with {', '.join(report.copied_streams)}" if report.copied_streams else ""
        print(f"{'standard output' if to_stdout else where}: {report.frames_out} frames{sound}", file=out)
    if report.damaged_packets:
        report.notes.append(f"{report.damaged_packets} damaged packets of {source} did not decode and were skipped")
    for note in report.notes[report.stopped_by == "disconnected":]:  # the first is then the error below
        print(f"note: {note}", file=sys.stderr)
    if args.report is not None:  # what ran, where and when, beside the counters (a speed without them says
        # little), as the bench's records say it, written whole or not at all
        import time

        from srstream import __version__
        from srstream.bench.results import machine, write_json

        write_json(args.report, {**report.to_dict(), "model": ladder[0].label, "output": where,
                                 "srstream": __version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                 "machine": machine()})
    if report.stopped_by == "disconnected":
        raise InputError(report.notes[0] if report.notes else f"{source} disconnected")
    from srstream.errors import interrupted_exit_code

    return interrupted_exit_code() if report.stopped_by == "interrupt" else 0
