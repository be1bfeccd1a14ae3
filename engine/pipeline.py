"""The one streaming pipeline: ``Source -> upscale -> Sinks``, for files and live sources alike.

A frame's way from ``sr-stream INPUT`` to the encoder::

    Source.read (its thread)   upscale (a thread per lane)      finish (its thread)          Sink (its thread)
    decode/capture -> Frame --> [channel] --> RGB/YUV -> net --> [in order] --> stabiliser, cap --> encode
                   \\-> Passthrough (audio, subtitles) -----------------------------------------> Sink.passthrough

* **A file's small frames go through the network two at a time** where the backend offers lanes
  (:meth:`UpscaleStage.lanes`: OpenVINO's streams, or an ONNX Runtime session per lane, on a CPU):
  one frame on every core waits at each layer's barrier whenever the encoder or the decoder takes
  a core, two frames on a thread each do not. The steps after the network (the stabiliser, the change
  cap, a resize: :func:`srstream.engine.upscaler.later`) then take the frames in order on the
  ``finish`` thread. With one lane (live sources, larger frames) they run right after the network on
  its thread, as one frame's network threads would only wait for them.
* **Messages are typed** (:mod:`srstream.engine.messages`): ``Frame`` (a decoded picture with its
  timestamp and the clock time it was read), ``Passthrough`` (another stream's packet, copied
  untouched: it never goes through the upscale stage) and ``Upscaled``.
* **The drop policy is the source's**: a file source (``live = False``) waits for the upscale
  stage (a bounded ``Channel``: back-pressure, every frame kept); a live source (``live = True``)
  never waits: a newer frame replaces a waiting one and the drop is counted (``LatestFrame``).
  A sink decides its own policy the same way (the file encoder waits; the live recorder drops and
  counts).
* **Colour is converted in one place** (:func:`picture_rgb`): with the matrix the source declares
  (BT.601 when it declares none) and the swscale flags measured right in
  :func:`srstream.engine.encode.sws_flags`, whether the picture came from a file or a camera.
* **One report** (``Report``) for every run: frames read, upscaled, written and shown, drops at
  each stage, per-frame upscale time and read-to-output latency, why it stopped.
* **Stopping**: the source ending, a frame or time limit, the window closed, Ctrl-C (on the main
  thread, which only conducts: it runs the display, if any, and waits) or an error. Sinks are then
  closed with the outcome, and each decides what to keep (:meth:`Sink.close`).

Sources: :mod:`srstream.engine.video` (files) and :mod:`srstream.engine.live` (devices,
generators). Sinks: the file encoder (:mod:`srstream.engine.video`), the recorder and the virtual
camera (:mod:`srstream.engine.live_sinks`); the window (:mod:`srstream.engine.display`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from srstream.engine.encode import MATRICES, sws_flags
from srstream.engine.kernels import YuvMatrix
from srstream.engine.messages import Channel, Frame, InOrder, LatestFrame, Passthrough, Report, Upscaled
from srstream.engine.upscaler import in_lane, lanes_of, later

__all__ = ["Display", "Rung", "Sink", "Source", "UpscaleStage", "picture_rgb", "plane_view", "run"]


# -- the parts --------------------------------------------------------------------------------
class Source(Protocol):
    """Where frames come from. ``live``: the source never waits (newest frame wins)."""

    live: bool
    matrix: int  # the colour matrix its pictures are in (an srstream.engine.encode.MATRICES key)
    deep: bool  # more than 8 bits per sample: pictures convert to 16-bit RGB
    turns: int  # quarter turns (np.rot90's k) that show its pictures upright

    def read(self, emit: Callable[[Frame | Passthrough], bool], stop: threading.Event, report: Report) -> str:
        """Emit messages until the end or ``stop``; return why it stopped (``end``, ``frames``,
        ``source-ended``, ``disconnected``, or ``""`` when told to stop). ``emit`` returns False
        when the pipeline no longer takes messages."""
        ...

    def close(self) -> None: ...


class Sink(Protocol):
    """Where upscaled frames go. ``send`` may wait (a file) or drop and count (a live recorder)."""

    def send(self, frame: Upscaled, abort: threading.Event) -> bool: ...

    def passthrough(self, packet: Passthrough, abort: threading.Event) -> bool: ...

    def close(self, outcome: str) -> None:
        """``outcome``: ``done``, ``interrupted`` (Ctrl-C, a window closed, a device gone: what
        was written is worth keeping) or ``failed`` (delete)."""
        ...


class Display(Protocol):
    def show(self, frame: Upscaled, report: Report) -> bool: ...  # False: the user closed the window

    def idle(self) -> bool: ...  # pump events; False: the user closed the window

    def close(self) -> None: ...


#: The largest frames (input pixels) that go through the network two or more at a time where the
#: backend offers lanes: each lane holds buffers of its own (and region reuse its own kept output).
#: On a 2-core Zen 4 (``benchmarks/results/bench/lanes/``) lanes took 640x360 clips 4-13% faster end to
#: end with OpenVINO INT8 (11-18% with ONNX Runtime INT8), the same output; the 1280x720 game capture
#: ran 1.0x and 0.91x, its steps after the network (at 2560x1440) the limit there. Sizes between are
#: unmeasured: lanes stop at 640x480.
LANE_PIXELS = 640 * 480


@dataclass
class Rung:
    """One configuration of the latency ladder: a label and how to get its upscaler."""

    label: str
    make: Callable[[], Any]  # -> FrameUpscaler (opened lazily, closed by the caller's ExitStack)
    opened: list[Any] = field(default_factory=list)  # what ``make`` opened, for the run's summary


class UpscaleStage:
    """Frame -> Upscaled: the colour conversion and the network, with the latency ladder.

    ``yuv``: take the kernels' 4:2:0 path (limited-range yuv420p in and out, no swscale pass on
    either side) when the picture and the upscaler allow it; the sink then gets planes.
    ``max_latency_ms``: when the median read-to-output latency of the last ``window`` frames
    misses it, step down to the next rung (INT8, then a faster bundled model), saying which.
    """

    def __init__(self, ladder: list[Rung], *, yuv: bool = False, max_latency_ms: float | None = None,
                 window: int = 8) -> None:
        self.ladder, self.yuv, self.max_latency_ms, self.window = ladder, yuv, max_latency_ms, window
        self.rung = 0
        self.upscaler = ladder[0].make()
        self.size: tuple[int, int] | None = None
        self.recent: list[float] = []
        self.notes: list[str] = []  # what the run says at its end (a size change)
        self.refitted = 0  # frames of another size, fitted into the first's

    @staticmethod
    def to_rgb(picture: Any, source: Source) -> np.ndarray:
        """A picture as RGB in the source's matrix and depth, upright."""
        if isinstance(picture, np.ndarray):
            return picture
        return picture_rgb(picture, source.matrix, deep=source.deep, turns=source.turns,
                           alpha=getattr(source, "alpha", False))

    def __call__(self, frame: Frame, source: Source) -> Upscaled:
        return self.begin(frame, source)()

    def lanes(self, source: Source) -> int:
        """How many frames the network runs at once: the upscaler's (:func:`~srstream.engine.upscaler.lanes_of`:
        its backend's, through wrappers that split their frames) for a file's frames up to
        :data:`LANE_PIXELS`; 1 for a live source (each frame as soon as possible) and larger frames."""
        shape = getattr(source, "shape", None)
        if source.live or (shape is not None and shape[0] * shape[1] > LANE_PIXELS):
            return 1
        return lanes_of(self.upscaler)

    def begin(self, frame: Frame, source: Source) -> Callable[[], Upscaled]:
        """The network's part of a frame, now; the returned function does the rest (the stabiliser,
        the change cap, a resize: :func:`srstream.engine.upscaler.later`) and gives the frame. The
        run calls it on its ``finish`` thread, in order, while this one begins the next frame."""
        picture = frame.picture
        shape = (picture.shape[0], picture.shape[1]) if isinstance(picture, np.ndarray) \
            else (picture.height, picture.width)
        if self.size is None:  # a file's stream size (every segment alike), else the first frame's
            self.size = getattr(source, "shape", None) or shape
        label, upscaler = self.ladder[self.rung].label, self.upscaler  # the ladder may step on meanwhile
        if shape != self.size and not source.live:
            rest = later(upscaler, "upscale", self._fitted(picture, shape, source, frame.index))
            return lambda: Upscaled(frame, rest(), time.perf_counter(), label)
        if self.yuv and not isinstance(picture, np.ndarray) and picture.format.name == "yuv420p" \
                and picture.color_range != 2 and not source.turns and upscaler.takes_yuv420(*shape):
            rest = later(upscaler, "upscale_yuv420", *(plane_view(p) for p in picture.planes),
                         _limited_range(source.matrix))
            return lambda: Upscaled(frame, None, time.perf_counter(), label, yuv=rest())
        rgb = self.to_rgb(picture, source)
        rest = later(upscaler, "upscale", rgb)
        return lambda: Upscaled(frame, rest(), time.perf_counter(), label, input=rgb)

    def _fitted(self, picture: Any, shape: tuple[int, int], source: Source, index: int) -> np.ndarray:
        """A frame whose size differs from the stream's (a broadcast's SD ad in HD, an adaptive
        stream's recording, clips joined), fitted into the stream's size with its aspect ratio
        kept (black bars), then turned upright: the encoder holds one size, and FFmpeg's command
        line would stretch it. Said once, with where it began."""
        import cv2

        height, width = self.size
        raw = picture if isinstance(picture, np.ndarray) else picture_rgb(
            picture, source.matrix, deep=source.deep, alpha=getattr(source, "alpha", False))
        ratio = min(width / shape[1], height / shape[0])
        w, h = max(1, round(shape[1] * ratio)), max(1, round(shape[0] * ratio))
        fitted = np.zeros((height, width, raw.shape[2]), raw.dtype)
        y, x = (height - h) // 2, (width - w) // 2
        resized = cv2.resize(raw, (w, h), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_CUBIC)
        fitted[y:y + h, x:x + w] = resized.reshape(h, w, raw.shape[2])
        if not self.refitted:
            self.notes.append(f"the frame size changes at frame {index} ({width}x{height} -> {shape[1]}x{shape[0]}): "
                              f"such frames are fitted into {width}x{height}, their aspect ratio kept, before upscaling")
        self.refitted += 1
        turns = getattr(source, "turns", 0)
        return np.ascontiguousarray(np.rot90(fitted, turns)) if turns else fitted

    def observe(self, latency_ms: float, report: Report) -> None:
        """Record a frame's read-to-output latency; step down the ladder when over budget."""
        self.recent.append(latency_ms)
        if self.max_latency_ms is None or len(self.recent) < self.window or self.rung + 1 >= len(self.ladder):
            return
        p50 = float(np.median(self.recent[-self.window:]))
        if p50 <= self.max_latency_ms:
            return
        before = self.ladder[self.rung].label
        self.rung += 1
        self.upscaler = self.ladder[self.rung].make()
        self.recent.clear()
        report.switches.append(f"{before} -> {self.ladder[self.rung].label} (median latency {p50:.0f} ms > "
                               f"--max-latency {self.max_latency_ms:g} ms)")


@functools.cache
def _limited_range(matrix: int) -> YuvMatrix:
    """The kernels' description of ``matrix`` (a MATRICES key); their 4:2:0 path takes limited range."""
    _, kr, kb = MATRICES[matrix]
    return YuvMatrix(kr, kb, False)


def picture_rgb(picture: Any, matrix: int, *, deep: bool = False, turns: int = 0, alpha: bool = False) -> np.ndarray:
    """A decoded ``av.VideoFrame`` as RGB (uint16 when ``deep``; RGBA with ``alpha``), converted with
    ``matrix`` (an :data:`srstream.engine.encode.MATRICES` key) and the measured swscale flags,
    turned upright by ``turns`` quarter turns: the one YUV -> RGB conversion of every source."""
    kind = ("rgba64le" if deep else "rgba") if alpha else ("rgb48le" if deep else "rgb24")
    rgb = picture.to_ndarray(format=kind, src_colorspace=MATRICES[matrix][0], interpolation=sws_flags(deep))
    if turns:  # shown upright, as FFmpeg's autorotate does; the output has no rotation flag
        rgb = np.ascontiguousarray(np.rot90(rgb, turns))
    return rgb


def plane_view(plane: Any) -> np.ndarray:
    """A decoded frame's plane as a (height, width) uint8 view (rows keep their padding stride)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


# -- the run ----------------------------------------------------------------------------------
class Pacer:
    """When the window shows a live frame: at its capture time plus one steady delay, as a
    player's jitter buffer does. Shown as soon as each is upscaled, frames come at the pace of the
    upscaler's varying time, not the source's: motion judders though every frame arrives.

    The delay is the ``quantile`` of the last ``window`` frames' capture-to-upscaled latencies, but
    never more than one capture interval over their median: an upscaler that cannot keep up (whose
    latency swings by several frames) is smoothed as far as one frame's wait allows, not at any
    cost in latency. A frame later than the delay is shown at once."""

    def __init__(self, window: int = 30, quantile: float = 90.0) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.steps: deque[float] = deque(maxlen=window)  # capture intervals, from the frames seen
        self.quantile = quantile
        self.last: tuple[int, float] | None = None  # the last frame's (index, capture time)

    def due(self, frame: Upscaled) -> float:
        """When ``frame`` is to be shown (``perf_counter`` seconds)."""
        src = frame.src
        self.recent.append(frame.t_done - src.t)
        if self.last is not None and src.index > self.last[0]:  # frames dropped between count as captured
            self.steps.append((src.t - self.last[1]) / (src.index - self.last[0]))
        self.last = (src.index, src.t)
        delay = float(np.percentile(self.recent, self.quantile))
        if self.steps:
            delay = min(delay, float(np.median(self.recent)) + float(np.median(self.steps)))
        return src.t + delay


def _done(up: Upscaled) -> Callable[[], Upscaled]:
    return lambda: up


class _Run:
    def __init__(self, source: Source, stage: UpscaleStage, sinks: list[Sink], report: Report, *,
                 display: Display | None, watch: Callable[[Upscaled], None] | None, queue_size: int,
                 progress: Callable[[int], None] | None, pace: bool = False) -> None:
        self.source, self.stage, self.sinks, self.report = source, stage, sinks, report
        self.frames: Channel | LatestFrame = LatestFrame() if source.live else Channel(queue_size)
        # the main thread's mailbox (newest frame wins): for the window, or for a watcher
        self.shown: LatestFrame | None = LatestFrame() if display is not None or watch is not None else None
        self.watch = watch
        report.channels = tuple(c for c in (self.frames, self.shown) if c is not None)
        self.stop = threading.Event()  # everyone stops: Ctrl-C, a limit, the window, an error
        # why the run was halted (the first reason), and why the source stopped reading: reading
        # to the end does not make a run complete while frames still wait for the network, so a
        # halt after it (Ctrl-C on the last frames) is the run's outcome, not the source's end
        self.halted_by = ""
        self.source_ended_by = ""
        self.finished = threading.Event()  # the upscale stage has nothing more to do
        # frames whose network part is done, for the finish thread, in order: with one lane, one waits
        # while one is finished; with more, each lane's frame may wait
        self.lanes = stage.lanes(source)
        self.begun = InOrder(self.lanes, self.lanes)
        self.taking = threading.Lock()
        self.taken = 0
        self.errors: list[BaseException] = []
        self.has_display = display is not None
        self.progress = progress
        self.pacer = Pacer() if pace and display is not None and source.live else None

    def halt(self, why: str) -> None:
        if not self.stop.is_set():
            self.halted_by = why
            self.stop.set()

    def fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.halt("error")

    def emit(self, item: Frame | Passthrough) -> bool:
        if isinstance(item, Passthrough):  # straight to the sinks: packets never wait for the network
            return all(sink.passthrough(item, self.stop) for sink in self.sinks)
        return self.frames.put(item, self.stop)

    def read(self) -> None:
        try:
            self.source_ended_by = self.source.read(self.emit, self.stop, self.report) or ""
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.fail(exc)
        finally:
            self.frames.close()

    def upscale(self, lane: int) -> None:
        """The network's part of each frame (:meth:`UpscaleStage.begin`), handed to :meth:`finish`
        in order; one such thread per lane, each taking the next frame when it is free."""
        try:
            with in_lane(lane):
                while not self.stop.is_set():
                    with self.taking:  # a frame and its number together, so numbers follow the frames
                        item = self.frames.get(timeout=0.1)
                        number = self.taken
                        self.taken += item is not None
                    if item is None:
                        if self.frames.closed:
                            return
                        continue
                    t = time.perf_counter()
                    rest = self.stage.begin(item, self.source)
                    if self.lanes == 1:  # the rest at once, as the network's threads would wait for it
                        rest = _done(rest())
                    if not self.begun.put(number, (item, time.perf_counter() - t, rest), self.stop):
                        return
        except KeyboardInterrupt:  # raised inside the network (a test's stand-in for Ctrl-C)
            self.halt("interrupt")
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.fail(exc)
        finally:
            self.begun.close()

    def finish(self) -> None:
        """The rest of each frame in order (the steps after the network, where the lanes left them),
        then to the sinks and the window."""
        try:
            while not self.stop.is_set():
                begun = self.begun.get(timeout=0.1)
                if begun is None:
                    if self.begun.closed:
                        return
                    continue
                item, network_s, rest = begun
                t = time.perf_counter()
                up = rest()
                self.report.upscale_ms.append((network_s + time.perf_counter() - t) * 1000)
                self.report.upscaled += 1
                for sink in self.sinks:
                    if not sink.send(up, self.stop):
                        return
                if self.shown is not None:
                    self.shown.put(up)
                latency = (up.t_done - item.t) * 1000
                if not self.has_display:
                    self.report.latency_ms.append(latency)
                self.stage.observe(latency, self.report)
                if self.progress:
                    self.progress(1)
        except KeyboardInterrupt:  # raised in a step after the network or a callback (a test's stand-in for Ctrl-C)
            self.halt("interrupt")
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.fail(exc)
        finally:
            if self.shown is not None:
                self.shown.close()
            self.finished.set()

    def _wait(self, display: Display, due: float) -> bool:
        """Wait until ``due``, the window's events pumped; False when the user closed it."""
        while (left := due - time.perf_counter()) > 0 and not self.stop.is_set():
            if not display.idle():
                return False
            time.sleep(min(left, 0.004))
        return True

    def conduct(self, display: Display | None, deadline: float | None) -> None:
        """The main thread: show frames (or just wait) until the upscale stage is done."""
        while not self.finished.is_set() or (self.shown is not None and not self.shown.closed):
            if deadline is not None and time.perf_counter() >= deadline:
                self.halt("duration")
            if self.shown is None:
                self.finished.wait(0.05)
                continue
            item = self.shown.get(timeout=0.05)
            if item is None:
                if display is not None and not display.idle():
                    self.halt("user")
                continue
            if self.stop.is_set():  # halted (the window closed, Ctrl-C, a limit): a frame still on its way
                if display is not None:  # is not shown, and counts as dropped
                    self.shown.dropped += 1
                continue
            if self.pacer is not None and not self._wait(display, self.pacer.due(item)):
                self.halt("user")
                self.shown.dropped += 1  # the window closed while it waited for its time
                continue
            if display is not None:
                if not display.show(item, self.report):
                    self.halt("user")
                    self.shown.dropped += 1  # the window closed instead of showing it
                    continue
                self.report.shown += 1
                self.report.latency_ms.append((time.perf_counter() - item.src.t) * 1000)
            if self.watch is not None:
                self.watch(item)


def run(source: Source, stage: UpscaleStage, sinks: list[Sink], *, report: Report | None = None,
        display: Display | None = None, watch: Callable[[Upscaled], None] | None = None,
        max_seconds: float | None = None, queue_size: int = 8, progress: Callable[[int], None] | None = None,
        pace: bool = False) -> Report:
    """Run ``source`` through ``stage`` into ``sinks`` (and ``display``) until the source ends, a
    limit, the window is closed, Ctrl-C or an error; then close the sinks with the outcome.
    ``watch`` sees, on the main thread, each frame the window shows (or, without a window, the
    newest upscaled frame). ``pace``: a live source's window shows each frame at its capture time
    plus a steady delay (:class:`Pacer`), not as soon as it is upscaled.

    Errors are raised once every thread has stopped and every sink is closed (``failed``: its
    partial output deleted). A live device that disconnects is no error: its source returns
    ``disconnected`` with the reason first in the report's notes, and the sinks keep what they have.
    """
    report = report or Report(source=str(source))
    run_ = _Run(source, stage, sinks, report, display=display, watch=watch, queue_size=queue_size,
                progress=progress, pace=pace)
    report.lanes = run_.lanes
    start = time.perf_counter()
    deadline = start + max_seconds if max_seconds else None
    threads = [threading.Thread(target=run_.read, name="read", daemon=True),
               *(threading.Thread(target=run_.upscale, args=(lane,), name="upscale" if lane == 0 else f"upscale{lane}",
                                  daemon=True) for lane in range(run_.lanes)),
               threading.Thread(target=run_.finish, name="finish", daemon=True)]
    try:
        for t in threads:
            t.start()
        run_.conduct(display, deadline)
    except KeyboardInterrupt:
        run_.halt("interrupt")
    except BaseException as exc:  # noqa: BLE001 - raised below once everything is closed
        run_.fail(exc)
    finally:
        run_.stop.set()
        run_.frames.close()
        for t in threads:
            if t.ident is not None:  # a Ctrl-C can land before the second thread started
                t.join(timeout=10)
        report.seconds = time.perf_counter() - start
        for channel in (run_.frames, run_.shown):  # a live frame still waiting at a stop was dropped
            if channel is not None:
                channel.discard()
        report.dropped_before_upscale = run_.frames.dropped
        report.dropped_before_display = run_.shown.dropped if display is not None else 0
        report.channels = ()
        report.stopped_by = run_.halted_by or run_.source_ended_by or "end"
        if stage.refitted:
            report.notes.extend(f"{note} ({stage.refitted} frames)" for note in stage.notes)
        failure = run_.errors[0] if run_.errors else None
        outcome = "failed" if failure is not None else "done" if report.stopped_by in ("end", "frames", "duration",
                                                                                       "source-ended") \
            else "interrupted"
        for sink in sinks:
            try:
                sink.close(outcome)
            except BaseException as exc:  # noqa: BLE001 - every sink is closed; the first failure wins
                failure = failure or exc
        if display is not None:
            display.close()
        try:
            source.close()
        except Exception:  # noqa: BLE001 - closing an input cannot lose output
            pass
    if failure is not None:
        raise failure
    return report
