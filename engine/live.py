"""Live sources: a camera, a screen region or a window, upscaled as it happens.

Three stages on their own threads, joined by one-slot mailboxes where the newest frame wins:

``capture`` (PyAV device input: v4l2 / dshow / avfoundation cameras, x11grab / gdigrab screens,
or a lavfi generator paced to its own rate) -> ``upscale`` (the same :class:`FrameUpscaler` as
files) -> ``display`` (a window, on the main thread) plus the optional recorder and virtual camera.

* **Latency, not completeness**: a live source never waits for us. When the upscaler is still
  busy with the previous frame, the newer capture replaces the waiting one and the drop is
  counted (``dropped before upscale``); the display likewise shows only the newest upscaled
  frame (``dropped before display``). Every frame carries its capture time, so the report gives
  capture-to-display latency per frame (p50/p99) and the fps actually shown.
* **Budget**: with ``max_latency_ms`` the upscale stage watches the capture-to-output latency of
  the last frames and steps down a ladder of cheaper configurations (INT8, then a faster bundled
  model) when its median misses the budget, saying which.
* **Recording** follows the file pipeline's rules: a hidden temporary file renamed at the end,
  timestamps from the capture clock, and on Ctrl-C or a disconnected device the frames already
  written are finalised into a valid file (the report says why it stopped). Frames the encoder
  cannot keep up with are counted, not silently lost.

What the source names mean and how they open: :mod:`srstream.engine.sources`. The recorder and
the virtual camera: :mod:`srstream.engine.live_sinks`. The window: :mod:`srstream.engine.display`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from srstream.engine.av_errors import av_failures, read_error
from srstream.engine.sources import LiveSource, open_capture
from srstream.errors import InputError, SRStreamError

__all__ = ["LatestFrame", "LiveReport", "Rung", "run_live"]


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces a waiting item (counted as a drop), ``get`` blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """The newest item, or None after ``timeout`` or once closed and empty."""
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed and not self._has


@dataclass
class Captured:
    index: int  # the source's frame number (counting every frame read, dropped ones too)
    t: float  # perf_counter() when the frame was read
    rgb: np.ndarray


@dataclass
class Upscaled:
    src: Captured
    rgb: np.ndarray
    t_done: float
    rung: str


@dataclass
class LiveReport:
    source: str = ""
    captured: int = 0
    upscaled: int = 0
    shown: int = 0
    recorded: int = 0
    dropped_before_upscale: int = 0
    dropped_before_display: int = 0
    dropped_by_recorder: int = 0
    upscale_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)  # capture -> display (or -> output without one)
    seconds: float = 0.0
    stopped_by: str = ""  # frames | duration | user | interrupt | source-ended | disconnected | error
    switches: list[str] = field(default_factory=list)
    output: Path | None = None
    notes: list[str] = field(default_factory=list)
    mailboxes: tuple[LatestFrame, ...] = field(default=(), repr=False)

    def dropped_live(self) -> int:
        """Frames dropped so far (while running, from the mailboxes' counters)."""
        if self.mailboxes:
            return sum(box.dropped for box in self.mailboxes)
        return self.dropped_before_upscale + self.dropped_before_display

    def percentile(self, values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def fps(self) -> float:
        done = self.shown or self.upscaled
        return done / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        lat, up = self.latency_ms, self.upscale_ms
        shown = f"{self.shown} shown, " if self.shown else ""
        rec = f", {self.recorded} recorded ({self.dropped_by_recorder} dropped by the encoder)" \
            if self.output is not None else ""
        return (f"{self.source}: {self.captured} frames captured, {self.upscaled} upscaled, {shown}"
                f"{self.fps:.1f} fps over {self.seconds:.1f} s; capture-to-{'display' if self.shown else 'output'} "
                f"latency p50 {self.percentile(lat, 50):.1f} ms, p99 {self.percentile(lat, 99):.1f} ms; upscale "
                f"p50 {self.percentile(up, 50):.1f} ms; dropped {self.dropped_before_upscale} before upscale"
                + (f", {self.dropped_before_display} before display" if self.shown else "")
                + f"{rec}; stopped: {self.stopped_by}")

    def to_dict(self) -> dict[str, Any]:
        lat, up = self.latency_ms, self.upscale_ms
        return {"source": self.source, "captured": self.captured, "upscaled": self.upscaled, "shown": self.shown,
                "recorded": self.recorded, "dropped_before_upscale": self.dropped_before_upscale,
                "dropped_before_display": self.dropped_before_display,
                "dropped_by_recorder": self.dropped_by_recorder, "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "latency_ms_p50": round(self.percentile(lat, 50), 2),
                "latency_ms_p99": round(self.percentile(lat, 99), 2),
                "upscale_ms_p50": round(self.percentile(up, 50), 2),
                "upscale_ms_p99": round(self.percentile(up, 99), 2), "stopped_by": self.stopped_by,
                "switches": self.switches}


class Sink(Protocol):
    """Something that takes every upscaled frame (recorder, virtual camera)."""

    def send(self, frame: Upscaled) -> None: ...

    def close(self, keep: bool) -> None: ...


@dataclass
class Rung:
    """One configuration of the latency ladder: a label and how to get its upscaler."""

    label: str
    make: Callable[[], Any]  # -> FrameUpscaler (opened lazily, closed by the caller's ExitStack)


class _Live:
    def __init__(self, source: LiveSource, ladder: list[Rung], sinks: list[Sink], report: LiveReport, *,
                 max_frames: int | None, max_seconds: float | None, max_latency_ms: float | None,
                 has_display: bool, window: int = 8) -> None:
        self.source, self.ladder, self.sinks, self.report = source, ladder, sinks, report
        self.max_frames, self.max_seconds, self.max_latency_ms = max_frames, max_seconds, max_latency_ms
        self.window, self.has_display = window, has_display
        self.captured = LatestFrame()
        self.upscaled = LatestFrame()
        report.mailboxes = (self.captured, self.upscaled)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.rung = 0
        self.upscaler = ladder[0].make()

    def _stop(self, why: str) -> None:
        if not self.stop.is_set():
            self.report.stopped_by = self.report.stopped_by or why
            self.stop.set()

    def capture(self, container) -> None:  # noqa: ANN001
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 30)
        start = time.perf_counter()
        try:
            for frame in container.decode(stream):
                if self.stop.is_set():
                    return
                if self.source.paced:  # a generator: release each frame at its own time, like a device
                    due = start + (float(frame.time) if frame.time is not None else self.report.captured / rate)
                    delay = due - time.perf_counter()
                    if delay > 0 and self.stop.wait(delay):
                        return
                rgb = frame.to_ndarray(format="rgb24")
                self.captured.put(Captured(self.report.captured, time.perf_counter(), rgb))
                self.report.captured += 1
                if self.max_frames is not None and self.report.captured >= self.max_frames:
                    self._stop("frames")
                    return
            self._stop("source-ended" if self.source.kind == "lavfi" else "disconnected")
            if self.source.kind != "lavfi":
                self.errors.append(InputError(f"{self.source} stopped sending frames after {self.report.captured} "
                                              "(disconnected?); what was recorded is kept"))
        except av_failures() as exc:
            self._stop("disconnected")
            self.errors.append(read_error(exc, f"{self.source} failed after {self.report.captured} frames",
                                          "the device was disconnected or closed; what was recorded is kept"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._stop("error")
            self.errors.append(exc)
        finally:
            self.captured.close()

    def _maybe_step_down(self, recent: list[float]) -> None:
        if self.max_latency_ms is None or len(recent) < self.window or self.rung + 1 >= len(self.ladder):
            return
        p50 = float(np.median(recent[-self.window:]))
        if p50 <= self.max_latency_ms:
            return
        before = self.ladder[self.rung].label
        self.rung += 1
        self.upscaler = self.ladder[self.rung].make()
        recent.clear()
        self.report.switches.append(f"{before} -> {self.ladder[self.rung].label} (median latency {p50:.0f} ms > "
                                    f"--max-latency {self.max_latency_ms:g} ms)")

    def upscale(self) -> None:
        recent: list[float] = []
        try:
            while True:
                item = self.captured.get(timeout=0.1)
                if item is None:
                    if self.captured.closed:
                        return
                    continue
                t = time.perf_counter()
                out = self.upscaler.upscale(item.rgb)
                done = time.perf_counter()
                self.report.upscale_ms.append((done - t) * 1000)
                up = Upscaled(item, out, done, self.ladder[self.rung].label)
                self.report.upscaled += 1
                for sink in self.sinks:
                    sink.send(up)
                self.upscaled.put(up)
                recent.append((done - item.t) * 1000)
                if not self.has_display:
                    self.report.latency_ms.append(recent[-1])
                self._maybe_step_down(recent)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._stop("error")
            self.errors.append(exc)
        finally:
            self.upscaled.close()

    def frames(self, deadline: float | None) -> Iterator[Upscaled | None]:
        """Upscaled frames for the display as they come (None when nothing new within 50 ms)."""
        while True:
            if deadline is not None and time.perf_counter() >= deadline:
                self._stop("duration")
            item = self.upscaled.get(timeout=0.05)
            if item is None and self.upscaled.closed:
                return
            yield item


class Display(Protocol):
    def show(self, frame: Upscaled, report: LiveReport) -> bool: ...  # False: the user closed the window

    def idle(self) -> bool: ...  # pump events; False: the user closed the window

    def close(self) -> None: ...


def run_live(source: LiveSource, ladder: list[Rung], *, display: Display | None = None,
             sinks: list[Sink] | None = None, report: LiveReport | None = None, max_frames: int | None = None,
             max_seconds: float | None = None, max_latency_ms: float | None = None,
             on_shown: Callable[[Upscaled], None] | None = None) -> LiveReport:
    """Capture ``source``, upscale with ``ladder[0]`` (stepping down under ``max_latency_ms``),
    show on ``display`` and feed ``sinks`` until ``max_frames``/``max_seconds``, the window is
    closed, Ctrl-C, or the source ends.

    Sinks are closed here: kept when the run ended normally or by Ctrl-C or a disconnect,
    deleted on other errors, which are raised after that. A disconnected device is no exception:
    the report says ``stopped_by == "disconnected"`` with the reason in its notes.
    """
    report = report or LiveReport(source=str(source))
    sinks = list(sinks or [])
    container = open_capture(source)
    live = None
    threads: list[threading.Thread] = []
    start = time.perf_counter()
    deadline = start + max_seconds if max_seconds else None
    failure: BaseException | None = None
    try:
        live = _Live(source, ladder, sinks, report, max_frames=max_frames, max_seconds=max_seconds,
                     max_latency_ms=max_latency_ms, has_display=display is not None)
        threads = [threading.Thread(target=live.capture, args=(container,), name="capture", daemon=True),
                   threading.Thread(target=live.upscale, name="upscale", daemon=True)]
        for t in threads:
            t.start()
        for item in live.frames(deadline):
            if item is None:
                if display is not None and not display.idle():
                    live._stop("user")
                continue
            if display is not None:
                if not display.show(item, report):
                    live._stop("user")
                    continue
                report.shown += 1
                report.latency_ms.append((time.perf_counter() - item.src.t) * 1000)
            if on_shown is not None:
                on_shown(item)
    except KeyboardInterrupt:
        if live is not None:
            live._stop("interrupt")
        report.stopped_by = report.stopped_by or "interrupt"
    except BaseException as exc:  # noqa: BLE001 - raised below once everything is closed
        failure = exc
        report.stopped_by = report.stopped_by or "error"
    finally:
        if live is not None:
            live.stop.set()
            live.captured.close()
        for t in threads:
            t.join(timeout=10)
        container.close()
        report.seconds = time.perf_counter() - start
        if live is not None:
            report.dropped_before_upscale = live.captured.dropped
            report.dropped_before_display = live.upscaled.dropped if display is not None else 0
            report.mailboxes = ()
            failure = failure or next((e for e in live.errors if not isinstance(e, InputError)), None)
        keep = failure is None
        for sink in sinks:
            try:
                sink.close(keep)
            except SRStreamError as exc:
                failure = failure or exc
        if display is not None:
            display.close()
    if failure is not None:
        raise failure
    if live is not None and live.errors:  # a device that disconnected: the caller reports it (and exits 1)
        report.notes.append(str(live.errors[0]))
    if report.upscaled == 0 and report.stopped_by not in ("interrupt", "user"):
        raise InputError(f"{source} delivered no frames; nothing was written")
    return report
