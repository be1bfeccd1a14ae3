"""A video upscaled into an animated WebP: ``sr-stream clip.mp4 -o sticker.webp`` (a sticker, an
emote, a GIF's modern form: every colour, alpha kept, a fraction of a GIF's bytes).

An animated WebP is encoded whole (OpenCV's ``imencodeanimation``, libwebp's animation encoder),
so the upscaled frames are held until the input ends: a clip whose frames would take more than
half of this machine's memory (:data:`srstream.engine.stills.ANIMATION_MEMORY_SHARE`) is refused
before the work where its frame count is known, and stopped where it is not. Each frame lasts
until the next one's time (a variable frame rate kept, to the millisecond that WebP counts in);
the animation loops for ever, as a GIF does. Frames are lossy at quality 95 (``--quality``):
libwebp's lossless mode made a video's frames several times larger. Sound and subtitles have no
place in it, and the run says so. FFmpeg's own WebP encoder gives one packet for the whole
animation, which the video pipeline (a packet a frame) does not take.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from srstream.engine.messages import Passthrough, Report, Upscaled
from srstream.engine.pipeline import Rung, UpscaleStage, run
from srstream.errors import OutputError

__all__ = ["ANIMATED_SUFFIXES", "AnimationSink", "animation_bytes", "upscale_to_animation"]

#: Output extensions a video is written to as one animated picture.
ANIMATED_SUFFIXES = (".webp",)


def animation_bytes(frames: int, width: int, height: int, alpha: bool) -> int:
    """The memory ``frames`` upscaled frames of ``width`` x ``height`` take while held."""
    return frames * width * height * (4 if alpha else 3)


class AnimationSink:
    """Upscaled frames, held with their times until the run ends, then encoded into one animated
    WebP (:func:`srstream.engine.stills.write_animation`: atomically; nothing is written for a run
    that fails or is interrupted)."""

    takes_yuv = False

    def __init__(self, dst: Path, report: Report, time_base: Fraction, rate: Fraction, limit: int,
                 quality: int | None = None) -> None:
        self.dst, self.report, self.time_base, self.rate = dst, report, time_base, rate
        self.limit, self.quality = limit, quality
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
        write_animation(self.dst, pictures, durations, 0, lossy=True, quality=self.quality)
        self.report.output = self.dst


def upscale_to_animation(src: Path, dst: Path, upscaler: Any, *, memory: int,
                         progress: Callable[[int], None] | None = None, deinterlace: str = "auto",
                         limit: tuple[int | None, float | None] = (None, None), quality: int | None = None) -> Report:
    """Upscale the video ``src`` into the animated WebP ``dst`` with ``upscaler`` (a
    :class:`~srstream.engine.upscaler.FrameUpscaler`), holding at most ``memory`` bytes of frames.
    ``limit``: (frames, seconds), the most of either taken from the start; ``quality``: libwebp's
    (default :data:`srstream.engine.stills.WEBP_LOSSY_QUALITY`).

    Raises:
        InputError: an unreadable input, no frames (:func:`srstream.engine.video.end_of_input`).
            OutputError: more frames than ``memory`` holds, a folder that cannot be written, a full
            disk.
    """
    from srstream.engine.video import FileSource, end_of_input

    source = FileSource(src, copy_audio=False, copy_subtitles=False, deinterlace=deinterlace, limit=limit)
    try:
        report = Report(source=str(source), frames_declared=source.frames_declared, notes=list(source.notes))
        dropped = sorted({s.type for s in source.container.streams if s.type in ("audio", "subtitle")})
        if dropped:
            report.notes.append(f"the input's {' and '.join(dropped)} has no place in an animated WebP: a video "
                                "output keeps it")
        sink = AnimationSink(dst, report, source.video.time_base,
                             source.video.average_rate or source.video.guessed_rate or Fraction(25), memory, quality)
        run(source, UpscaleStage([Rung("", lambda: upscaler)]), [sink], report=report, progress=progress)
    except BaseException:
        source.close()
        raise
    end_of_input(src, report)
    return report
