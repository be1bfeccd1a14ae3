"""The Python API: ``from srstream import Upscaler`` (torch-free).

>>> import numpy as np
>>> from srstream import Upscaler
>>> with Upscaler("realtime-x2") as up:
...     frame = np.zeros((36, 64, 3), np.uint8)        # H x W x 3 RGB, uint8 or uint16
...     out = up.upscale(frame)
...     print(out.shape, out.dtype, up.spec.scale)
(72, 128, 3) uint8 2
>>> with Upscaler(scale=2, fast=True) as up:               # the cheapest x2 tier
...     outs = up.upscale_batch([np.zeros((8, 8), np.uint8)] * 2)  # grey H x W works too
...     print(up.model, [o.shape for o in outs])
tiny-x2 [(16, 16), (16, 16)]

Files go through :meth:`Upscaler.upscale_file` with the command line's guarantees (nothing
overwritten, no half-written output, every frame and timestamp, audio and subtitles copied); the
``sr-stream`` command line itself is built on :func:`plan_file` and :meth:`Upscaler.run`.

**Threads.** An :class:`Upscaler` reuses its buffers from frame to frame: use each one from one
thread at a time (one per thread for parallel work; the backends' own thread pools already use
every core).
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from srstream.engine.encode import DEFAULT_PRESET
from srstream.engine.models import ResolvedModel
from srstream.errors import ConfigError, InputError, OutputError
from srstream.spec import ModelSpec

__all__ = ["FileJob", "FileResult", "Upscaler", "frames_wanted", "plan_file"]


@dataclass(frozen=True)
class FileJob:
    """A checked file job: what to read, where to write, how to encode (see :func:`plan_file`)."""

    media: Any  # srstream.engine.media.MediaInfo
    output: Path
    overwrite: bool = False
    encode: Any = None  # srstream.engine.video.EncodeOptions, for videos
    segment_frames: int = 0  # > 0: a resumable job of segments this long (srstream.engine.jobs)
    restart: bool = False  # with segments: drop an unfinished job of this output instead of resuming it
    workers: int = 0  # > 0: segments run as this many Ray tasks at a time (srstream.engine.cluster)
    ray_address: str | None = None  # an existing Ray cluster to run them on (None: a local instance)
    #: a folder's or glob's videos and their outputs (:func:`srstream.engine.folders.video_targets`)
    videos: tuple[tuple[Path, Path], ...] = ()
    #: how a folder's videos are encoded: :func:`plan_file`'s arguments for each of them
    video_options: dict[str, Any] = field(default_factory=dict)
    #: a folder's or glob's images upscaled into a video (:class:`srstream.engine.sequence.ImageSequence`;
    #: ``media`` is then its concat list's, a video's)
    sequence: Any = None
    #: a video upscaled into numbered image files (:class:`srstream.engine.framefiles.FrameFiles`)
    frames: Any = None
    #: (frames, seconds): the most of either a video's run takes from its start (a preview, a scene's
    #: end); frames in one pass
    limit: tuple[int | None, float | None] = (None, None)
    #: the seconds into the video its run starts at (``--start``: a scene); None: its start
    start: float | None = None
    #: the format of image outputs (``".png"``): a folder's or glob's images (where it holds them), or
    #: the one image's; None: each image's own
    image_suffix: str | None = None
    #: a video upscaled into one animated picture (``-o clip.webp``: :mod:`srstream.engine.animated`)
    animation: bool = False
    #: the quality (1-100) of lossy image outputs (JPEG, WebP, AVIF, HEIC): the image's, a folder's
    #: images', a video's numbered frames'; None: sr-stream's (:func:`srstream.engine.stills.write_still`)
    image_quality: int | None = None

    @property
    def kind(self) -> str:
        return self.media.kind


@dataclass
class FileResult:
    """What :meth:`Upscaler.run` did: the output and the report of its kind."""

    job: FileJob
    video: Any = None  # srstream.engine.messages.Report
    segments: Any = None  # srstream.engine.jobs.JobReport, for videos run as segmented jobs
    batch: Any = None  # srstream.engine.stills.BatchReport: a folder's images (None: it has none)
    videos: Any = None  # srstream.engine.folders.VideosReport: a folder's videos (None: it has none)
    size: tuple[int, int] | None = None  # an image's output (width, height)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


#: The animation an image format names (``--ext``, ``image_format``) for an animated GIF, WebP or PNG alone.
ANIMATION_FORMATS = {".webp": ".webp", ".png": ".apng"}


#: ``segments="auto"``: videos of at least this many frames run as resumable jobs of
#: :data:`AUTO_SEGMENT_FRAMES`-frame segments (about 20 s at 30 fps): an interruption then costs at
#: most one segment of work.
AUTO_SEGMENTS_FROM, AUTO_SEGMENT_FRAMES = 3000, 600


def _sequence(media: Any, dst: str | Path | None, fps: float | None, sound: str | Path | None,
              recursive: bool) -> Any:
    """The image sequence a folder or glob of images with an output named like a video makes
    (:func:`srstream.engine.sequence.plan_sequence`), or None for any other job."""
    from srstream.engine.outputs import VIDEO_SUFFIXES

    if (media.kind not in ("folder", "glob") or dst is None or str(dst) == "-" or media.videos or not media.frames
            or Path(dst).suffix.lower() not in VIDEO_SUFFIXES or Path(dst).is_dir()):
        return None
    if recursive:
        raise ConfigError("an image sequence is one folder's frames: drop -r (--recursive), or upscale the "
                          "subfolders' images as images with -o FOLDER")
    from srstream.engine.sequence import plan_sequence

    return plan_sequence(media.path, Path(dst), fps, sound)


def plan_file(src: str | Path, dst: str | Path | None = None, *, scale: int | str, overwrite: bool = False,
              codec: str | None = None, crf: int | None = None, bitrate: str | None = None,
              preset: str = DEFAULT_PRESET, pix_fmt: str | None = None, audio: bool = True, subtitles: bool = True,
              segments: int | str = "auto", restart: bool = False, workers: int = 0,
              ray_address: str | None = None, recursive: bool = False, fps: float | None = None,
              sound: str | Path | None = None, max_frames: int | None = None, max_seconds: float | None = None,
              into: Path | None = None, image_format: str | None = None, image_quality: int | None = None,
              start: float | None = None) -> FileJob:
    """Check a file job before any work: the input (a video, an image, a folder, a glob, or ``-``
    for standard input), the output (default: ``INPUT_xS.ext`` beside it, or ``INPUT_TAG.ext`` for
    a ``scale`` given as a tag such as ``"x1.5"`` or ``"1080p"``; ``-`` streams a video to standard
    output), and the encoder settings for videos (``crf`` None: 16 for x264, 18 for the
    other encoders, see :data:`srstream.engine.encode.DEFAULT_PRESET`). ``segments``: ``"auto"`` (long
    videos run as resumable jobs), ``"off"`` or a segment length in frames (see
    :mod:`srstream.engine.jobs`); ``restart`` drops an unfinished job of this output.
    ``workers`` / ``ray_address``: run the segments as Ray tasks, that many at a time, on a local
    Ray instance or on the cluster at that address (see :mod:`srstream.engine.cluster`).
    ``recursive``: a folder's subfolders too, their images and videos written at the same places
    under the output folder. A folder's or glob's videos are each planned as a video of their own
    when the run reaches them, with these encoder and segment settings
    (:mod:`srstream.engine.folders`). A folder or glob of images with an ``dst`` named like a video
    is an image sequence upscaled into that video, its frames in their numbers' order at ``fps``
    frames a second (default 25), with the first audio stream of the file ``sound`` (an audio file,
    or a video whose sound is wanted) where one is given (:mod:`srstream.engine.sequence`).
    ``max_frames`` / ``max_seconds``: a video's first frames or seconds only (a preview of the
    settings, as FFmpeg's ``-frames:v`` and ``-t``; frames in one pass); ``start``: from this many
    seconds into the video (a scene, as FFmpeg's ``-ss``: the output's times, sound and subtitles
    then count from there); a long part given by times runs as a resumable job, as a whole video
    does. ``into``: the folder the default
    output goes into, under its default name, in place of the input's (``dst`` None only).
    ``image_format``: the format image outputs are written in (``"png"``, ``"webp"``; None: each
    image's own): an image's default output, and a folder's or glob's images where the format holds
    them (an animation, a TIFF's pages and a GIF otherwise keep theirs:
    :func:`srstream.engine.stills.output_suffix`); a video's output is named by ``dst`` alone.
    ``image_quality``: 1-100, the quality of lossy image outputs (JPEG, WebP, AVIF, HEIC; a WebP
    is then lossy), a video's numbered frames' too; None: sr-stream's.

    Raises:
        InputError: a missing or unreadable input, or a Dolby Vision video with no picture but its
        own (profile 5: :mod:`srstream.engine.dovi`). OutputError: an output that would replace the
        input or an existing file (without ``overwrite``), or cannot be written. ConfigError: an
        output that cannot hold the input, or bad encoder settings.
    """
    from srstream.engine.media import probe

    from srstream.engine.outputs import image_format as format_suffix

    _check_types(crf=crf, max_frames=max_frames, image_quality=image_quality, workers=workers,
                 max_seconds=max_seconds, start=start, fps=fps, overwrite=overwrite, audio=audio,
                 subtitles=subtitles, restart=restart, recursive=recursive)
    if crf is not None and bitrate:  # the encoder would take the bitrate and drop the CRF without a word
        raise ConfigError(f"--crf {crf} and --bitrate {bitrate} both set a video's quality: give one (--crf for a "
                          "constant quality, --bitrate for a file size)")
    if image_quality is not None and not 1 <= image_quality <= 100:
        raise ConfigError(f"--quality {image_quality}: from 1 (smallest files) to 100 (best)")
    from srstream.engine.media import probe_video

    media = _gif_as_picture(probe(src, recursive=recursive), dst, image_format)
    stand_in = None  # an animated WebP's frames, which FFmpeg does not read, through an animated PNG
    if _animation_into_video(media, dst):
        if media.path.suffix.lower() == ".png" or _is_apng(media.path):  # FFmpeg reads an animated PNG as a video
            media = probe_video(media.path)
        else:
            stand_in = _stand_in(media, Path(dst), fps, sound, image_quality)
    options = dict(scale=scale, overwrite=overwrite, codec=codec, crf=crf, bitrate=bitrate, preset=preset,
                   pix_fmt=pix_fmt, audio=audio, subtitles=subtitles, segments=segments, restart=restart,
                   workers=workers, ray_address=ray_address, recursive=recursive, into=into,
                   image_suffix=format_suffix(image_format))
    sequence = stand_in or _sequence(media, dst, fps, sound, recursive)
    if sequence is None:
        if fps is not None:
            raise ConfigError("--fps is the frame rate of an image sequence upscaled into a video (a folder or glob "
                              "of images with -o VIDEO) and of a live capture; a video keeps its own rate: drop --fps")
        if sound is not None:
            raise ConfigError("--audio is the sound of an image sequence upscaled into a video (a folder or glob of "
                              "images with -o VIDEO); a video keeps its own sound: drop --audio")
        job = _plan_media(media, dst, **options, part=(max_frames, max_seconds, start))
        return _with_quality(_limited(job, max_frames, max_seconds, segments, start), image_quality)
    try:
        sequence.write()
        listed = dataclasses.replace(probe_video(sequence.listing), frames=len(sequence.frames))
        if sequence.audio is not None:  # the sound is muxed by a job's join: even a short sequence runs as a job
            if not audio:
                raise ConfigError("--audio gives the sequence's video a sound, --no-audio drops it: drop one")
            if segments == "off":
                raise ConfigError("--audio is muxed when a job joins its segments: drop --segments off")
            options.update(audio=True, segments=AUTO_SEGMENT_FRAMES if segments == "auto" else segments)
        else:
            options.update(audio=False)
        job = _plan_media(listed, Path(dst), **{**options, "subtitles": False, "recursive": False,
                                                "image_suffix": None})
        job = _limited(job, max_frames, max_seconds, segments if sequence.audio is None else "sound", start,
                       cuttable=False)
    except BaseException:
        sequence.remove()
        raise
    return dataclasses.replace(job, sequence=sequence)


_WHOLE = ("crf", "max_frames", "image_quality", "workers")  # plan_file's whole-number arguments
_SWITCHES = ("overwrite", "audio", "subtitles", "restart", "recursive")  # and its True/False ones


def _check_types(**values: Any) -> None:
    """A :class:`ConfigError` naming the argument of :func:`plan_file` given a value of the wrong kind
    (``crf="18"``, ``crf=18.5``; ``audio="no"``, which Python reads as True), before it is compared or
    taken as true; None passes (not given)."""
    for name, value in values.items():
        if value is None:
            continue
        if name in _SWITCHES:
            if isinstance(value, (str, bytes)):  # audio="no" would be taken as True
                raise ConfigError(f"{name}={value!r}: True or False, not a string")
        elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral if name in _WHOLE
                                                                           else numbers.Real):
            kind = "a whole number" if name in _WHOLE else "a number"
            try:
                hint = f" ({name}={int(value) if name in _WHOLE else float(value)!r}, not a string)" \
                    if isinstance(value, str) else ""
            except ValueError:
                hint = ""
            raise ConfigError(f"{name}={value!r}: {kind}{hint}")


def _whole(value: Any, least: int) -> bool:  # noqa: ANN401
    """Whether ``value`` is a whole number (not a float, nor a bool) of ``least`` or more."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= least


def _gif_as_picture(media: Any, dst: str | Path | None, image_format: str | None) -> Any:  # noqa: ANN401
    """``media`` (a probed input), a GIF of one frame asked for as a picture of another format (``-o
    NAME.png``, ``.jpg``, ...; ``--ext``) planned as an image: such a GIF (a static web picture, a
    sticker) was refused ("the input is a video, and the output's extension is an image format").

    Raises:
        ConfigError: an animated GIF asked for as a format of one picture, with the formats that hold it.
    """
    from srstream.images import IMAGE_SUFFIXES

    if media.kind != "video" or media.codec != "gif":
        return media
    if dst is not None and str(dst) != "-" and not Path(dst).is_dir():
        suffix, named = Path(dst).suffix.lower(), f"-o {dst}"
    elif image_format is not None and dst is None:
        suffix, named = "." + image_format.lower().lstrip("."), f"--ext {image_format}"
    else:
        return media
    if suffix in (".gif", ".webp") or suffix not in IMAGE_SUFFIXES:  # a GIF, an animated WebP, a video
        return media
    if media.frames == 1:
        return dataclasses.replace(media, kind="image", frames=0)
    if dst is None and suffix in ANIMATION_FORMATS:  # --ext png: its animated PNG (:data:`ANIMATION_FORMATS`)
        return media
    raise ConfigError(f"{named}: the input is an animated GIF of {media.frames or 'several'} frames, and {suffix} holds "
                      "one picture; end the output with .apng (an animated PNG), .webp (an animated WebP), .gif, or "
                      "a video's extension (.mp4)")


def frames_wanted(media: Any, limit: tuple[int | None, float | None], start: float | None = None) -> int:
    """The frames a video's run reads: its own count, or fewer where ``limit`` (``--frames``,
    ``--duration``) takes its first ones, or ``start`` (``--start``) skips some; 0 where none says."""
    frames, seconds = limit
    rate = float(media.rate or 0)
    left = media.frames
    if start and left:
        left = max(1, left - round(start * rate)) if rate else 0
    wanted = [n for n in (left, frames, round(seconds * rate) if seconds and rate else 0) if n]
    return min(wanted) if wanted else 0


def _with_quality(job: FileJob, quality: int | None) -> FileJob:
    """``job`` writing its lossy images at ``quality``.

    Raises:
        ConfigError: a quality for outputs that are all lossless (one PNG, TIFF or BMP image, or
            numbered frames of one).
    """
    from srstream.engine.stills import LOSSY_SUFFIXES

    if quality is None:
        return job
    suffix = job.frames.suffix if job.frames is not None else job.output.suffix.lower()
    if (job.kind == "image" or job.frames is not None or job.animation) and suffix not in LOSSY_SUFFIXES:
        raise ConfigError(f"--quality sets a lossy image's ({', '.join(s.lstrip('.') for s in LOSSY_SUFFIXES)}); "
                          f"{suffix or 'the output'} is lossless: drop --quality")
    return dataclasses.replace(job, image_quality=quality)


def _limited(job: FileJob, max_frames: int | None, max_seconds: float | None, segments: int | str,
             start: float | None = None, cuttable: bool = True) -> FileJob:
    """``job`` taking only its video's first ``max_frames`` frames or ``max_seconds`` seconds
    (None: all), from ``start`` seconds in (None: its start). A part given by times (``start``,
    ``max_seconds``) runs as the video would, a resumable job of segments where it is long enough
    (:func:`srstream.engine.jobs.plan_segments` cuts that part); ``max_frames``, and any part of what
    is not ``cuttable`` (an image sequence), in one pass.

    Raises:
        ConfigError: a limit that is not positive, a start that is negative or past the video's
            end, either for anything but a video; ``max_frames`` (or a part of what is not
            cuttable) beside segments asked for (``--segments N``, workers, a sequence's sound,
            which a job's join muxes).
    """
    import math

    if start is None and max_frames is None and max_seconds is None:
        return job
    if start is not None:
        from srstream.engine.video import clock

        if not (start >= 0 and math.isfinite(start)):
            raise ConfigError(f"--start {start:g}: a time from the video's start, 0 or more seconds (90, 1:30, "
                              "1:02:03.5)")
        if job.kind != "video" or job.videos:
            raise ConfigError("--start takes a video file from that time on; images and folders are upscaled "
                              "whole: drop it")
        if not cuttable:
            _video_in_one_pass(job, segments, "--start", "runs a video from that time in one pass")
        if job.media.seconds and start >= job.media.seconds:
            raise ConfigError(f"--start {clock(start)}: {job.media.path} is {clock(job.media.seconds)} long; start "
                              "inside it")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--frames {max_frames}: a number of frames, 1 or more")
    if max_seconds is not None and not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise ConfigError(f"--duration {max_seconds:g}: a number of seconds above 0")
    if max_frames is not None or max_seconds is not None:
        if job.kind != "video" or job.videos:
            raise ConfigError("--frames and --duration stop a live capture, or take a video file's first frames or "
                              "seconds (a preview); images and folders are upscaled whole: drop them")
        if max_frames is not None:
            _video_in_one_pass(job, segments, "--frames", "takes a video's first frames in one pass")
        elif not cuttable:
            _video_in_one_pass(job, segments, "--duration", "takes a video's first seconds in one pass")
    if max_frames is not None or not cuttable:
        job = dataclasses.replace(job, segment_frames=0)
    return dataclasses.replace(job, start=start or None, limit=(max_frames, max_seconds))


def _video_in_one_pass(job: FileJob, segments: int | str, option: str, in_pass: str) -> None:
    """Refuse ``option`` (``--frames``; ``--start`` or ``--duration`` of an image sequence), which
    runs a video ``in_pass``, beside what shares a whole video's segments.

    Raises:
        ConfigError: workers or a Ray cluster; segments asked for (``--segments N``, a sequence's
            sound, which a job's join muxes).
    """
    if job.workers or job.ray_address:
        raise ConfigError(f"{option} {in_pass}; --workers and --ray-address share a whole video's segments: drop "
                          "one or the other")
    if job.segment_frames and segments != "auto":
        raise ConfigError(f"{option} {in_pass}; a resumable job (--segments, or a sequence's --audio, which the "
                          "job's join muxes) covers it whole: drop one or the other")


def _with_sidecars(job: FileJob, result: FileResult) -> FileResult:
    """``result``, the subtitle files beside a video input copied beside its finished output
    (:func:`srstream.engine.sidecars.copy_sidecars`): not for a pipe, frames or an animation."""
    report = result.segments if result.segments is not None else result.video
    if (job.kind != "video" or job.frames is not None or job.animation or report is None or report.interrupted
            or str(job.media.path) == "-" or str(job.output) == "-" or job.output.suffix.lower() in (".gif", ".apng")):
        return result
    from srstream.engine.sidecars import copy_sidecars

    whole = job.limit == (None, None) and job.start is None
    copy_sidecars(Path(job.media.path), job.output, report.notes, whole)
    return result


def _plan_media(media: Any, dst: str | Path | None, *, scale: int | str, overwrite: bool, codec: str | None,
                crf: int | None, bitrate: str | None, preset: str, pix_fmt: str | None, audio: bool, subtitles: bool,
                segments: int | str, restart: bool, workers: int, ray_address: str | None,
                recursive: bool, into: Path | None = None, image_suffix: str | None = None,
                part: tuple[int | None, float | None, float | None] = (None, None, None)) -> FileJob:
    """:func:`plan_file` of a probed input; ``part``: (frames, seconds, start), the part of a video
    taken (:func:`_limited`), which decides whether ``segments="auto"`` makes a job of it."""
    from srstream.engine.outputs import (PICTURE_VIDEO_SUFFIXES, check_image_size, check_kind, check_output,
                                         default_output, image_fits, tagged_size)
    from srstream.engine.encode import options_for

    if media.dolby_vision is not None and not media.dolby_vision.displayable:
        from srstream.engine.dovi import refusal

        raise InputError(refusal(media.path, media.dolby_vision))
    if recursive and media.kind != "folder":
        raise ConfigError("--recursive takes a folder's subfolders too; the input is not a folder")
    if str(media.path) == "-" and dst is None:
        raise ConfigError("reading a video from standard input: name the output with -o FILE (or -o - to stream "
                          "Matroska to standard output)")
    if (dst is not None and media.kind in ("video", "image") and str(media.path) != "-" and str(dst) != "-"
            and Path(dst).is_dir() and not _media_named(Path(dst))):
        dst, into = None, Path(dst)  # an existing folder: the output goes there under its default name
    output = Path(dst) if dst is not None else default_output(media.path, scale, media.kind, media.transparent,
                                                              media.frames)
    if media.kind == "image" and image_suffix is not None:
        if dst is None:
            output = output.with_suffix(image_suffix)
        elif output.suffix.lower() != image_suffix:
            raise ConfigError(f"-o {output} and --ext {image_suffix.lstrip('.')} name two formats: drop one")
    elif (media.kind == "video" and dst is None and image_suffix in ANIMATION_FORMATS
          and media.path.suffix.lower() in (".gif", ".webp", ".png", ".apng")):
        # an animation alone, into the animated format --ext names (it came out as an .mp4, the format ignored)
        output = output.with_suffix(ANIMATION_FORMATS[image_suffix])
    if dst is None and into is not None:
        output = Path(into) / output.name
    streaming = str(output) == "-"
    if streaming and media.kind != "video":
        raise ConfigError("-o - streams video to standard output; images and folders need an -o path")
    if media.kind == "video" and not streaming and str(media.path) != "-":
        from srstream.engine.framefiles import frame_files

        frames = frame_files(output)
        if frames is not None:
            return _plan_frames(media, frames, overwrite=overwrite, workers=workers, ray_address=ray_address,
                                segments=segments)
    if not streaming:
        check_kind(media.kind, output, media.frames, media.path)
    from srstream.engine.animated import ANIMATED_SUFFIXES

    animation = media.kind == "video" and not streaming and output.suffix.lower() in ANIMATED_SUFFIXES
    if media.width and (media.kind == "image" or output.suffix.lower() in PICTURE_VIDEO_SUFFIXES or animation):
        size = tagged_size(scale, media.width, media.height, even=not (media.kind == "image" or animation or
                                                                       output.suffix.lower() in PICTURE_VIDEO_SUFFIXES))
        if dst is None and image_suffix is None and media.kind == "image" and not image_fits(output.suffix, *size):
            output = output.with_suffix(".png")  # a WebP or JPEG too large for its format: lossless PNG holds it
        check_image_size(output, *size)
    if animation:
        if workers or ray_address or segments not in ("auto", "off"):
            raise ConfigError("an animated WebP is encoded whole, in one pass: drop --workers, --ray-address and "
                              "--segments")
        if str(media.path) != "-":
            check_output(media.path, output, overwrite=overwrite)
        return FileJob(media, output, overwrite, animation=True)
    encode = None
    if media.kind == "video":
        suffix = ".mkv" if streaming else output.suffix  # -o - streams Matroska
        source = (media.path.suffix, media.codec, media.pix_fmt)
        # a GIF or an animated PNG holds no sound or subtitles: left out, said (_left_out)
        pictures = suffix.lower() in PICTURE_VIDEO_SUFFIXES
        picture = (media.rate, *tagged_size(scale, media.width, media.height, even=not pictures)) if media.width \
            else None
        encode = options_for(suffix, codec, crf, media.deep, media.hdr, source, picture, bitrate=bitrate, preset=preset,
                             pix_fmt=pix_fmt, copy_audio=audio and not pictures,
                             copy_subtitles=subtitles and not pictures, hdr10=media.hdr10)
        encode.validate(suffix)
    parallel = bool(workers or ray_address)
    if workers < 0:
        raise ConfigError(f"--workers {workers}: a number of workers, 1 or more")
    if parallel and (media.kind == "image" or (media.kind != "video" and not media.videos) or streaming
                     or str(media.path) == "-"):
        raise ConfigError("--workers and --ray-address run a video file (or a folder's videos) as segments; they "
                          "take no images, pipes or streamed outputs")
    if parallel and segments == "off":
        raise ConfigError("--workers and --ray-address run segments: drop --segments off, or run in one process")
    if media.kind in ("folder", "glob"):  # its videos: planned one by one as the run reaches them
        from srstream.engine.folders import plan_folder

        videos = plan_folder(media, output, overwrite, recursive)
        return FileJob(media, output, overwrite, videos=videos, video_options=dict(
            codec=codec, crf=crf, bitrate=bitrate, preset=preset, pix_fmt=pix_fmt, audio=audio, subtitles=subtitles,
            segments=segments, restart=restart, workers=workers, ray_address=ray_address),
            image_suffix=image_suffix if media.frames else None)
    segment_frames = _segment_frames(segments, media, streaming, parallel, part)
    if segment_frames:
        from dataclasses import replace

        # pinned encoder threads and deterministic rate control (encode.py): the same bits whichever process or
        # machine encodes a segment, so 1 or N workers and a resumed job give the same file
        encode = replace(encode, threads=2, deterministic=True)
    if not streaming:
        from srstream.engine.jobs import job_folder

        resuming = segment_frames and not restart and (job_folder(output) / "manifest.json").is_file()
        if not resuming:  # an unfinished job of this output is resumed, or refused, by the job itself
            check_output(media.path, output, overwrite=overwrite)
    return FileJob(media, output, overwrite, encode, segment_frames, restart, workers, ray_address,
                   image_suffix=image_suffix if media.kind == "image" else None)


def _plan_frames(media: Any, frames: Any, *, overwrite: bool, workers: int, ray_address: str | None,
                 segments: int | str) -> FileJob:
    """:func:`plan_file` of a video upscaled into numbered frame files
    (:mod:`srstream.engine.framefiles`)."""
    from srstream.engine.stills import BATCH_RECORD

    if workers or ray_address:
        raise ConfigError("--workers and --ray-address run a video's segments into a video; numbered frames are "
                          "written in one pass (which the same command continues after an interruption)")
    if segments not in ("auto", "off"):
        raise ConfigError("--segments cuts a video output into resumable segments; numbered frames are resumable "
                          "as they are: drop --segments")
    first = frames.path(0)
    if first.exists() and not overwrite and not (frames.folder / BATCH_RECORD).is_file():
        raise OutputError(f"{first} exists, and no sr-stream run wrote it; add --overwrite to replace the frames "
                          f"there, or choose another folder")
    if first.resolve() == Path(media.path).resolve():
        raise OutputError(f"{first} is the input; choose another name")
    return FileJob(media, frames.folder, overwrite, frames=frames)


def _segment_frames(segments: int | str, media: Any, streaming: bool, parallel: bool = False,
                    part: tuple[int | None, float | None, float | None] = (None, None, None)) -> int:
    """The segment length. ``auto`` never depends on how many workers there are, so that 1 or N
    of them give the same file; on Ray workers (any number), videos too short for 600-frame
    segments get about 8 segments to share. ``part``: (frames, seconds, start) of the video taken
    (:func:`_limited`): ``auto`` judges by the frames from ``start`` for ``seconds``; ``frames``
    (a preview) runs in one pass."""
    if media.kind != "video" or streaming or str(media.path) == "-" or segments == "off":
        return 0
    if segments == "auto":
        most, seconds, start = part
        if most is not None:
            return 0
        import math

        # a container that declares no count (Matroska, MPEG-TS): from its duration; a limit or start that is
        # not a number is refused by _limited
        counted = dataclasses.replace(media, frames=media.approx_frames)
        frames = frames_wanted(counted, (None, seconds if seconds and math.isfinite(seconds) else None),
                               start if start is not None and math.isfinite(start) else None)
        if parallel and frames < AUTO_SEGMENTS_FROM:
            return max(30, -(-max(frames, 1) // 8))  # about 8 segments (cut at keyframes)
        return AUTO_SEGMENT_FRAMES if frames >= AUTO_SEGMENTS_FROM else 0
    try:
        frames = int(segments)
    except (TypeError, ValueError):
        raise ConfigError(f"--segments {segments!r}: auto, off, or a number of frames per segment") from None
    if frames < 1:
        raise ConfigError(f"--segments {frames}: a segment needs at least one frame")
    return frames


def _media_named(path: Path) -> bool:
    """Whether ``path`` ends like a video or an image file: a folder named so (``out.mp4/``) is taken
    for a mistake, said as one, not as the folder an output goes into."""
    from srstream.engine.outputs import VIDEO_SUFFIXES
    from srstream.images import IMAGE_SUFFIXES

    return path.suffix.lower() in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)


def _async_raise(thread: int, exc: type[BaseException] | None) -> bool:
    """``exc`` raised in ``thread`` at its next Python step (None: one pending there is dropped);
    whether the thread was found."""
    import ctypes

    pending = None if exc is None else ctypes.py_object(exc)  # None: NULL, which clears
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), pending) == 1


def _swap_red_blue(image: np.ndarray, in_place: bool = False) -> np.ndarray:
    """An RGB(A) array as BGR(A), or back: a copy (the caller's array), or ``in_place`` (an output
    of our own: no second copy of a frame)."""
    out = image if in_place else image.copy()
    out[:, :, [0, 2]] = image[:, :, [2, 0]]  # the right side is taken first: safe in place
    return out


def _animation_into_video(media: Any, dst: str | Path | None) -> bool:
    """Whether ``media`` is an animated PNG or WebP and ``dst`` names a video (or a GIF): until
    this version such a run was refused ("the input is an image")."""
    from srstream.engine.outputs import VIDEO_SUFFIXES

    return (media.kind == "image" and media.frames > 1 and dst is not None and str(dst) != "-"
            and Path(dst).suffix.lower() in VIDEO_SUFFIXES and not Path(dst).is_dir()
            and media.path.suffix.lower() not in (".tif", ".tiff", ".gif"))  # a TIFF's pages are no animation


def _is_apng(path: Path) -> bool:
    """Whether FFmpeg reads ``path`` as an animated PNG (an APNG named otherwise)."""
    from srstream.engine.sequence import open_input

    try:
        with open_input(path) as container:
            return container.format.name == "apng"
    except Exception:  # noqa: BLE001 - anything FFmpeg cannot open is not one
        return False


def _stand_in(media: Any, output: Path, fps: float | None, sound: str | Path | None,
              image_quality: int | None) -> Any:
    """The animated WebP ``media`` upscaled into the video ``output`` as an image sequence is
    (:class:`srstream.engine.animated.PictureFrames` stands where its concat list stands).

    Raises:
        ConfigError: ``--fps`` or ``--audio`` (an animation keeps its times and has no sound), or
            ``--quality`` (a video's is ``--crf``). OutputError: its frames would not fit in memory.
    """
    from srstream.engine.animated import picture_frames

    if fps is not None or sound is not None:
        raise ConfigError(f"{'--fps' if fps is not None else '--audio'} is for an image sequence; an animated "
                          f"WebP keeps its own frame times and has no sound: drop it")
    if image_quality is not None:
        raise ConfigError("--quality sets a lossy image's; the animation goes into a video, whose quality --crf "
                          "sets: drop --quality")
    return picture_frames(media, output)


def _left_out(job: FileJob) -> list[str]:
    """What a GIF (or animated PNG) output says of its input's sound and subtitles, which it has no
    place for (as an animated WebP says: :mod:`srstream.engine.animated`). They stopped the run
    before ("cannot copy audio stream #1 (aac) into .gif"), asking for --no-audio on every GIF of a
    clip with sound."""
    from srstream.engine.outputs import PICTURE_VIDEO_SUFFIXES

    media = job.media
    kinds = [kind for kind, count in (("audio", media.audio_streams), ("subtitles", media.subtitle_streams)) if count]
    if job.output.suffix.lower() not in PICTURE_VIDEO_SUFFIXES or not kinds:
        return []
    what = "a GIF" if job.output.suffix.lower() == ".gif" else "an animated PNG"
    return [f"the input's {' and '.join(kinds)} has no place in {what}: a video output (.mp4, .webm) keeps it"]


def _is_pil(image: Any) -> bool:
    """Whether ``image`` is a PIL image (without importing Pillow, which the engine does not need)."""
    return type(image).__module__.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "getbands")


def _in_one_pass(job: FileJob, why: Exception, what: str) -> FileJob:
    """``job`` in one pass, where its segments cannot be made (``why``; said as ``what: why``); the
    error itself where only segments can do what was asked (Ray workers share segments out; a
    sequence's ``--audio`` is muxed by the job's join).

    Raises:
        ConfigError: --workers or --ray-address. OutputError: a sequence's sound.
    """
    import sys

    if job.workers or job.ray_address:
        raise ConfigError(f"{job.media.path}: {what}: {why}; --workers and --ray-address share out a job's "
                          "segments: drop them to upscale it in one pass") from why
    if job.sequence is not None and job.sequence.audio is not None:
        raise OutputError(f"{what}: {why}; and the sound (--audio) is muxed when a job joins its segments: "
                          "choose an .mkv or .mp4 output, or drop --audio") from why
    print(f"sr-stream: {what}: {why}; upscaling in one pass instead, which a crash cannot resume", file=sys.stderr,
          flush=True)
    return dataclasses.replace(job, segment_frames=0)


class Upscaler:
    """A model opened on the fastest backend and precision that are accurate on this machine.

    Args:
        model: a bundled name (``realtime-x2``, ``tiny-x2``, ``realtime-x4``, ``quality-x4``,
            ``gan-x4``, ...), an ``.onnx`` exported by ``sr-stream export``, or a model already
            resolved by :func:`~srstream.engine.models.pick_model`; default: the bundled model for
            ``scale`` (``realtime-x2`` at x2).
        scale: pick the bundled model of this factor, or check ``model``'s.
        backend, precision: ``auto`` (measured once per machine and cached; see
            :mod:`srstream.engine.autotune`) or a name (``ort``, ``ov``, ``trt``, ``torch``;
            ``fp32``, ``int8``, ``bf16``, ``fp16``).
        tile: ``auto``, a tile size in input pixels, or 0 for whole frames.
        device: OpenVINO's device or torch's, for those backends.
        size: the frame size ``(width, height)`` ``auto`` times its candidates at (default 640x360).
        fast: the cheapest bundled tier of the scale (``tiny-x2`` at x2).
        ensemble: x8 self-ensemble (8x the time, about +0.1 dB; for stills and offline video).
        stabilize: 0 (off) or a strength up to 1: steady the output over time (frames in order).
        stabilize_still: the strength for frames that stand still (0: off, the default;
            :func:`srstream.engine.stabilize.still_setting` gives a screen recording's).
        stabilize_tolerance: the stabiliser's luma mismatch at which it lets a pixel change
            (default :data:`~srstream.engine.stabilize.DEFAULT_TOLERANCE`; ``COMPRESSED_TOLERANCE``
            for a stream compressed hard).
        change_cap: 0 (off) or a gain: no output pixel changes from one frame to the next by more
            than this times the largest change of its input pixel and that pixel's neighbours (a neighbour's only
            above :data:`~srstream.engine.changecap.NOISE_LEVEL`; frames in order; see
            :mod:`srstream.engine.changecap`; the command line's ``--change-cap auto`` for video is
            :data:`~srstream.engine.changecap.DEFAULT_GAIN`).
        threads: the backend's CPU threads (0: one per usable core); a Ray worker takes its share.
        compression: for a model trained with a compression-strength input (``strength`` in its
            spec; :mod:`srstream.strength`), how compressed the input is, 0 (clean, the default)
            to 1; :func:`srstream.strength.from_qp` turns a stream's mean quantiser into it.
            Ignored by other models.
        output: an :class:`~srstream.engine.upscaler.OutputSize` (``OutputSize(scale=1.5)``,
            ``OutputSize(height=1080)``): frames come out at that size instead of the model's
            factor, the model's output shrunk (area filter) or enlarged (Lanczos) to it. None:
            the model's factor.
        deinterlace: for videos: ``auto`` (the default) deinterlaces one whose first frame is
            interlaced with FFmpeg's bwdif, a frame out for each frame in; ``double`` a frame out for
            each field (twice the frame rate); ``on`` every frame marked interlaced; ``off`` none
            (:class:`srstream.engine.video.Deinterlacer`).
        tileable: each frame is a texture that repeats edge to edge: upscale it as if it wrapped
            around, so the output tiles without seams (:class:`srstream.engine.upscaler.TileableUpscaler`;
            the model's own factor only).
        channels: ``"rgb"`` (the default) or ``"bgr"``: the order of the arrays' colour channels
            given to and returned by :meth:`upscale`, :meth:`upscale_batch` and :meth:`frames`;
            ``"bgr"`` for OpenCV's (``cv2.imread``, ``cv2.VideoCapture``), alpha last in either.
            The model sees RGB: BGR frames given as RGB come out with their luma taken from the
            wrong weights (up to 16 levels off on Set5's head). PIL images are RGB whatever it says.
        reuse: run the network only on the blocks of a frame whose input differs from the frame
            before's (within the model's reach), the rest of its output reused: the same samples,
            and much less work on screen recordings and games with a still camera
            (:mod:`srstream.engine.reuse`). False: every frame runs whole.

    Raises:
        ModelError, ConfigError, DependencyError, BackendError: as the command line reports them.
    """

    def __init__(self, model: str | Path | ResolvedModel | None = None, scale: int | None = None, backend: str = "auto",
                 precision: str = "auto", tile: int | str = "auto", *, device: str | None = None,
                 size: tuple[int, int] | None = None, fast: bool = False, ensemble: bool = False,
                 stabilize: float = 0.0, stabilize_tolerance: float | None = None, stabilize_still: float = 0.0,
                 threads: int = 0,
                 compression: float | None = None, change_cap: float = 0.0, output: Any = None,
                 deinterlace: str = "auto", tileable: bool = False, channels: str = "rgb", reuse: bool = True) -> None:
        import dataclasses

        from srstream.engine.autotune import choose
        from srstream.engine.backends import open_backend
        from srstream.engine.models import pick_model
        from srstream.engine.upscaler import FrameUpscaler

        if not 0 <= stabilize <= 1:
            raise ConfigError(f"stabilize={stabilize}: a strength between 0 (off) and 1")
        if stabilize_tolerance is not None and not stabilize_tolerance > 0:
            raise ConfigError(f"stabilize_tolerance={stabilize_tolerance}: a positive number of luma levels")
        if not (change_cap >= 0 and change_cap < float("inf")):
            raise ConfigError(f"change_cap={change_cap}: 0 (off) or a positive gain")
        # whole numbers (threads=nan reached ONNX Runtime's options as a TypeError, -1 was taken)
        if not _whole(threads, 0):
            raise ConfigError(f"threads={threads!r}: 0 (every usable core) or a number of threads")
        if tile != "auto" and not _whole(tile, 0):
            raise ConfigError(f"tile={tile!r}: 'auto', 0 (whole frames) or a tile size in pixels")
        if scale is not None and not _whole(scale, 1):
            raise ConfigError(f"scale={scale!r}: the factor of a model, such as 2 or 4 (None: the default's)")
        if size is not None and not (isinstance(size, (tuple, list)) and len(size) == 2
                                     and all(_whole(v, 1) for v in size)):
            raise ConfigError(f"size={size!r}: the frame size (width, height) the backends are timed at, or None")
        if channels not in ("rgb", "bgr"):
            raise ConfigError(f"channels={channels!r}: 'rgb', or 'bgr' for OpenCV's arrays")
        if tileable and output is not None:
            raise ConfigError("a tileable texture keeps the model's own factor (x2, x4): resized, its edges would no "
                              "longer meet; drop the other output size (--scale 1.5, --height)")
        if isinstance(model, ResolvedModel):
            self.resolved = model
        else:
            self.resolved = pick_model(None if model is None else str(model), scale, fast=fast)
        if compression is not None and not 0 <= compression <= 1:
            raise ConfigError(f"compression={compression}: a strength between 0 (clean) and 1")
        from srstream.engine.strength import for_stream

        self.resolved, self.compression = for_stream(self.resolved, compression)  # None: no strength input
        self.choice = choose(self.resolved, backend, precision, size=size, device=device)
        options = self.choice.options
        if threads and options is not None and any(f.name == "threads" for f in dataclasses.fields(options)):
            self.choice = dataclasses.replace(self.choice, options=dataclasses.replace(options, threads=threads))
        self._backend = open_backend(self.resolved, self.choice)
        frames: Any = FrameUpscaler(self._backend, self.resolved.spec, tile, ensemble=ensemble, reuse=bool(reuse))
        if tileable:
            from srstream.engine.upscaler import TileableUpscaler

            frames = TileableUpscaler(frames)
        if stabilize:
            from srstream.engine.stabilize import DEFAULT_TOLERANCE, StabilizedUpscaler

            frames = StabilizedUpscaler(frames, stabilize, stabilize_tolerance or DEFAULT_TOLERANCE, stabilize_still)
        if change_cap:
            from srstream.engine.changecap import CappedUpscaler

            frames = CappedUpscaler(frames, change_cap)
        if output is not None:  # an output size other than the model's factor
            from srstream.engine.upscaler import ResizedUpscaler

            frames = ResizedUpscaler(frames, output)
        if deinterlace not in ("auto", "on", "off", "double"):
            raise ConfigError(f"deinterlace={deinterlace!r}: auto, on, off or double")
        self.output, self.deinterlace, self.tileable = output, deinterlace, tileable
        self.channels = channels
        self._frames = frames
        from srstream.engine.upscaler import for_pictures

        self._pictures = for_pictures(frames)  # images and arrays: the size asked to the pixel, not rounded to even
        # one call at a time: the backend's request (OpenVINO's says "Infer Request is busy" to a second
        # thread), the tile buffers and the stabiliser's last frame are the Upscaler's own
        self._lock = threading.RLock()
        self._closed = False
        self._cancelling = threading.Lock()  # cancel() and a run's start and end: one at a time
        self._running: int | None = None  # the thread in run(), which cancel() stops

    # -- what was chosen ---------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        """The model's spec: scale, channels, architecture, metrics."""
        return self.resolved.spec

    @property
    def model(self) -> str:
        return self.resolved.name

    @property
    def backend(self) -> str:
        """The backend that runs (``ort``, ``ov``, ``trt``, ``torch``)."""
        return self.choice.backend

    @property
    def precision(self) -> str:
        return self.choice.precision

    @property
    def reason(self) -> str:
        """Why this backend and precision (what ``auto`` measured)."""
        return self.choice.reason

    def describe(self) -> str:
        """``"realtime-x2 x2 on ort int8 on CPU"`` (and ``, x8 self-ensemble`` / ``, stabilized``)."""
        extras = [f", compression strength {self.compression:.2f}" if self.compression is not None else "",
                  ", x8 self-ensemble" if self._frames.ensemble else "",
                  ", stabilized" if getattr(self._frames, "stabilizer", None) is not None else "",
                  ", change-capped" if getattr(self._frames, "change_cap", None) is not None else "",
                  ", tileable" if self.tileable else "",
                  f", resized to {self.output.label}" if self.output is not None else ""]
        return f"{self.spec.name} x{self.spec.scale} on {self._backend.describe()}" + "".join(extras)

    def output_size(self, width: int, height: int, *, picture: bool = False) -> tuple[int, int]:
        """The size a ``width`` x ``height`` video comes out at (``picture``: an image, an array, a GIF or
        animated PNG or WebP): the model's factor, or ``output``'s (rounded to even sides for a video,
        whose 4:2:0 needs them)."""
        from srstream.engine.upscaler import output_size

        return output_size(self._pictures if picture else self._frames, width, height)

    def _sized(self, output: Path) -> Any:
        """The upscaler for a video input written to ``output``: a GIF's or an animated PNG's frames at the
        size asked to the pixel, as an image's; a video's with even sides."""
        from srstream.engine.outputs import PICTURE_VIDEO_SUFFIXES

        return self._pictures if Path(output).suffix.lower() in PICTURE_VIDEO_SUFFIXES else self._frames

    @property
    def frame_upscaler(self) -> Any:
        """The engine's :class:`~srstream.engine.upscaler.FrameUpscaler` (for the pipelines)."""
        return self._frames

    # -- arrays ----------------------------------------------------------------------------------
    def upscale(self, image: np.ndarray) -> np.ndarray:
        """An ``H x W`` (grey) or ``H x W x C`` (grey and alpha, RGB, RGBA) array, upscaled: same
        dtype and channels, ``scale`` times the size. Samples are uint8, uint16, or floats from 0 to
        1 (as scikit-image and torch pipelines hold them; run at 16 bits, so a float keeps 1/65535
        steps). A PIL image comes back as a PIL image (:meth:`_upscale_pil`). Calls from several
        threads take turns.

        Raises:
            InputError: another dtype, a float outside 0..1 (or NaN), an empty image, or another shape
                or channel count.
        """
        if _is_pil(image):
            return self._upscale_pil(image)
        if isinstance(image, (str, os.PathLike)):
            raise InputError(f"{image}: upscale takes a decoded image (an array or a PIL image); for a file, "
                             "upscale_file(path, output), or read it first (cv2.imread, PIL.Image.open)")
        if image is None or isinstance(image, (bytes, bytearray)):
            raise InputError(f"upscale was given {type(image).__name__}, not an image: pass an H x W or H x W x C "
                             "array (bytes of a file: cv2.imdecode or PIL.Image.open(io.BytesIO(data)) first)")
        image = np.asarray(image)
        if image.ndim not in (2, 3):
            several = " (several images: upscale_batch, or frames for a stream)" if image.ndim == 4 else ""
            raise InputError(f"an array of shape {image.shape}: pass one image, H x W (grey) or H x W x C (RGB, "
                             f"RGBA){several}")
        if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] > 4:
            raise InputError(f"an array of shape {image.shape} looks channel-first (C x H x W, as torch holds "
                             "images): pass image.transpose(1, 2, 0) (a tensor: tensor.permute(1, 2, 0).numpy())")
        if image.dtype.byteorder == ">":  # big-endian samples (FITS, a PIL "I;16B" image): the machine's order
            image = image.astype(image.dtype.newbyteorder("="))
        if image.dtype.kind == "f":
            return self._upscale_float(image)
        if self.channels == "bgr" and image.ndim == 3 and image.shape[2] in (3, 4):  # OpenCV's order: RGB inside
            return _swap_red_blue(self._upscale_rgb(_swap_red_blue(image)), in_place=True)
        return self._upscale_rgb(image)

    def _upscale_rgb(self, image: np.ndarray) -> np.ndarray:
        """:meth:`upscale` of an 8- or 16-bit array in RGB order (or grey)."""
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise InputError(f"an empty image ({image.shape[1]} x {image.shape[0]} pixels): there is nothing to "
                             "upscale")
        with self._lock:
            if self._closed:
                raise ConfigError("this Upscaler was closed: open a new one (or upscale inside its with block)")
            if image.ndim == 2:
                return self._pictures.upscale(image[:, :, None])[:, :, 0]
            return self._pictures.upscale(image)

    def _upscale_float(self, image: np.ndarray) -> np.ndarray:
        """A float image in 0..1 run as 16-bit, returned in its own float type."""
        if image.size and not np.isfinite(image).all():
            held = "samples that are NaN or infinite"
        elif image.size and not (image.min() >= 0 and image.max() <= 1):
            held = f"samples from {image.min():g} to {image.max():g}"
        else:
            held = ""
        if held:
            raise InputError(f"a {image.dtype} image with {held}: float images are read as 0 (black) to 1 (white); "
                             "divide 8-bit values by 255, clip, or pass uint8")
        wide = np.rint(image * np.float32(65535)).astype(np.uint16)
        out = self.upscale(wide)  # in the order it was given
        return (out * (1 / 65535)).astype(image.dtype)

    def _upscale_pil(self, image: Any) -> Any:
        """A PIL image upscaled into a PIL image: its mode kept (CMYK, YCbCr and HSV upscaled as
        RGB and turned back, as Pillow converts them; RGBX as RGB; premultiplied RGBa and La as RGBA
        and LA), its ``info`` (ICC profile, EXIF, DPI) carried as
        ``Image.resize`` carries it. A palette image comes back RGB (RGBA where it has transparent
        colours) and a bilevel one grey: the upscaled edges hold colours and levels between theirs."""
        from PIL import Image  # the caller's own Pillow: it made the image

        mode, back = image.mode, image.mode
        if mode in ("P", "PA"):
            back = "RGBA" if mode == "PA" or "transparency" in image.info else "RGB"
            pixels = np.asarray(image.convert(back))
        elif mode == "1":
            back = "L"
            pixels = np.asarray(image.convert(back))
        elif mode in ("CMYK", "YCbCr", "HSV", "RGBX"):  # RGBX: RGB with a padding byte (a 32-bit BMP, a TIFF)
            pixels = np.asarray(image.convert("RGB"))
        elif mode in ("RGBa", "La"):  # premultiplied alpha: upscaled straight and premultiplied again
            pixels = np.asarray(image.convert(mode.upper()))
        elif mode == "I":  # 32-bit integers: how Pillow opens a 16-bit PNG
            pixels = np.asarray(image)
            if pixels.size and not (pixels.min() >= 0 and pixels.max() <= 65535):
                raise InputError(f"a PIL image in mode I with samples from {pixels.min()} to {pixels.max()}: "
                                 "sr-stream reads 8- and 16-bit samples (0 to 65535)")
            pixels = pixels.astype(np.uint16)
        elif mode in ("RGB", "RGBA", "L", "LA", "F") or mode.startswith("I;16"):
            pixels = np.asarray(image)
        else:
            raise InputError(f"a PIL image in mode {mode}: convert it to RGB, RGBA, L or LA first "
                             "(image.convert(\"RGB\"))")
        out = self._upscale_rgb(pixels) if pixels.dtype.kind != "f" else self.upscale(pixels)
        if mode == "I":
            out = out.astype(np.int32)
        result = Image.fromarray(out)
        if result.mode != back:
            result = result.convert(back)  # CMYK, YCbCr, HSV: back from RGB; I;16B: Pillow's own order
        result.info = {k: v for k, v in image.info.items() if back == mode or k != "transparency"}
        return result

    def upscale_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`upscale` of each image, in order."""
        return [self.upscale(image) for image in images]

    def frames(self, images: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """A generator: each frame of ``images`` upscaled as it comes (a stream of video frames)."""
        for image in images:
            yield self.upscale(image)

    # -- files -----------------------------------------------------------------------------------
    def upscale_file(self, src: str | Path, dst: str | Path | None = None, *, overwrite: bool = False,
                     progress: Callable[[int], None] | None = None, **encode: Any) -> FileResult:
        """Upscale a video, an image, a folder or a glob into ``dst`` (default ``INPUT_xS.ext``),
        with the command line's guarantees. ``encode``: ``codec``, ``crf``, ``bitrate``,
        ``preset``, ``pix_fmt``, ``audio``, ``subtitles``, ``fps`` for an image sequence
        upscaled into a video, ``max_frames``, ``max_seconds`` and ``start`` for a part of a video
        (a preview, a scene), and ``image_format`` and ``image_quality`` for images (see
        :func:`plan_file`)."""
        parameters = inspect.signature(plan_file).parameters
        unknown = sorted(set(encode) - set(parameters) | {"scale"} & set(encode))
        if unknown:  # not "plan_file() got an unexpected keyword argument"
            takes = [k for k, p in parameters.items() if p.kind == p.KEYWORD_ONLY and k not in ("scale", "overwrite")]
            scale = " (the scale is the model's: Upscaler(scale=...))" if "scale" in unknown else ""
            raise TypeError(f"upscale_file() got unexpected keyword arguments {', '.join(unknown)}; it takes "
                            f"overwrite, progress and {', '.join(takes)}{scale}")
        return self.run(plan_file(src, dst, scale=self.spec.scale, overwrite=overwrite, **encode), progress)

    def run(self, job: FileJob, progress: Callable[[int], None] | None = None) -> FileResult:
        """Carry out a job from :func:`plan_file` (a second thread's call waits for the first's end)."""
        with self._lock:
            if self._closed:
                raise ConfigError("this Upscaler was closed: open a new one (or run inside its with block)")
            with self._cancelling:
                self._running = threading.get_ident()
            try:
                return self._run_job(job, progress)
            finally:
                # first, with no call before it (where a pending KeyboardInterrupt could fire): no cancel()
                # reaches this thread once it has left; one that came as the run ended is dropped below, under
                # the lock cancel() holds while it sends it
                self._running = None
                with self._cancelling:
                    _async_raise(threading.get_ident(), None)

    def cancel(self) -> bool:
        """Stop the file run (:meth:`upscale_file`, :meth:`run`) that another thread is in, as
        Ctrl-C stops the command line's (a GUI's Cancel button): the frames and images finished are
        kept (a video's so far in ``NAME.interrupted.EXT``, a folder's finished images, a job's
        segments, resumed by the same call again) and the run returns, its report saying
        ``interrupted``; where nothing is kept (one image) it raises ``KeyboardInterrupt``. Delivered
        as Ctrl-C is, as a ``KeyboardInterrupt`` in that thread (CPython's
        ``PyThreadState_SetAsyncExc``), at its next Python step: within a frame's time.
        Returns whether a run was going on."""
        with self._cancelling:
            if self._running is None:
                return False
            return _async_raise(self._running, KeyboardInterrupt)

    def _run_job(self, job: FileJob, progress: Callable[[int], None] | None) -> FileResult:
        if job.sequence is None:
            return _with_sidecars(job, self._run(job, progress))
        try:  # an image sequence: its concat list is there while it runs (written again for a job run twice)
            if not job.sequence.listing.is_file():  # plan_file wrote it: every frame is not read twice
                job.sequence.write()
            result = self._run(job, progress)
        finally:
            job.sequence.remove()
        report = result.segments if result.segments is not None else result.video
        report.notes[:0] = job.sequence.notes
        # the first frames, or those from --start on, on purpose
        limited = getattr(report, "stopped_by", "") in ("frames", "duration") or job.start is not None
        if not report.interrupted and not limited and report.frames_out < len(job.sequence.frames):
            missing = job.sequence.missing(job.output)
            names = ", ".join(p.name for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise InputError(f"{len(missing)} of the {len(job.sequence.frames)} frames did not decode ({names}): "
                             f"{job.output} holds the others, the frame before each shown in its place; replace "
                             "them and run again with --overwrite")
        return result

    def _run(self, job: FileJob, progress: Callable[[int], None] | None = None) -> FileResult:
        import time

        if job.frames is not None:
            from srstream.engine.framefiles import upscale_to_frames

            self._start_video()
            report = upscale_to_frames(job.media.path, job.frames, self._frames, overwrite=job.overwrite,
                                       settings=self.image_settings(), restart=self._start_video, progress=progress,
                                       deinterlace=self.deinterlace, limit=job.limit, quality=job.image_quality,
                                       start=job.start)
            return FileResult(job, video=report, seconds=report.seconds)
        if job.animation:
            return self._run_animation(job, progress)
        if job.kind == "video" and job.segment_frames:
            from srstream.engine.jobs import Uncuttable

            try:
                self._joinable(job)
            except OutputError as exc:
                job = _in_one_pass(job, exc, "a resumable job cannot make this output")
            else:
                try:
                    return self._run_segments(job, progress)
                except Uncuttable as exc:  # found from the packets, before any segment
                    job = _in_one_pass(job, exc, "a resumable job cannot cut this input")
        if job.kind == "video":
            from srstream.engine.video import upscale_video

            self._start_video()
            video = upscale_video(job.media.path, job.output, self._sized(job.output), job.encode, progress=progress,
                                  deinterlace=self.deinterlace, limit=job.limit, start=job.start)
            video.notes[:0] = _left_out(job)
            return FileResult(job, video=video, seconds=video.seconds)
        started = time.perf_counter()
        if job.kind == "image" or job.media.frames:  # an image, or a folder's images
            if getattr(self._frames, "stabilizer", None) is not None:
                raise ConfigError("stabilize steadies video over time; it does nothing for images (open the "
                                  "Upscaler without it for a folder's images)")
            if getattr(self._frames, "change_cap", None) is not None:
                raise ConfigError("change_cap ties each video frame to the one before; it does nothing for images "
                                  "(open the Upscaler without it for a folder's images)")
        if job.kind == "image":
            from srstream.engine.stills import upscale_image

            size = upscale_image(job.media.path, job.output, self._pictures, job.image_quality)
            return FileResult(job, size=size, seconds=time.perf_counter() - started)
        batch = None
        if job.media.frames:
            from srstream.engine.stills import expand_inputs, upscale_folder

            recursive = getattr(job.media, "recursive", False)
            batch = upscale_folder(expand_inputs(job.media.path, recursive), job.output, self._pictures,
                                   overwrite=job.overwrite, progress=progress, settings=self.image_settings(),
                                   root=job.media.path if recursive else None, suffix=job.image_suffix,
                                   quality=job.image_quality)
            if batch.interrupted:
                return FileResult(job, batch=batch, seconds=batch.seconds)
        videos = self._run_videos(job) if job.videos else None
        notes = []
        if job.media.kind == "folder" and not getattr(job.media, "recursive", False):
            from srstream.engine.stills import unread_subfolders_note

            notes = [note] if (note := unread_subfolders_note(job.media.path, job.output, "recursive=True")) else []
        return FileResult(job, batch=batch, videos=videos, seconds=time.perf_counter() - started, notes=notes)

    def _run_animation(self, job: FileJob, progress: Callable[[int], None] | None) -> FileResult:
        """:func:`srstream.engine.animated.upscale_to_animation`, refused before the work where the
        input's frame count says that its frames would not fit in memory.

        Raises:
            OutputError: they would not.
        """
        from srstream.engine.animated import animation_bytes, upscale_to_animation
        from srstream.engine.stills import _animation_memory

        media, counted = job.media, frames_wanted(job.media, job.limit, job.start)
        width, height = self.output_size(media.width, media.height, picture=True)
        needed = animation_bytes(counted, width, height, alpha=True)
        if needed > _animation_memory():
            raise OutputError(f"-o {job.output}: an animated WebP is encoded whole, and {counted} frames of "
                              f"{width}x{height} would take {needed / 2**30:.1f} GiB, more than half of this "
                              "machine's memory; take part of the input (--duration, --frames), or write a video "
                              "(.mp4, .webm)")
        self._start_video()
        report = upscale_to_animation(media.path, job.output, self._pictures, memory=_animation_memory(),
                                      progress=progress, deinterlace=self.deinterlace, limit=job.limit,
                                      quality=job.image_quality, start=job.start)
        return FileResult(job, video=report, seconds=report.seconds)

    def _run_videos(self, job: FileJob) -> Any:
        """A folder's videos, each planned and upscaled as a video of its own, with this model
        (:func:`srstream.engine.folders.run_videos`); one that ends early (damaged or truncated) is
        listed as failed."""
        from srstream.engine.folders import run_videos

        job.output.mkdir(exist_ok=True)

        def one(video: Path, target: Path) -> FileResult:
            result = self.run(plan_file(video, target, scale=self.spec.scale, overwrite=job.overwrite,
                                        **job.video_options))
            report = result.segments if result.segments is not None else result.video
            if report.ended_early and not report.interrupted:
                raise InputError(f"{report.ended_early}; {target} holds the {report.frames_out} frames that decoded")
            return result

        def interrupted(result: FileResult) -> bool:
            return (result.segments if result.segments is not None else result.video).interrupted

        return run_videos(list(job.videos), one, overwrite=job.overwrite, interrupted=interrupted)

    def _start_video(self) -> None:
        """A new video: the stabiliser and the change cap forget the last one's frames."""
        for part in ("stabilizer", "change_cap"):
            state = getattr(self._frames, part, None)
            if state is not None:
                state.reset()

    def image_settings(self) -> dict[str, Any]:
        """What an upscaled image depends on: the model's graph, backend, precision, tiling. A folder
        run records them, and continues only with the same (:func:`srstream.engine.stills.upscale_folder`)."""
        import hashlib

        graph = hashlib.sha256(self.resolved.path.read_bytes()).hexdigest()
        settings = {"model": self.spec.name, "graph_sha256": graph, "backend": self.backend,
                    "precision": self.precision, "luma_graph": self._backend.luma_graph, "tile": str(self._frames.tile),
                    "ensemble": bool(self._frames.ensemble)}
        if self.output is not None:  # only when resized: a record made before outputs were resized still matches
            settings["output"] = self.output.label
        if self.deinterlace != "auto":  # likewise
            settings["deinterlace"] = self.deinterlace
        if self.tileable:  # likewise
            settings["tileable"] = True
        return settings

    def job_options(self, job: FileJob) -> dict[str, Any]:
        """What a segmented job's result depends on, for its manifest (a resume must match it)."""
        import dataclasses

        stabilizer = getattr(self._frames, "stabilizer", None)
        encode = dataclasses.asdict(job.encode)
        if encode["hdr10"] is None:  # a manifest written before HDR10 was kept still matches
            del encode["hdr10"]
        del encode["kept_from"], encode["note"]  # a note's words only: the codec and pixel format say what it chose
        options = {**self.image_settings(), "stabilize": stabilizer.strength if stabilizer else 0.0,
                   "encode": encode}
        if stabilizer is not None:
            from srstream.engine.stabilize import STILL_DRIFT, STILL_MOTION, STILL_SHARE

            options["stabilize_tolerance"] = stabilizer.tolerance
            # the rule for frames that stand still: a resume must hold them alike
            options["stabilize_still"] = [stabilizer.still, STILL_SHARE, STILL_MOTION, STILL_DRIFT]
        cap = getattr(self._frames, "change_cap", None)
        if cap is not None:
            options["change_cap"] = cap.gain
            options["change_cap_noise"] = cap.noise  # the rule's noise level: a resume must cap alike
        if job.start is not None or job.limit[1] is not None:  # a part of the video: a resume must take the same
            options["part"] = {"start": job.start, "seconds": job.limit[1]}
        return options

    def segment(self, src: Path, path: Path, span: tuple[int | None, int | None], encode: Any,
                progress: Callable[[int], None] | None = None, start: float | None = None) -> int:
        """Upscale one segment of a job (the frames ``start <= pts < end`` of ``src``, video only)
        into ``path``; returns its frame count. Here or on a Ray worker, the same bits. ``start``:
        the job's ``--start`` (seconds): the segment's frames from there on, timed from there.

        Raises:
            KeyboardInterrupt: interrupted (what was written is not kept as the segment).
        """
        from srstream.engine.video import upscale_video

        self._start_video()  # each segment stands alone
        # the segments' settings were rehearsed once before the first (_joinable), not again for each
        report = upscale_video(src, path, self._frames, encode, progress=progress, span=span, rehearsed=True,
                               deinterlace=self.deinterlace, start=start)
        if report.interrupted:
            raise KeyboardInterrupt
        # what the job says at its end (a segment run here; a Ray worker's stay there, and the job
        # then judges by the frame count alone)
        self._segment_damage = getattr(self, "_segment_damage", 0) + report.damaged_packets
        if report.decode_error:
            self._segment_errors = [*getattr(self, "_segment_errors", []), report.ended_early]
        return report.frames_out

    def _joinable(self, job: FileJob) -> None:
        """Find out before the first segment whether the segments can be joined into the output (the
        join comes last, after all the work): a segment is encoded into memory and joined there with
        the input's other streams (:func:`srstream.engine.jobs.join_filter`).

        Raises:
            OutputError: they cannot, and why.
        """
        import contextlib
        import dataclasses
        import io

        from srstream.engine.av_errors import open_av
        from srstream.engine.encode import choose_pix_fmt, format_for
        from srstream.engine.jobs import join_filter, segment_suffix
        from srstream.engine.sequence import open_input
        from srstream.engine.video import FileSource, keeps_alpha, rehearse_output

        per_segment = dataclasses.replace(job.encode, copy_audio=False, copy_subtitles=False)
        source = FileSource(job.media.path, copy_audio=False, copy_subtitles=False, deinterlace=self.deinterlace)
        self._input_notes = list(source.notes)  # what the input's first frame says (rotation, interlacing, ...)
        self._input_ivtc = source.ivtc  # telecined film: four frames out for five in
        try:
            size = self.output_size(*source.size)
            suffix = segment_suffix(job.encode.codec)
            if suffix == ".mp4" and keeps_alpha(source, choose_pix_fmt(job.encode, source.video.codec_context.pix_fmt,
                                                                       *size, True)[0]):
                raise OutputError("its segments (.mp4 files) cannot hold the input's transparency")
            try:
                segment = rehearse_output(source, format_for(suffix), suffix, size, per_segment)
            except (OutputError, ConfigError) as exc:  # a one-pass run says what is wrong with the settings
                raise OutputError(f"its segments ({suffix} files) cannot hold {job.encode.codec} video") from exc
            sound = job.sequence.audio if job.sequence is not None else None
            with open_av(io.BytesIO(segment)) as sample, contextlib.ExitStack() as opened:
                heard = opened.enter_context(open_input(sound)) if sound is not None else None
                join_filter(format_for(job.output.suffix), job.output.suffix, sample, source.container, job.encode,
                            heard)
        finally:
            source.close()

    def _run_segments(self, job: FileJob, progress: Callable[[int], None] | None) -> FileResult:
        import dataclasses
        import sys

        from srstream.engine.jobs import run_job

        per_segment = dataclasses.replace(job.encode, copy_audio=False, copy_subtitles=False)
        runner = None

        def on_ray(todo: list) -> Any:
            """The segments still to do, on Ray: started once the job is planned (an input that cannot
            be cut is refused first, not after seconds of starting Ray) and only when some are left."""
            nonlocal runner
            if not todo:
                return iter(())
            from srstream.engine.cluster import RayRunner

            runner = RayRunner(self, job.media.path, per_segment, workers=job.workers, address=job.ray_address,
                               progress=progress, start=job.start)
            print(f"sr-stream: segments on {runner.describe()}", file=sys.stderr, flush=True)
            return runner(todo)

        try:
            report = run_job(job.media.path, job.output,
                             lambda path, seg: self.segment(job.media.path, path, (seg.start, seg.end), per_segment,
                                                            progress, job.start),
                             job.encode, self.job_options(job), segment_frames=job.segment_frames,
                             restart=job.restart, run_segments=on_ray if job.workers or job.ray_address else None,
                             progress=progress,
                             log=lambda text: print(f"sr-stream: {text}", file=sys.stderr, flush=True),
                             sound=job.sequence.audio if job.sequence is not None else None, start=job.start,
                             seconds=job.limit[1])
        finally:
            if runner is not None:
                runner.close()
        report.notes[:0] = getattr(self, "_input_notes", [])  # the segments' own reports go no further
        damaged, errors = getattr(self, "_segment_damage", 0), getattr(self, "_segment_errors", [])
        self._segment_damage, self._segment_errors = 0, []
        if damaged:
            report.notes.append(f"{damaged} damaged packets of the input's video did not decode and were skipped, as "
                                "FFmpeg's players skip them: the output holds every frame that decoded")
        part = job.start is not None or job.limit[1] is not None
        declared = 0 if part else job.media.frames  # a part holds fewer on purpose
        ends = job.limit[1] is not None and (not job.media.seconds
                                             or (job.start or 0) + job.limit[1] < job.media.seconds)
        if (job.start or ends) and report.output is not None:
            from srstream.engine.video import part_note

            report.notes.append(part_note(report.frames_out, "duration" if ends else "end", job.start,
                                          job.limit[1]))
        if not report.interrupted and report.output is not None:
            if errors:  # a truncated or damaged input, as a one-pass run says it
                report.ended_early = errors[0]
            elif (getattr(self, "_input_ivtc", False) and declared
                  and report.frames_out + damaged < declared * 4 // 5 - 1):
                # a film frame for four of five decoded (the last five may fall short by one); a damaged packet
                # stands for at most one
                report.ended_early = (f"the input ended early: {report.frames_out} film frames where its {declared} "
                                      f"frames hold {declared * 4 // 5}")
            elif declared and report.frames_out + damaged < declared and not getattr(self, "_input_ivtc", False):
                report.ended_early = f"the input ended after {report.frames_out} of the {declared} frames it declares"
            elif not declared and not part:  # a Matroska film: its tag's seconds, and what was written
                from srstream.engine.media import declared_and_written, short_of_declared

                short = short_of_declared(*declared_and_written(Path(job.media.path), Path(report.output)))
                if short:
                    report.notes.append(short)
        if runner is not None and runner.nodes:
            spread = ", ".join(str(n) for n in sorted(runner.nodes.values(), reverse=True))
            done = sum(runner.nodes.values())
            print(f"sr-stream: {done} segment{'s' if done > 1 else ''} ran on {len(runner.nodes)} Ray "
                  f"node{'s' if len(runner.nodes) > 1 else ''} ({spread})", file=sys.stderr, flush=True)
        report.notes[:0] = _left_out(job)
        return FileResult(job, segments=report, seconds=report.seconds)

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the backend (idempotent; after a call that is running in another thread)."""
        with self._lock:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> Upscaler:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:  # noqa: ANN401
        """Not sent to other processes (``pickle``: a process pool's tasks): it holds a compiled
        model. Said so, where pickle named only the backend's session ("cannot pickle 'Core' object")."""
        raise TypeError("an Upscaler holds an open model and is not sent to other processes: open one in each "
                        "process (a pool's initializer, e.g. ProcessPoolExecutor(initializer=...)), or share one "
                        "between threads (calls take turns)")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
