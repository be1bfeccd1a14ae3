"""A video upscaled into numbered image files: ``sr-stream clip.mp4 -o 'frames/%06d.png'`` (or
``-o FOLDER`` that exists: ``FOLDER/clip_%06d.png``), the way compositing and editing tools take
frames (lossless 8- or 16-bit PNG or TIFF, alpha kept), as FFmpeg's ``image2`` muxer numbers them:
from 1, one file a frame in display order.

Every frame file is written whole (a temporary file renamed, :func:`srstream.engine.stills.write_still`)
by a writer thread behind a bounded queue, so encoding PNGs overlaps upscaling. The run records
its settings and the input's identity in the folder (:data:`srstream.engine.stills.BATCH_RECORD`,
as a folder run of images does): the same command run again after Ctrl-C or a crash keeps the
frames already written, decodes past them without upscaling, and does the rest; other settings
or another input into the same folder are refused (``--overwrite`` redoes every frame).

A picture file has no time, so a run that ends with every frame written also writes the frames'
times beside them, as FFmpeg's concat list (:attr:`FrameFiles.listing`, ``clip.ffconcat``): each
file with its duration to the next frame, which keeps a variable frame rate (a phone's video, a
screen recording). FFmpeg reads it as a video (``ffmpeg -f concat -safe 0 -i frames/clip.ffconcat -i
clip.mp4 -map 0:v -map 1:a? -fps_mode passthrough ...``: the frames at their own times, with the
input's sound; ``-safe 0`` for the list's ``option`` lines, and ``-fps_mode passthrough`` keeps
FFmpeg from filling a variable rate's .mp4 up to the list's clock), and so does sr-stream (an
input ending in ``.ffconcat``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.engine.media import video_rate
from srstream.engine.messages import Channel, Frame, Passthrough, Report, Upscaled
from srstream.engine.pipeline import Rung, UpscaleStage, run
from srstream.engine.sequence import TIMES_HEADER, concat_entry
from srstream.engine.upscaler import wrapped_sideways
from srstream.errors import ConfigError, OutputError

__all__ = ["FRAME_SUFFIXES", "FrameFiles", "frame_files", "upscale_to_frames"]

#: The formats a frame file can be written in: one picture a file, quickly (AVIF and HEIC encode
#: a 1080p frame in seconds).
FRAME_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".bmp")
_NUMBER = re.compile(r"%(0\d+)?d")


@dataclass(frozen=True)
class FrameFiles:
    """Where each frame goes: ``folder / (template % number)``, numbered from ``start``."""

    folder: Path
    template: str
    start: int = 1

    def path(self, index: int) -> Path:
        """The file of the frame ``index`` (0: the first)."""
        return self.folder / (self.template % (self.start + index))

    @property
    def suffix(self) -> str:
        return Path(self.template).suffix.lower()

    @property
    def listing(self) -> Path:
        """The concat list of the frames' times: the template without its number and suffix
        (``clip_%06d.png``: ``clip.ffconcat``; ``%06d.png``: ``frames.ffconcat``)."""
        stem = _NUMBER.sub("", Path(self.template).stem.replace("%%", "%")).strip("_-. ") or "frames"
        return self.folder / f"{stem}.ffconcat"

    def __str__(self) -> str:
        return str(self.folder / self.template)


def frame_files(output: Path) -> FrameFiles | None:
    """What ``-o output`` asks of a video: numbered frame files where it is a name with one
    ``%d`` or ``%0Nd`` (``frames/%06d.png``); None for a video output. (An existing folder takes
    the video under its default name, as it takes an image and several inputs' outputs:
    :func:`srstream.engine.api.plan_file`.)

    Raises:
        ConfigError: a pattern with more than one number, or in a format not in :data:`FRAME_SUFFIXES`.
    """
    name = output.name
    if "%" not in name:
        return None
    numbers = _NUMBER.findall(name.replace("%%", ""))
    if len(numbers) != 1 or "%" in _NUMBER.sub("", name.replace("%%", "")):
        raise ConfigError(f"-o {output}: a name for numbered frames holds one %d or %0Nd (e.g. frames/%06d.png), "
                          "and %% for a percent sign")
    suffix = Path(name).suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise ConfigError(f"-o {output}: frames are written as {', '.join(FRAME_SUFFIXES)} (PNG and TIFF keep 16 bits "
                          "and transparency)")
    return FrameFiles(output.parent, name)


class _SkipWritten(UpscaleStage):
    """The upscale stage of a continued run: a frame whose file an earlier run wrote is decoded but
    not upscaled; the next one upscaled starts afresh (``restart``: the stabiliser and the change
    cap forget the frames before, as at a segment's start)."""

    def __init__(self, ladder: list[Rung], written: Callable[[int], bool], restart: Callable[[], None]) -> None:
        super().__init__(ladder)
        self.written, self.restart, self.skipping = written, restart, False

    def lanes(self, source: Any) -> int:
        return 1  # the restart must come between two frames' steps after the network, in order

    def begin(self, frame: Frame, source: Any) -> Callable[[], Upscaled]:
        if self.written(frame.index):
            self.skipping = True
            skipped = Upscaled(frame, None, time.perf_counter())
            return lambda: skipped
        if self.skipping:
            self.skipping = False
            self.restart()
        return super().begin(frame, source)


def timing_list(target: FrameFiles, times: dict[int, int | None], time_base: Fraction, rate: Fraction) -> str:
    """The concat list of ``target``'s frames (``times``: each frame's index and presentation time
    in ``time_base``; None where the input gave none: the frame ``1 / rate`` after the one before).
    Each file's duration is the step to the next frame's start, in whole microseconds (the concat
    demuxer's clock), rounded on the input's exact clock so that the times never drift; the last
    frame lasts ``1 / rate``. Times count from the first frame (a list cannot start later).

    FFmpeg reads each picture on a clock of its ``framerate`` option (25 unless told, which moved
    a frame at 33 ms to 40): the list gives ``rate`` where every frame falls on it (the video's own
    rate, as a player shows it), and otherwise ticks of ``time_base``, on which every time falls."""
    order = sorted(times)
    step = round(1_000_000 / rate)
    starts: list[int] = []  # microseconds from the first frame
    origin = next((times[i] for i in order if times[i] is not None), 0)
    for index in order:
        pts = times[index]
        at = round((pts - origin) * time_base * 1_000_000) if pts is not None else None
        if at is None or (starts and at <= starts[-1]):  # no time, or out of order: the next frame's step
            at = starts[-1] + step if starts else 0
        starts.append(at)
    even = all(at == round(n * 1_000_000 / rate) for n, at in enumerate(starts))
    clock = rate if even else 1 / time_base
    about = f"{len(order)} frames of {target.template}, from the input's {float(origin * time_base):.6f} s"
    lines = [TIMES_HEADER + about.replace("\n", " ")]
    for n, index in enumerate(order):
        end = starts[n + 1] if n + 1 < len(starts) else starts[n] + step
        lines += concat_entry(target.path(index).name, clock, end - starts[n])
    return "\n".join(lines) + "\n"


class FramesSink:
    """Upscaled frames -> one image file each, written on its own thread behind a bounded queue
    (it waits: nothing is dropped). A frame the stage passed over (already written) is counted.
    Each frame's time is kept, for the concat list written when the run is done."""

    def __init__(self, target: FrameFiles, report: Report, queue_size: int = 8,
                 time_base: Fraction = Fraction(1, 90000), rate: Fraction = Fraction(25),
                 quality: int | None = None) -> None:
        from srstream.engine.stills import write_still

        self.target, self.report, self.write, self.quality = target, report, write_still, quality
        self.time_base, self.rate = time_base, rate
        self.times: dict[int, int | None] = {}
        self.q = Channel(queue_size)
        self.kept = 0
        self.error: BaseException | None = None
        self.dead = threading.Event()
        self.takes_yuv = False
        self.thread = threading.Thread(target=self._write, name="frames", daemon=True)
        self.thread.start()

    def send(self, frame: Upscaled, abort: threading.Event) -> bool:
        return not self.dead.is_set() and self.q.put(frame, self.dead)

    def passthrough(self, packet: Passthrough, abort: threading.Event) -> bool:
        return True  # sound and subtitles: an image sequence holds pictures only (said once, by the run)

    def _write(self) -> None:
        try:
            for item in self.q.drain():
                self.times[item.src.index] = item.src.pts
                if item.rgb is None:
                    self.kept += 1
                    continue
                self.write(self.target.path(item.src.index), item.rgb, quality=self.quality)
                self.report.frames_out += 1
        except BaseException as exc:  # noqa: BLE001 - raised by close() on the caller's thread
            self.error = exc
            self.dead.set()

    def close(self, outcome: str) -> None:
        """Every frame file is whole whatever the outcome (each was renamed into place): they stay,
        for the same command to continue. When the run is done, the frames' times are written
        (:func:`timing_list`), whole, over a list sr-stream wrote before but never over a user's."""
        self.q.close()
        self.thread.join()
        if isinstance(self.error, OutputError) and self.report.frames_out + self.kept:  # a full disk
            raise OutputError(f"{self.error}; the {self.report.frames_out + self.kept} frames before it are whole and "
                              f"stay in {self.target.folder}: the same command continues from there") from self.error
        if self.error is not None:
            raise self.error
        self.report.output = self.target.folder
        if outcome != "done" or not self.times:
            return
        from srstream.atomic import write_atomic

        listing = self.target.listing
        try:
            with listing.open("rb") as f:
                ours = f.read(len(TIMES_HEADER)) == TIMES_HEADER.encode()
        except FileNotFoundError:
            ours = True
        except OSError:
            ours = False
        if not ours:
            self.report.notes.append(f"the frames' times are not written: {listing} exists and sr-stream did not "
                                     "write it (move it away and run the same command again)")
            return
        write_atomic(listing, timing_list(self.target, self.times, self.time_base, self.rate).encode())
        self.report.notes.append(f"the frames' times are in {listing} (ffmpeg -f concat -safe 0 -i {listing.name} "
                                 "-fps_mode passthrough ... makes the frames a video at them)")


def upscale_to_frames(src: Path, target: FrameFiles, upscaler: Any, *, overwrite: bool = False,
                      settings: dict[str, Any] | None = None, restart: Callable[[], None] = lambda: None,
                      progress: Callable[[int], None] | None = None, deinterlace: str = "auto",
                      limit: tuple[int | None, float | None] = (None, None), quality: int | None = None,
                      start: float | None = None) -> Report:
    """Upscale the video ``src`` into ``target``'s frame files with ``upscaler`` (a
    :class:`~srstream.engine.upscaler.FrameUpscaler`). ``settings``: what the frames depend on
    (the model's), recorded in the folder with the input's identity and the names. ``limit``:
    (frames, seconds), the most of either taken from the start (``--frames``/``--duration``);
    ``start``: the seconds into the video the frames start at (``--start``; recorded with the
    settings: frames from another time are another run's). ``quality``: lossy frame files'
    (``--quality``; :func:`srstream.engine.stills.write_still`).

    Raises:
        ConfigError: the folder holds frames of another input or other settings (without ``overwrite``).
        InputError: an unreadable input, no frames. OutputError: a folder that cannot be written, a full disk.
        KeyboardInterrupt is not raised: an interrupted run returns a report with ``interrupted=True``.
    """
    from srstream.engine.jobs import input_identity
    from srstream.engine.stills import _kept, _record_settings
    from srstream.engine.video import FileSource, end_of_input

    source = FileSource(src, copy_audio=False, copy_subtitles=False, deinterlace=deinterlace, limit=limit,
                        start=start)
    try:
        report = Report(source=str(source), frames_declared=source.frames_declared, notes=list(source.notes))
        dropped = [s.type for s in source.container.streams if s.type in ("audio", "subtitle")]
        if dropped:
            report.notes.append(f"the input's {' and '.join(sorted(set(dropped)))} is not in numbered frames: a video "
                                "output keeps it")
        try:
            target.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {target.folder}: {exc.strerror or exc}") from exc
        quality_setting = {"quality": quality} if quality is not None else {}  # none: a record made before matches
        quality_setting.update({"from_seconds": start} if start else {})
        record = {**(settings or {}), **quality_setting, "input": {"name": src.name, **input_identity(src)},
                  "frames": target.template, "start": target.start}
        redo_before = _record_settings(target.folder, record, overwrite)
        source.alpha = source.alpha and target.suffix in (".png", ".tif", ".tiff", ".webp")
        if source.deep and target.suffix not in (".png", ".tif", ".tiff"):
            report.notes.append(f"the input's samples are deeper than 8 bits: {target.suffix} frames hold 8 (PNG and "
                                "TIFF frames keep 16)")

        def written(index: int) -> bool:
            path = target.path(index)
            return not overwrite and path.exists() and _kept(path, redo_before)

        sink = FramesSink(target, report, time_base=source.video.time_base,
                          rate=video_rate(source.video) or source.video.guessed_rate or Fraction(25), quality=quality)
        stage = _SkipWritten([Rung("", lambda: wrapped_sideways(upscaler) if source.wraps else upscaler)], written,
                             restart)
        run(source, stage, [sink], report=report, progress=progress)
    except BaseException:
        source.close()
        raise
    if sink.kept:
        report.notes.append(f"{sink.kept} frames an earlier run wrote were kept")
    end_of_input(src, report, start, limit[1])
    return report
