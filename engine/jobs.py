"""Long videos as resumable jobs: keyframe-aligned segments, a manifest, and a join that copies.

A video is cut into segments at keyframes (found by reading packets, not decoding), about
``segment_frames`` frames each. Each segment is upscaled on its own (decoded from its keyframe,
frames ``start <= pts < end``, the stream's own timestamps) and encoded to its own MP4 file in a
job folder beside the output, ``.NAME.job/``, whose ``manifest.json`` records

* the input's identity: its size and a SHA-256 of three 1 MiB blocks (start, middle, end);
* the options that change the result: the model (its graph's checksum), backend and precision,
  tiling, the encoder settings, and the segment length;
* the boundaries, and per segment whether it is done and the SHA-256 of its file.

A finished segment is never redone: running the same command again after Ctrl-C, SIGKILL, a
power cut or a crash verifies the finished ones by their checksum and does the rest. A changed
input or option is refused with a message (``--restart`` starts over). The join copies the
segments' packets (no re-encoding; every segment starts with an IDR frame and the encoder's
settings are the same, so its headers are too), muxes audio, subtitles, chapters and tags once
from the source, and renames the output into place. The output depends only on the input, the
options and the segmentation: not on interruptions, nor on which worker did which segment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.atomic import PendingOutput, fitting_name, write_atomic
from srstream.engine.av_errors import open_av, reading, writing
from srstream.engine.encode import (CopiedOrder, EncodeOptions, copy_container_metadata, copy_packet, copy_stream_tags,
                                    copy_streams, exact_start, finish_probe, first_packets, frames_kept, kept_note,
                                    mux_copied, tag_hevc, track_languages, undecodable, web_ready)
from srstream.engine.isobox import write_languages
from srstream.engine.captions import caption_packets, caption_track, starts_with_captions
from srstream.engine.media import carried_streams, cut_pts, decode_order_times, main_video, no_video, video_rate
from srstream.engine.sequence import open_input
from srstream.engine.spherical import ISO_MUXERS, output_projection, projection_boxes, write_projection
from srstream.engine.timeline import Continuity, jumps_in
from srstream.errors import ConfigError, InputError, OutputError

__all__ = ["JobReport", "Segment", "Uncuttable", "input_identity", "job_folder", "join_filter", "plan_segments",
           "run_job", "segment_suffix"]

_MANIFEST_VERSION = 1
#: The container of a job's segments for the codecs MP4 does not hold: QuickTime's for its own
#: editing codecs (it holds a ProRes 4444's alpha too), Matroska for FFV1, and FFmpeg's own NUT for
#: the lossless codecs that FFmpeg's Matroska and QuickTime muxers refuse (they name no tag for them;
#: AVI, which takes them, keeps a frame rate's times only) (the codecs an input in them keeps:
#: :data:`srstream.engine.encode.KEPT_CODECS`); MP4 for every other.
_SEGMENT_SUFFIXES = {"prores_ks": ".mov", "prores_aw": ".mov", "dnxhd": ".mov", "qtrle": ".mov", "png": ".mov",
                     "ffv1": ".mkv", "utvideo": ".nut", "huffyuv": ".nut", "ffvhuff": ".nut", "magicyuv": ".nut"}


def segment_suffix(codec: str) -> str:
    """The extension of a job's segment files for video encoded with ``codec``."""
    return _SEGMENT_SUFFIXES.get(codec, ".mp4")


@dataclass(frozen=True)
class Segment:
    index: int
    start: int | None  # pts (video time base) of its first keyframe; None for the first
    end: int | None  # the next segment's start; None for the last
    frames: int  # planned, from the packets


@dataclass
class JobReport:
    segments: int = 0
    reused: int = 0  # done before this run, verified
    done_now: int = 0
    frames_out: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    output: Path | None = None
    copied_streams: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ended_early: str = ""  # why the output holds fewer frames than the input should have given


def job_folder(output: Path) -> Path:
    return output.with_name(fitting_name(output.parent, ".", output.name, ".job"))


def input_identity(path: Path, block: int = 1 << 20) -> dict[str, Any]:
    """Size and a SHA-256 over three blocks (start, middle, end): cheap on a large file, and any
    re-encode or truncation changes it."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for offset in sorted({0, max(0, size // 2 - block // 2), max(0, size - block)}):
            fh.seek(offset)
            digest.update(fh.read(block))
    return {"size": size, "sampled_sha256": digest.hexdigest()}


class Uncuttable(InputError):
    """An input whose timestamps cannot place segments (it runs in one pass instead)."""


def plan_segments(src: Path, segment_frames: int, start: float | None = None,
                  seconds: float | None = None) -> list[Segment]:
    """Keyframe-aligned segments of about ``segment_frames`` frames (packets are read, not decoded),
    of the frames from ``start`` seconds into the file (``--start``; None: its start) for
    ``seconds`` (``--duration``, ``--to``; None: to its end), as one pass keeps them: from the
    first frame at or after the start (:func:`srstream.engine.media.cut_pts`; the first segment
    then decodes from the keyframe before it) to the frames shown ``seconds`` after that one.

    Raises:
        InputError: no video stream; no frame from ``start`` on. Uncuttable: packets without
            timestamps, frames timed by their decoding order
            (:func:`srstream.engine.media.decode_order_times`), times that jump (a transport stream
            of files joined end to end: :mod:`srstream.engine.timeline`), or times that repeat or
            go back (:func:`_overlapping`).
    """
    import math

    keyframes: list[tuple[int, int]] = []  # (pts, packets before it)
    times: list[int] = []  # every packet's pts, in decoding order
    with reading(str(src)), open_input(src) as container:
        video = main_video(container)
        if video is None:
            raise InputError(no_video(src, container))
        if decode_order_times(src, video):
            raise Uncuttable(f"its frames ({video.codec_context.name} with B-frames in AVI) have no times of their "
                             "own to cut them at, only their decoding order's")
        cut = cut_pts(container, video, start) if start is not None else None
        tb = video.time_base
        continuity = Continuity() if jumps_in(container) else None
        for packet in container.demux(video):
            if packet.size == 0:
                continue
            if packet.pts is None:
                raise Uncuttable("its packets have no timestamps")
            if continuity is not None:
                continuity(packet)
                if continuity.jumps:
                    raise Uncuttable("its timestamps jump (files joined end to end, a recorder restarted), so its "
                                     "segments' times would not be those of one pass")
            if packet.is_keyframe:
                keyframes.append((packet.pts, len(times)))
            times.append(packet.pts)
    if _overlapping(keyframes, times):
        raise Uncuttable("its frames' times repeat or go back (pieces joined whose pictures overlap, a recorder "
                         "that went back), so its segments' times would not be those of one pass")
    until = None
    if seconds is not None:  # one pass stops at the first frame shown ``seconds`` after the first it keeps
        first = min((t for t in times if cut is None or t >= cut), default=None)
        if first is not None:
            until = first + math.ceil(Fraction(seconds) / tb)
    kept = [0]  # the packets before each (in decoding order) that a run keeps: shown from the cut, before the end
    for t in times:
        kept.append(kept[-1] + ((cut is None or t >= cut) and (until is None or t < until)))
    if not kept[-1]:
        from srstream.engine.video import clock

        raise InputError(f"{src} has no frames from {clock(start or 0)} on (--start): it ends before; nothing was "
                         "written")
    # where a segment may start: a keyframe after the cut and before the end (the first segment starts at the cut,
    # decoded from the keyframe before it: FileSource)
    starts = [(None, keyframes[0][1] if cut is None and keyframes else 0)]  # (pts, frames kept before it)
    segment_frames = max(segment_frames, 2)
    for pts, before in keyframes[1:] if cut is None else keyframes:
        if (cut is None or pts > cut) and (until is None or pts < until) \
                and kept[before] - starts[-1][1] >= segment_frames:
            starts.append((pts, kept[before]))
    if len(starts) > 1 and kept[-1] - starts[-1][1] < 2:
        # a last segment of one frame joins the one before: rebuilt telecined film (four frames for
        # five) can owe it no frame at all, and a segment must hold one
        starts.pop()
    segments = []
    for n, (pts, before) in enumerate(starts):
        end, after = starts[n + 1] if n + 1 < len(starts) else (until, kept[-1])
        segments.append(Segment(n, pts, end, after - (0 if n == 0 else before)))
    return segments


def _overlapping(keyframes: list[tuple[int, int]], times: list[int]) -> bool:
    """Whether frames' times repeat, or a packet decoded before one of ``keyframes`` ((pts, packets
    before it); ``times``: every packet's pts in decoding order) shows at or after it. One pass
    moves such frames to the next free times, and every frame after them with them; a segment
    holds the frames whose own times fall between its keyframe's and the next one's, so segments
    would place them elsewhere or nowhere. Two pieces of a recording joined whose pictures overlap
    by two frames came out as a first segment without its last frames and a second that decoded
    none ("no decodable frames"). (A keyframe's leading pictures, decoded after it and shown
    before it, are the segment before's: they are not such packets.)"""
    import numpy as np

    pts = np.asarray(times, dtype=np.int64)
    if np.unique(pts).size < pts.size:
        return True
    shown = np.maximum.accumulate(pts)  # the latest time among the packets up to each
    return any(n and shown[n - 1] >= t for t, n in keyframes)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load(manifest: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(manifest.read_text())
        return data if data.get("version") == _MANIFEST_VERSION else None
    except (OSError, ValueError):
        return None


def _save(manifest: Path, data: dict[str, Any]) -> None:
    write_atomic(manifest, (json.dumps(data, indent=1) + "\n").encode())


def _prepare(src: Path, output: Path, options: dict[str, Any], segment_frames: int, restart: bool,
             log: Callable[[str], None], part: tuple[float | None, float | None] = (None, None)
             ) -> tuple[Path, dict[str, Any]]:
    folder = job_folder(output)
    manifest = folder / "manifest.json"
    identity = input_identity(src)
    existing = _load(manifest)
    if existing is not None and not restart:
        changed = [what for what, old, new in (("the input", existing["input"], identity),
                                                ("the options", existing["options"], options),
                                                ("the segment length", existing["segment_frames"], segment_frames))
                   if old != new]
        if changed:
            raise ConfigError(f"{folder} holds an unfinished job for {output}, but {' and '.join(changed)} changed "
                              "since it started; run the same command as before to finish it, or add --restart "
                              "to start over")
        return folder, existing
    if existing is not None:
        for seg in folder.glob("seg_*"):
            seg.unlink()
    segments = plan_segments(src, segment_frames, *part)
    suffix = segment_suffix(options.get("encode", {}).get("codec", ""))
    data = {"version": _MANIFEST_VERSION, "input": identity, "source": str(src), "output": str(output),
            "options": options, "segment_frames": segment_frames,
            "segments": [{**dataclasses.asdict(s), "status": "todo", "file": f"seg_{s.index:05d}{suffix}",
                          "sha256": None} for s in segments]}
    folder.mkdir(parents=True, exist_ok=True)
    _save(manifest, data)
    sizes = sorted(seg.frames for seg in segments)
    cut = (f"{len(segments)} segments of {sizes[0]}-{sizes[-1]} frames" if len(segments) > 1
           else f"1 segment of {sizes[0]} frames")
    log(f"job {folder}: {cut} (asked: about {segment_frames}; cut only at keyframes)")
    return folder, data


def _with_kept(exc: OutputError, report: JobReport, folder: Path, data: dict[str, Any], *,
               joining: bool = False) -> OutputError:
    """``exc`` (a full disk, a file-size limit while writing a segment or, ``joining``, the output)
    saying which segments are done and kept for the next run of the same command, where a single
    run's message says that nothing was kept; and for the join, the room it needs."""
    done = report.reused + report.done_now
    if not done:
        return exc
    said = str(exc).removesuffix("; nothing was kept")
    if joining and said != str(exc):  # the disk was full (srstream.engine.av_errors.write_error says so)
        size = sum((folder / entry["file"]).stat().st_size for entry in data["segments"]
                   if (folder / entry["file"]).exists())
        said += f" (the join needs about {size / 1e6:.0f} MB free beside the segments)"
    return OutputError(f"{said}; {done} of {report.segments} segments are done and kept in {folder}: run the same "
                       "command again to go on from there")


def _done(folder: Path, seg: dict[str, Any]) -> bool:
    """A finished segment whose file is still what was recorded."""
    path = folder / seg["file"]
    return seg["status"] == "done" and path.is_file() and _sha256(path) == seg["sha256"]


def run_job(src: Path, output: Path, upscale_segment: Callable[[Path, Segment], int], encode: EncodeOptions,
            options: dict[str, Any], *, segment_frames: int = 300, restart: bool = False,
            run_segments: Callable[[list[tuple[Path, Segment]]], Iterator[tuple[Segment, int]]] | None = None,
            progress: Callable[[int], None] | None = None, log: Callable[[str], None] = lambda _: None,
            sound: Path | None = None, start: float | None = None, seconds: float | None = None) -> JobReport:
    """Upscale ``src`` into ``output`` segment by segment (see the module docstring); ``sound``: a
    file whose first audio stream the join muxes instead of the source's streams (an image
    sequence's soundtrack). ``start`` / ``seconds``: a part of it only (``--start``, and
    ``--duration`` or ``--to``: :func:`plan_segments`), its times, sound, subtitles and chapters
    counting from the start as one pass makes them (the segments' upscalers are told ``start``
    too: ``upscale_segment`` and ``run_segments`` take it from their caller).

    ``upscale_segment(path, segment)`` writes one segment's video to ``path`` and returns its frame
    count; ``run_segments``, when given, runs a list of them (on Ray workers:
    :class:`srstream.engine.cluster.RayRunner`) and yields each as it finishes; by default they run
    here, in order. ``progress`` is told the frames of segments reused from an earlier run (the
    segments report their own). The output's lock is held for the whole job, so a second run of
    the same command waits for nothing and is refused.

    Raises:
        ConfigError: an unfinished job of this output with other inputs or options.
        InputError / OutputError / ...: as the segments and the join raise them; finished
            segments stay for the next run.
    """
    started = time.perf_counter()
    with PendingOutput(output) as pending:
        folder, data = _prepare(src, output, options, segment_frames, restart, log, (start, seconds))
        manifest = folder / "manifest.json"
        for stale in [*folder.glob("seg_*.interrupted*"), *folder.glob(".seg_*")]:
            stale.unlink(missing_ok=True)  # what killed runs left: partial segments and their locks
        report = JobReport(segments=len(data["segments"]))
        todo = []
        reused_frames = 0
        for entry in data["segments"]:
            seg = Segment(entry["index"], entry["start"], entry["end"], entry["frames"])
            if _done(folder, entry):
                report.reused += 1
                reused_frames += entry.get("frames_out", 0)
            else:
                entry["status"] = "todo"
                todo.append((folder / entry["file"], seg))
        if report.reused:
            log(f"resuming: {report.reused} of {report.segments} segments already done (checksums verified)")
            if progress:
                progress(reused_frames)
        runner = run_segments or (lambda jobs: ((seg, upscale_segment(path, seg)) for path, seg in jobs))
        finished = runner(todo)
        try:
            for seg, frames in finished:
                entry = data["segments"][seg.index]
                entry.update(status="done", sha256=_sha256(folder / entry["file"]), frames_out=frames)
                _save(manifest, data)
                report.done_now += 1
                log(f"segment {seg.index + 1}/{report.segments} done ({frames} frames)")
        except KeyboardInterrupt:
            report.interrupted = True
            report.seconds = time.perf_counter() - started
            log(f"interrupted: {report.reused + report.done_now} of {report.segments} segments are done and kept "
                f"in {folder}; run the same command again to continue")
            return report
        except OutputError as exc:  # a full disk: what is done stays for the next run, and the message says so
            raise _with_kept(exc, report, folder, data) from exc
        finally:
            close = getattr(finished, "close", None)
            if close is not None:
                close()  # a runner stops what it still has in flight
        try:
            report.frames_out = _join(src, pending, folder, data, encode, report, sound, start, seconds)
        except OutputError as exc:
            raise _with_kept(exc, report, folder, data, joining=True) from exc
        pending.commit()
    for entry in data["segments"]:
        (folder / entry["file"]).unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    for leftover in folder.glob(".*"):  # a runner's marker
        leftover.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
    report.output = output
    report.seconds = time.perf_counter() - started
    return report


def _packets(path: Path) -> Iterator[Any]:
    with open_av(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                yield packet


#: Bitstream filters from MP4's length-prefixed H.264 / HEVC (the segments') to Annex B start codes,
#: which the .avi and .mxf muxers take only (FFmpeg's command line needs ``-bsf:v`` for them too).
_ANNEX_B = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
#: Video packets :func:`join_filter` tries.
_PROBE_PACKETS = 3


def _join_streams(out, video_in, source, encode: EncodeOptions, suffix: str, copied_names: list[str],  # noqa: ANN001
                  notes: list[str], sound=None, cut: Fraction | None = None,  # noqa: ANN001
                  until: Fraction | None = None) -> tuple[Any, dict, dict]:
    """The join's streams in ``out`` (the file, or :func:`join_filter`'s in memory): a copy of the
    segments' video (``video_in``, the first segment's stream) with the source video's tags, and the
    source's audio and subtitles as :func:`copy_streams` makes them, or the first audio stream of
    ``sound`` (an open container: an image sequence's soundtrack) instead; ``cut`` / ``until``: the
    output starts this many seconds into the source and runs this long (its chapters are moved
    and cut: :func:`srstream.engine.encode.copy_container_metadata`). Returns (video, the
    streams to copy, what copy_streams made of them)."""
    video = out.add_stream_from_template(video_in)
    exact_start(out, video)
    if video_in.codec_context.name == "utvideo":
        # its fourcc names its pixel layout (ULY0: 4:2:0, ULRA: RGBA, ...), which the template leaves out:
        # joined into an .avi, the AVI muxer's first UT Video tag (ULRA) made a 4:2:0 video undecodable
        video.codec_context.codec_tag = video_in.codec_context.codec_tag
    tag_hevc(out, video, video_in.codec_context.name)
    copy_stream_tags(main_video(source), video)
    if sound is not None:
        extra = {s.index: s for s in sound.streams.audio[:1]}
    else:
        extra = carried_streams(source, encode.copy_audio, encode.copy_subtitles)
    copied = copy_streams(out, extra, suffix, copied_names, (cut, until), notes)
    copied.update(copy_container_metadata(source, out, suffix, copied_names, notes, cut=cut, until=until))
    if encode.kept_from:
        notes.append(kept_note(encode, encode.pix_fmt or video_in.codec_context.pix_fmt))  # as encoded, not decoded
    if encode.note:
        notes.append(encode.note)
    return video, extra, copied


def join_filter(format_name: str, suffix: str, segment, source, encode: EncodeOptions,  # noqa: ANN001
                sound=None) -> str | None:  # noqa: ANN001
    """The bitstream filter the segments' video needs to be joined into a ``format_name`` output
    (None: none), found by muxing the first packets of ``segment`` (an open segment file) with the
    streams of ``source`` (the open input; or ``sound``'s, see :func:`_join_streams`) into memory:
    as they are, then through :data:`_ANNEX_B`'s filter. Before the first segment, with a segment encoded into memory, this says whether a job
    can be joined at all; at the join, with the first real segment, which way.

    Raises:
        OutputError: neither way (with FFmpeg's reason); nothing was written.
    """
    import io

    import av

    video_in = segment.streams.video[0]
    others = sound if sound is not None else source
    samples = first_packets(others.name, [s.index for s in others.streams if s.type in ("audio", "subtitle")])
    packets = []
    for packet in segment.demux(video_in):
        if packet.size:
            packets.append(packet)
        if len(packets) == _PROBE_PACKETS:
            break
    failure: BaseException | None = None
    for name in dict.fromkeys((None, _ANNEX_B.get(video_in.codec_context.name))):
        probe = av.open(io.BytesIO(), "w", format=format_name)
        try:
            video, _, copied = _join_streams(probe, video_in, source, encode, suffix, [], [], sound)
            bsf = av.bitstream.BitStreamFilterContext(name, video_in, video) if name else None
            for packet in [q for p in map(copy_packet, packets) for q in (bsf.filter(p) if bsf else [p])]:
                packet.stream = video
                probe.mux(packet)
            finish_probe(probe, copied, samples)
            return name
        except (av.error.FFmpegError, ValueError) as exc:
            failure = failure or exc
            try:
                probe.close()
            except (av.error.FFmpegError, ValueError):
                pass
    raise OutputError(f"its segments cannot be joined into a {suffix} file ({failure})")


def _join(src: Path, pending: PendingOutput, folder: Path, data: dict[str, Any], encode: EncodeOptions,
          report: JobReport, sound: Path | None = None, start: float | None = None,
          seconds: float | None = None) -> int:
    """Copy the segments' video packets and the source's other streams (or ``sound``'s first audio
    stream) into ``pending``'s file; ``start`` / ``seconds``: the part of the source the segments
    hold (:func:`run_job`)."""
    files = [folder / s["file"] for s in data["segments"]]
    if sound is None:
        return _join_into(src, pending, files, encode, report, data, None, start, seconds)
    with reading(str(sound)), open_input(sound) as sound_in:
        return _join_into(src, pending, files, encode, report, data, sound_in)


def _shown_until(path: Path) -> Fraction | None:
    """When the last frame of a segment file ends, in seconds (its own times: the output's)."""
    end = None
    with open_av(str(path)) as container:
        video = container.streams.video[0]
        step = round(1 / (video_rate(video) or 30) / video.time_base)
        for packet in container.demux(video):
            if packet.size and packet.pts is not None:
                shown = (packet.pts + (packet.duration or step)) * packet.time_base
                end = shown if end is None else max(end, shown)
    return end


def _part_packets(src: Path, source, streams: list, video, cut: int | None,  # noqa: ANN001
                  until: Fraction | None) -> Iterator[Any]:
    """The packets of ``streams`` (the copied ones of ``source``, ``src`` opened) that a run of part
    of it keeps, as one pass keeps them (:class:`srstream.engine.video.FileSource`): from ``cut``
    (the first pts of ``video`` kept: :func:`srstream.engine.media.cut_pts`; read from its keyframe
    at or before it; their times then count from there: :func:`srstream.engine.video.from_cut`)
    and, with ``until`` (when the last
    frame kept ends, in the output's seconds), those that start before it (at most one sound packet
    runs past it); the reading stops once every sound stream is past it, or
    :data:`srstream.engine.video.PREVIEW_INTERLEAVE` seconds later. A subtitle line on screen at the
    start, begun before that keyframe too, is found as one pass finds it
    (:func:`srstream.engine.video.subtitles_across`)."""
    from srstream.engine.video import subtitles_across

    cut_at = cut * video.time_base if cut is not None else None
    looked_back = None
    if cut is not None:
        looked_back = subtitles_across(src, [s.index for s in streams if s.type == "subtitle"], cut_at)
        source.seek(cut, stream=video, backward=True, any_frame=False)  # where one pass's reading starts
    try:
        yield from looked_back[1] if looked_back is not None else ()
        yield from _after_cut(source, streams, cut_at, until, looked_back is None)
    finally:
        if looked_back is not None:
            looked_back[0].close()


def _after_cut(source, streams: list, cut_at: Fraction | None, until: Fraction | None,  # noqa: ANN001
               across: bool) -> Iterator[Any]:
    """:func:`_part_packets` from where the source's reading starts (``across``: a subtitle line
    on screen at the cut is taken from here, none was looked for before)."""
    from srstream.engine.video import PREVIEW_INTERLEAVE, from_cut, packet_start

    waiting = {s.index for s in streams if s.type == "audio"}
    for packet in source.demux(*streams):
        if packet.dts is None or not packet.size:
            continue
        if cut_at is not None and not from_cut(packet, cut_at, across):
            continue
        if until is not None:
            begins = packet_start(packet)
            if begins is not None and begins >= until:
                waiting.discard(packet.stream.index)
                if not waiting or begins >= until + PREVIEW_INTERLEAVE:
                    return
                continue
        yield packet


def _join_into(src: Path, pending: PendingOutput, files: list[Path], encode: EncodeOptions, report: JobReport,
               data: dict[str, Any], sound, start: float | None = None,  # noqa: ANN001
               seconds: float | None = None) -> int:
    import av

    frames = 0
    with reading(str(src)), open_input(src) as source, open_av(str(files[0])) as first:
        video_src = main_video(source)
        kept_from = cut_pts(source, video_src, start) if start is not None else None  # the first pts kept
        cut = kept_from * video_src.time_base if kept_from is not None else None
        with writing(pending.tmp, encode.codec):
            out = av.open(str(pending.tmp), "w")
        iso = any(name in ISO_MUXERS for name in source.format.name.split(","))
        projection = output_projection(projection_boxes(src) if iso else None, out.format.name, pending.tmp.suffix,
                                       report.notes)
        if projection is None:  # else the index stays at the end, where the projection boxes go in
            web_ready(out)
        try:
            try:
                with open_av(str(files[0])) as sample:
                    name = join_filter(out.format.name, pending.tmp.suffix, sample, source, encode, sound)
            except OutputError as exc:  # found before the first segment, unless the job began before that check
                raise OutputError(f"{exc}; the segments are kept: run it again with --segments off, or with an .mkv "
                                  "or .mp4 output") from exc
            video_in = first.streams.video[0]
            until = Fraction(seconds).limit_denominator(1_000_000) if seconds else None  # as one pass ends them
            video, extra, copied = _join_streams(out, video_in, source, encode, pending.tmp.suffix,
                                                 report.copied_streams, report.notes, sound, cut, until)
            bsf = av.bitstream.BitStreamFilterContext(name, video_in, video) if name else None
            captions = None  # the closed captions in the source's pictures, read again: the segments keep none
            if sound is None and encode.copy_subtitles and starts_with_captions(src, video_src.index):
                captions = caption_track(out, pending.tmp.suffix, video_src.time_base, report.copied_streams,
                                         report.notes)

            def video_packets() -> Iterator[tuple[float, int, Any]]:
                last: Fraction | None = None  # the decode time of the packet before, in seconds
                for path in files:
                    for packet in _packets(path):
                        # a segment's first decode times can fall before the last segment's: libx265 gives
                        # a segment of one or two frames a decode time from memory it never wrote (0 for
                        # its third frame's presentation time), which the muxer refuses out of order
                        if last is not None and packet.dts * packet.time_base <= last:
                            after = int(last / packet.time_base) + 1
                            packet.dts = after if packet.pts is None else min(after, packet.pts)
                        last = packet.dts * packet.time_base
                        yield float(last), 0, packet

            def other_packets() -> Iterator[tuple[float, int, Any]]:
                if not extra:
                    return
                if sound is None and (start is not None or seconds):  # a part of the source
                    packets = _part_packets(src, source, list(extra.values()), video_src, kept_from,
                                            _shown_until(files[-1]) if seconds else None)
                else:
                    packets = (sound if sound is not None else source).demux(*extra.values())
                for packet in packets:
                    if packet.dts is not None and packet.size:
                        yield float(packet.dts * packet.time_base), 1, packet

            def caption_lines() -> Iterator[tuple[float, int, Any]]:
                if captions is not None:
                    for at, packet in caption_packets(src, video_src.index, captions, kept_from,
                                                      _shown_until(files[-1]) if seconds else None):
                        yield at, 2, packet

            order = CopiedOrder()
            with writing(pending.tmp, encode.codec):  # in decode-time order; video first on a tie
                end, frame_time = None, 1 / (video_rate(video_src) or 30)
                for _, kind, packet in heapq.merge(video_packets(), other_packets(), caption_lines(),
                                                   key=lambda t: t[:2]):
                    if kind == 0:
                        frames += 1
                        if packet.pts is not None:
                            shown = packet.pts * packet.time_base + frame_time
                            end = shown if end is None else max(end, shown)
                        for q in bsf.filter(packet) if bsf else [packet]:
                            q.stream = video
                            out.mux(q)
                    elif kind == 1:
                        mux_copied(out, copied, packet, order=order)
                    else:
                        out.mux(packet)
                for q in bsf.filter(None) if bsf else []:
                    q.stream = video
                    out.mux(q)
                mux_copied(out, copied, None, end)  # what the re-encoded streams still hold
            report.notes.extend(undecodable(copied) + order.notes())
        finally:
            languages = track_languages(out)
            with writing(pending.tmp, encode.codec):
                out.close()
                if languages:
                    write_languages(pending.tmp, languages)
        expected = sum(s.get("frames_out", 0) for s in data["segments"])
        if frames != expected:
            raise OutputError(f"the join wrote {frames} video packets for {expected} encoded frames; nothing was "
                              "replaced (please report this)")
        with writing(pending.tmp, encode.codec):
            if projection is not None:
                write_projection(pending.tmp, projection, report.notes)
            frames_kept(pending.tmp, frames)
    return frames
