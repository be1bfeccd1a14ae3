"""An image sequence upscaled into a video: ``sr-stream frames/ -o film.mp4 [--fps 24] [--audio FILE]``.

A folder's (or glob's) frames, in their numbers' order, are described to FFmpeg as a concat list
(FFmpeg's own ``ffconcat`` format, read by its ``concat`` demuxer): every frame a file, read by
FFmpeg's image decoders at the sequence's frame rate. The list is written beside the output
(``.NAME.frames.ffconcat``, removed when the run ends) and stands for the sequence as a video file
does, for every stage of a video run: probing, the pipeline, resumable jobs and their workers. A
list of the same frames is the same file again: each frame's size and modification time are in it,
so a resumed job knows its frames unchanged (:func:`srstream.engine.jobs.input_identity`), and a
changed frame is a changed input.

Why a list and not FFmpeg's ``image2`` pattern (``frame_%05d.png``): a pattern takes numbered
names only, looks for its first number among five, stops at the first gap, and needs options a
path cannot carry; the list takes any names, in the order sr-stream gives it. Every input a video
run reads is opened with :func:`open_input`, which reads such a list as the concat demuxer does.

A soundtrack (``--audio FILE``: its first audio stream) is muxed by the join of a resumable job
(:mod:`srstream.engine.jobs`), which copies other streams beside the segments' video in any case: a
sequence with a sound always runs as a job, of one segment when short, so the output appears with
its sound or not at all.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.atomic import fitting_name
from srstream.engine.av_errors import open_av
from srstream.errors import ConfigError, InputError

__all__ = ["DEFAULT_RATE", "LIST_SUFFIX", "SEQUENCE_SUFFIXES", "TIMES_HEADER", "ImageSequence", "concat_entry",
           "frame_rate", "listing_for", "open_input", "plan_sequence"]

#: What a concat list ends with; an input so named is read as one (a user's own list too).
LIST_SUFFIX = ".ffconcat"
#: How a concat list of a video's frame times begins, as sr-stream writes it beside the numbered
#: frames of a video (:mod:`srstream.engine.framefiles`).
TIMES_HEADER = "ffconcat version 1.0\n# sr-stream: the times of "
#: The frame rate of a sequence run without ``--fps``: FFmpeg's for an image sequence.
DEFAULT_RATE = Fraction(25)
#: Frames a sequence can be made of: formats FFmpeg decodes one picture a file of. AVIF and HEIF
#: are little MP4 files to FFmpeg (each frame's clock starts again at 0), GIFs are animations.
SEQUENCE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_SAME = {".jpeg": ".jpg", ".tiff": ".tif"}
#: NTSC's rates, which ``--fps 23.976`` (or 29.97, 59.94) means: 24000/1001, ...
_NTSC = (24, 30, 48, 60, 120)
#: A numbered name: a prefix, its last number, a suffix without digits (``shot_0042.png``).
_NUMBERED = re.compile(r"(.*?)(\d+)(\D*)")


def concat_entry(name: str, clock: Fraction, microseconds: int) -> list[str]:
    """A concat list's lines for one picture file: its name (quoted as the concat demuxer unquotes
    it), the clock FFmpeg reads it on (its ``framerate``; 25 unless told) and how long it shows,
    in whole microseconds (the demuxer's own clock)."""
    quoted = name.replace("'", "'\\''")
    return [f"file '{quoted}'", f"option framerate {clock}", f"duration {microseconds / 1e6:.6f}"]


def open_input(path: str | Path, **kwargs: Any):  # noqa: ANN201 - an av input container
    """``av.open`` of an input video: a concat list (:data:`LIST_SUFFIX`) through FFmpeg's
    ``concat`` demuxer, whose paths may be absolute (its ``safe`` off), anything else as FFmpeg
    finds it."""
    if str(path).lower().endswith(LIST_SUFFIX):
        return open_av(str(path), format="concat", options={"safe": "0"}, **kwargs)
    return open_av(str(path), **kwargs)


def frame_rate(fps: float | Fraction | None) -> Fraction:
    """``--fps`` as an exact rate: NTSC's 23.976, 29.97, 59.94 are 24000/1001, 30000/1001, 60000/1001.

    Raises:
        ConfigError: not a positive rate of at most 1000.
    """
    if fps is None:
        return DEFAULT_RATE
    if isinstance(fps, Fraction):
        rate = fps
    else:
        try:
            rate = next((Fraction(n * 1000, 1001) for n in _NTSC if abs(float(fps) - n * 1000 / 1001) < 0.0015),
                        Fraction(float(fps)).limit_denominator(1001))
        except (ValueError, OverflowError):  # nan, inf
            rate = Fraction(0)
    if not 0 < rate <= 1000:
        raise ConfigError(f"--fps {float(fps):g}: a frame rate above 0 and at most 1000")
    return rate


def _natural(path: Path) -> tuple:
    """Sort key: digits compared as numbers (``f2`` before ``f10``), then the name as written."""
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", path.name)), str(path)


def _gaps(frames: list[Path]) -> str:
    """A note on numbers missing from the frames' numbering (``f0041.png``, ``f0043.png``: 42),
    where every name is one prefix, a number and one suffix; empty where none is missing."""
    parts = [_NUMBERED.fullmatch(p.name) for p in frames]
    if not all(parts) or len({(m[1], m[3]) for m in parts}) != 1:
        return ""
    numbers = sorted({int(m[2]) for m in parts})
    missing = [n for n, after in zip(numbers, numbers[1:]) for n in range(n + 1, after)]
    if not missing:
        return ""
    shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    many = len(missing) > 1
    return (f"{len(missing)} frame number{'s are' if many else ' is'} missing from {frames[0].parent}'s sequence "
            f"({shown}): each gap is closed, the frames around it played one after the other")


@dataclass(frozen=True)
class ImageSequence:
    """The frames of a folder or glob (``source``), in order, played at ``rate``; ``listing``: the
    concat list that stands for them (:func:`plan_sequence`)."""

    source: Path
    frames: tuple[Path, ...]
    rate: Fraction
    listing: Path
    notes: tuple[str, ...] = ()
    audio: Path | None = None  # the file whose first audio stream is the video's sound

    def describe(self) -> str:
        first, last = self.frames[0].name, self.frames[-1].name
        return (f"{self.source}: {len(self.frames)} frames ({first} ... {last}) as a video at "
                f"{float(self.rate):.3f}".rstrip("0").rstrip(".") + " fps")

    def text(self) -> str:
        """The concat list: each frame with its size and modification time (a comment), its frame
        rate and its duration. Durations are whole microseconds (the concat demuxer's clock): each
        is the step between its frame's start and the next's, rounded on the sequence's exact
        clock, so the frames' times never drift from ``n / rate`` however long the sequence."""
        lines = ["ffconcat version 1.0",
                 f"# sr-stream: {len(self.frames)} frames of {self.source!s:.200} at {self.rate} fps".replace("\n", " ")]
        for n, frame in enumerate(self.frames):
            try:
                st = frame.stat()
            except OSError as exc:
                raise InputError(f"cannot read {frame}: {exc.strerror}") from exc
            start, end = (round(k * 1_000_000 / self.rate) for k in (n, n + 1))
            lines += [f"# {st.st_size} {st.st_mtime_ns}", *concat_entry(str(frame.resolve()), self.rate, end - start)]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        from srstream.atomic import write_atomic

        write_atomic(self.listing, self.text().encode())  # OutputError: not writable, disk full

    def remove(self) -> None:
        self.listing.unlink(missing_ok=True)

    def missing(self, video: Path) -> list[Path]:
        """The frames the upscaled ``video`` does not hold (files that did not decode, which the
        pipeline skips as damaged packets), found by its packets' times: frame n at n / rate."""
        with open_input(video) as container:
            stream = container.streams.video[0]
            times = [p.pts * p.time_base for p in container.demux(stream) if p.size and p.pts is not None]
        first = min(times, default=0)
        held = {round((t - first) * self.rate) for t in times}
        return [frame for n, frame in enumerate(self.frames) if n not in held]


def listing_for(output: Path) -> Path:
    """Where the concat list of a sequence upscaled into ``output`` is kept while it runs."""
    return output.with_name(fitting_name(output.parent, ".", output.name, f".frames{LIST_SUFFIX}"))


def plan_sequence(source: Path, output: Path, fps: float | Fraction | None = None,
                  sound: str | Path | None = None) -> ImageSequence:
    """The sequence of a folder's or glob's images, to be upscaled into the video ``output``
    (not yet written: :meth:`ImageSequence.write`), with the first audio stream of ``sound``.

    Raises:
        InputError: images of several formats, or of one a sequence cannot be made of; a ``sound``
            that is missing or holds no audio.
        ConfigError: a bad ``fps``.
    """
    from srstream.engine.stills import expand_inputs

    rate = frame_rate(fps)
    files = expand_inputs(source)
    kinds: dict[str, int] = {}
    for f in files:
        suffix = _SAME.get(f.suffix.lower(), f.suffix.lower())
        kinds[suffix] = kinds.get(suffix, 0) + 1
    if len(kinds) > 1:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        main = max(kinds, key=kinds.get)
        where = source / f"*{main}" if source.is_dir() else source
        raise InputError(f"{source} holds images of several formats ({counts}); a sequence is one format's frames: "
                         f"pass those as a glob, e.g. sr-stream '{where}' -o {output}")
    (suffix,) = kinds
    if suffix not in SEQUENCE_SUFFIXES:
        raise InputError(f"{source}: a video is made of {', '.join(SEQUENCE_SUFFIXES)} frames, not {suffix}; "
                         f"convert them first (e.g. to PNG), or upscale them as images with -o FOLDER")
    frames = sorted(files, key=_natural)
    if source.is_dir():
        _check_strays(source, frames, output)
    notes = [note for note in (_gaps(frames),) if note]
    if fps is None and (times := _times_of(frames)) is not None:
        notes.append(f"{times} holds these frames' own times (sr-stream wrote them with the frames): here they play "
                     f"at {float(rate):g} fps; to keep those times give the list as the input: sr-stream {times} "
                     f"-o {output}")
    audio = None
    if sound is not None:
        audio = Path(sound)
        seconds = _sound_seconds(audio)
        video = float(len(frames) / rate)
        if seconds and abs(seconds - video) > max(0.5, 2 / rate):
            fits = f"; --fps {len(frames) / seconds:.3f} would make them one length" if len(frames) > 1 else ""
            notes.append(f"the sound runs {seconds:.2f} s, the {len(frames)} frames {video:.2f} s at "
                         f"{float(rate):g} fps: the sound is kept whole{fits}")
    return ImageSequence(source, tuple(frames), rate, listing_for(output), tuple(notes), audio)


def _times_of(frames: list[Path]) -> Path | None:
    """The concat list of the times of exactly ``frames`` that sr-stream wrote in their folder, if any."""
    names = {frame.name for frame in frames}
    for listing in sorted(frames[0].parent.glob(f"*{LIST_SUFFIX}")):
        try:
            text = listing.read_text(errors="replace")
        except OSError:
            continue
        if text.startswith(TIMES_HEADER):
            listed = {name.replace("'\\''", "'") for name in re.findall(r"^file '(.*)'$", text, re.MULTILINE)}
            if listed == names:
                return listing
    return None


def _check_strays(source: Path, frames: list[Path], output: Path) -> None:
    """Refuse a folder whose frames are numbered alike but for a few other images (a poster, a
    preview, another shot's frames), which would play among or after them: the user names which
    with a glob (a glob's files are taken as given).

    Raises:
        InputError: the images not numbered as most are, and the globs that say which to take.
    """
    keys = [(m[1], m[3]) if (m := _NUMBERED.fullmatch(frame.name)) else None for frame in frames]
    groups = Counter(key for key in keys if key is not None)
    if not groups:
        return
    (prefix, suffix), count = groups.most_common(1)[0]
    strays = [frame for frame, key in zip(frames, keys) if key != (prefix, suffix)]
    if count < 2 or not strays:
        return
    shown = ", ".join(f.name for f in strays[:3]) + (f" and {len(strays) - 3} more" if len(strays) > 3 else "")
    raise InputError(f"{source}: {shown} {'is' if len(strays) == 1 else 'are'} not numbered like the {count} frames "
                     f"{prefix}N{suffix}; name the frames with a glob: sr-stream '{source / (prefix + '*' + suffix)}' "
                     f"-o {output} (or '{source / ('*' + frames[0].suffix)}' to take them all, in their names' order)")


def _sound_seconds(path: Path) -> float:
    """How long the first audio stream of ``path`` runs (0 when it does not say).

    Raises:
        InputError: missing, unreadable, or without audio.
    """
    from srstream.engine.av_errors import av_failures, read_error

    if not path.is_file():
        raise InputError(f"--audio {path}: no such file")
    try:
        with open_input(path) as container:
            if not container.streams.audio:
                raise InputError(f"--audio {path} holds no audio stream; pass a sound file (or a video with sound)")
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else 0.0
    except av_failures() as exc:
        raise read_error(exc, f"--audio {path} is not a sound file sr-stream can read") from exc
