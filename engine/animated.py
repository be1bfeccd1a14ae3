"""A video upscaled into an animated WebP: ``sr-stream clip.mp4 -o sticker.webp`` (a sticker, an
emote, a GIF's modern form: every colour, alpha kept, a fraction of a GIF's bytes).

An animated WebP is encoded whole (OpenCV's ``imencodeanimation``, libwebp's animation encoder),
so the upscaled frames are held until the input ends: a clip whose frames would take more than
half of this machine's memory (:data:`srstream.engine.stills.ANIMATION_MEMORY_SHARE`) is refused
before the work where its frame count is known, and stopped where it is not. Each frame lasts
until the next one's time (a variable frame rate kept, to the millisecond that WebP counts in);
a video's animation loops for ever, a GIF's plays as often as the GIF's own loop block says
(:func:`gif_repeats`; once where it has none, as browsers play it). Frames are lossy at quality
95 (``--quality``): libwebp's lossless mode made a video's frames several times larger. Sound and
subtitles have no place in it, and the run says so. FFmpeg's own WebP encoder gives one packet for the whole
animation, which the video pipeline (a packet a frame) does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from srstream.engine.media import video_rate
from srstream.engine.messages import Passthrough, Report, Upscaled
from srstream.engine.pipeline import Rung, UpscaleStage, run
from srstream.engine.upscaler import wrapped_sideways
from srstream.errors import OutputError

__all__ = ["ANIMATED_SUFFIXES", "AnimationSink", "PictureFrames", "animation_bytes", "apng_plays", "gif_repeats",
           "picture_frames", "upscale_to_animation", "webp_loop_count"]

#: Output extensions a video is written to as one animated picture.
ANIMATED_SUFFIXES = (".webp",)


def gif_repeats(path: Path | str) -> int | None:
    """How often the GIF ``path`` plays again after its first time, from its NETSCAPE2.0 (or
    ANIMEXTS1.0) loop block: 0 for ever; None where it has no such block, and plays once (as
    browsers play it). None too for a file that is not a GIF or is damaged before the block.

    FFmpeg's GIF demuxer reads the block but does not pass the count on, and OpenCV's would
    decode every frame to give it: the file is mapped and its blocks walked here, skipping the
    pictures' data (their sub-blocks' length bytes are all that is read of them).
    """
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _loop_block(data)
    except (OSError, ValueError):  # unreadable, or empty (nothing to map)
        return None


def _loop_block(data: Any) -> int | None:  # noqa: ANN401 - bytes or a mapped file
    """:func:`gif_repeats` of a GIF file's bytes."""
    for kind, at in _gif_blocks(data):
        if kind == 0x21 and data[at + 1] == 0xFF and data[at + 3:at + 14] in (b"NETSCAPE2.0", b"ANIMEXTS1.0") \
                and data[at + 14:at + 16] == b"\x03\x01":
            return int.from_bytes(data[at + 16:at + 18], "little")
    return None


def _gif_blocks(data: Any) -> Iterator[tuple[int, int]]:  # noqa: ANN401 - bytes or a mapped file
    """(kind, offset) of each block of a GIF file's bytes after its screen descriptor: 0x21 an
    extension, 0x2C a picture, then how it ends: 0x3B the trailer, :data:`_CUT` where the file stops
    first (a block runs past its end, or no trailer follows the last), :data:`_DAMAGED` at a byte that
    begins no block. Only the sub-blocks' length bytes of a picture's data are read."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return
    at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # the screen descriptor, its colour table

    def skip_blocks(i: int) -> int:  # data sub-blocks, each led by its length, up to the empty one
        while i < len(data) and data[i]:
            i += data[i] + 1
        return i + 1

    while at < len(data):
        kind = data[at]
        if kind == 0x21 and at + 2 < len(data):  # an extension: its label, then its sub-blocks
            yield kind, at
            at = skip_blocks(at + 2)
        elif kind == 0x2C and at + 10 <= len(data):  # a picture: its descriptor, colour table, LZW data
            yield kind, at
            flags = data[at + 9]
            at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            at = skip_blocks(at + 1)
        elif kind in (0x21, 0x2C):  # a block's first bytes, then the end of the file
            break
        else:
            yield (kind if kind == 0x3B else _DAMAGED), at
            return
    yield _CUT, at


_CUT, _DAMAGED = -1, -2  # how a GIF's blocks end other than at its trailer (_gif_blocks)


def gif_cut_short(path: Path | str) -> bool:
    """Whether the GIF ``path`` stops before its trailer (a download or copy that did not finish, which
    FFmpeg decodes up to the cut without a word). False for a whole GIF, a damaged one (which the
    decoder reports) and a file that is not a GIF. The file is mapped and its blocks walked."""
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return any(kind == _CUT for kind, _ in _gif_blocks(data))
    except (OSError, ValueError):  # unreadable, or empty (nothing to map)
        return False


def apng_plays(path: Path | str) -> int | None:
    """How often the animated PNG ``path`` plays, from its ``acTL`` chunk (0: for ever), as WebP
    counts; None where it has none (not an animated PNG, or damaged before it). The file is mapped,
    and its chunks' headers walked (:func:`srstream.engine.stills.png_chunks`), not read whole."""
    import mmap

    from srstream.engine.stills import png_chunks

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = png_chunks(data, (b"acTL",))
    except (OSError, ValueError):  # unreadable, or empty (nothing to map)
        return None
    return int.from_bytes(found[0][12:16], "big") if found and len(found[0]) >= 20 else None


def webp_loop_count(repeats: int | None) -> int:
    """WebP's loop count for a GIF that plays again ``repeats`` times (:func:`gif_repeats`): WebP
    counts every play (0: for ever), as Chromium and libwebp's gif2webp read it."""
    return 0 if repeats == 0 else min(65535, 1 + (repeats or 0))


@dataclass(frozen=True)
class PictureFrames:
    """An animated WebP upscaled into a video or a GIF (``sticker.webp -o sticker.mp4``): FFmpeg
    decodes no animated WebP, so its frames are written, with their times and alpha and without
    loss, into an animated PNG (``listing``, beside the output, removed when the run ends), which
    the video run reads as it reads any video. It stands where an image sequence's concat list
    stands in a :class:`~srstream.engine.api.FileJob` (``sequence``)."""

    source: Path
    listing: Path
    frames: tuple[str, ...]  # "frame 1", ...: what a run that did not hold them all names
    notes: tuple[str, ...] = ()
    audio: Path | None = None  # a sequence's soundtrack: an animation has none

    def describe(self) -> str:
        return f"{self.source}: an animated WebP of {len(self.frames)} frames, read as an animated PNG"

    def write(self) -> None:
        from srstream.engine.stills import read_animation, write_animation

        frames, durations, loops = read_animation(self.source)
        write_animation(self.listing, frames, durations, loops, lossy=False)

    def remove(self) -> None:
        self.listing.unlink(missing_ok=True)

    def missing(self, video: Path) -> list[Path]:
        """The frames the upscaled ``video`` does not hold, by count (the last ones)."""
        from srstream.engine.sequence import open_input

        with open_input(video) as container:
            held = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
        return [Path(name) for name in self.frames[held:]]


def picture_frames(media: Any, output: Path) -> PictureFrames:
    """The stand-in of the animated WebP ``media`` (a probed image of several frames) for a run
    into the video ``output``.

    Raises:
        OutputError: its frames would take more than :data:`srstream.engine.stills.ANIMATION_MEMORY_SHARE`
            of this machine's memory while they are read.
    """
    from srstream.atomic import fitting_name
    from srstream.engine.stills import _animation_memory

    needed = animation_bytes(media.frames, media.width, media.height, alpha=True)
    if needed > _animation_memory():
        raise OutputError(f"{media.path}: an animated WebP is read whole, and its {media.frames} frames of "
                          f"{media.width}x{media.height} would take {needed / 2**30:.1f} GiB, more than half of this "
                          "machine's memory")
    listing = output.with_name(fitting_name(output.parent, ".", output.name, ".frames.png"))
    return PictureFrames(media.path, listing, tuple(f"frame {n + 1}" for n in range(media.frames)))


def animation_bytes(frames: int, width: int, height: int, alpha: bool) -> int:
    """The memory ``frames`` upscaled frames of ``width`` x ``height`` take while held."""
    return frames * width * height * (4 if alpha else 3)


class AnimationSink:
    """Upscaled frames, held with their times until the run ends, then encoded into one animated
    WebP (:func:`srstream.engine.stills.write_animation`: atomically; nothing is written for a run
    that fails or is interrupted)."""

    takes_yuv = False

    def __init__(self, dst: Path, report: Report, time_base: Fraction, rate: Fraction, limit: int,
                 quality: int | None = None, loop_count: int = 0) -> None:
        self.dst, self.report, self.time_base, self.rate = dst, report, time_base, rate
        self.limit, self.quality, self.loop_count = limit, quality, loop_count
        self.frames: list[tuple[int, int | None, np.ndarray]] = []
        self.held = 0
        self.last: int | None = None  # the last frame's own duration, where the input gives it (a GIF's)

    def send(self, frame: Upscaled, abort: Any) -> bool:  # noqa: ANN401 - a threading.Event
        picture = frame.rgb
        self.held += picture.nbytes
        if self.held > self.limit:
            raise OutputError(f"{self.dst.name}: an animated WebP is encoded whole, and after {len(self.frames)} "
                              f"frames the upscaled ones take more than half of this machine's memory; cut the "
                              "input shorter (--duration), or write a video (.mp4, .webm)")
        self.frames.append((frame.src.index, frame.src.pts, picture))
        self.last = getattr(frame.src.picture, "duration", None) or None
        self.report.frames_out += 1
        return True

    def passthrough(self, packet: Passthrough, abort: Any) -> bool:  # noqa: ANN401
        return True  # sound and subtitles: said once, by the run

    def durations(self) -> list[int]:
        """Each frame's time on screen in milliseconds: to the next frame's start, rounded on the
        input's clock so that the times never drift; the last one its own where the input gives it
        (a GIF's), else ``1 / rate``."""
        step = 1000 / self.rate
        starts: list[float] = []
        for _, pts, _ in self.frames:
            starts.append(float(pts * self.time_base) * 1000 if pts is not None else
                          (starts[-1] + step if starts else 0.0))
        last = float(self.last * self.time_base) * 1000 if self.last else step
        ends = [*starts[1:], starts[-1] + last]
        edges = [round(t) for t in [*starts, ends[-1]]]
        return [max(1, b - a) for a, b in zip(edges, edges[1:])]

    def close(self, outcome: str) -> None:
        from srstream.engine.stills import write_animation

        if outcome != "done" or not self.frames:
            self.frames.clear()
            return
        self.frames.sort(key=lambda item: item[0])
        durations = self.durations()
        pictures = [picture for _, _, picture in self.frames]
        self.frames.clear()
        write_animation(self.dst, pictures, durations, self.loop_count, lossy=True, quality=self.quality)
        self.report.output = self.dst


def upscale_to_animation(src: Path, dst: Path, upscaler: Any, *, memory: int,
                         progress: Callable[[int], None] | None = None, deinterlace: str = "auto",
                         limit: tuple[int | None, float | None] = (None, None), quality: int | None = None,
                         start: float | None = None) -> Report:
    """Upscale the video ``src`` into the animated WebP ``dst`` with ``upscaler`` (a
    :class:`~srstream.engine.upscaler.FrameUpscaler`), holding at most ``memory`` bytes of frames.
    ``limit``: (frames, seconds), the most of either taken from the start; ``start``: the seconds
    into the video it starts at (``--start``); ``quality``: libwebp's (default
    :data:`srstream.engine.stills.WEBP_LOSSY_QUALITY`).

    Raises:
        InputError: an unreadable input, no frames (:func:`srstream.engine.video.end_of_input`).
            OutputError: more frames than ``memory`` holds, a folder that cannot be written, a full
            disk.
    """
    from srstream.engine.video import FileSource, end_of_input

    source = FileSource(src, copy_audio=False, copy_subtitles=False, deinterlace=deinterlace, limit=limit,
                        start=start)
    try:
        report = Report(source=str(source), frames_declared=source.frames_declared, notes=list(source.notes))
        dropped = sorted({s.type for s in source.container.streams if s.type in ("audio", "subtitle")})
        if dropped:
            report.notes.append(f"the input's {' and '.join(dropped)} has no place in an animated WebP: a video "
                                "output keeps it")
        # a GIF plays as often as its own loop block says (once where it has none); a video loops for ever
        loops = webp_loop_count(gif_repeats(src)) if source.container.format.name == "gif" else 0
        sink = AnimationSink(dst, report, source.video.time_base,
                             video_rate(source.video) or source.video.guessed_rate or Fraction(25), memory, quality,
                             loops)
        rung = Rung("", lambda: wrapped_sideways(upscaler) if source.wraps else upscaler)  # a 360-degree panorama
        run(source, UpscaleStage([rung]), [sink], report=report, progress=progress)
    except BaseException:
        source.close()
        raise
    end_of_input(src, report, start, limit[1])
    return report
