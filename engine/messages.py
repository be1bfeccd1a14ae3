"""What travels through the pipeline (:mod:`srstream.engine.pipeline`): the typed messages, the
two channel policies between threads, and the one report of every run.

* :class:`Frame`, :class:`Passthrough`, :class:`Upscaled`: a decoded picture, another stream's
  packet, an upscaled frame.
* :class:`Channel` (bounded, waits: files) and :class:`LatestFrame` (one slot, the newest wins and
  the drop is counted: live sources, the window); :class:`InOrder` (several producers, one consumer
  that takes their items in order: the network's lanes to the steps after it).
* :class:`Report`: frames read, upscaled, written and shown, drops at each stage, timings, why the
  run stopped, what was kept.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Channel", "Frame", "LatestFrame", "Passthrough", "Report", "Upscaled"]


# -- messages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """A decoded picture. ``pts`` is in the source's time base (None for live sources, whose
    clock is ``t``); ``t`` is ``perf_counter()`` when it was read; ``picture`` an ``av.VideoFrame``
    or an RGB array; ``clock``, for a network stream, its time in seconds on the stream's own
    clock, which runs on across reconnections (None elsewhere)."""

    index: int
    pts: int | None
    t: float
    picture: Any
    clock: float | None = None


@dataclass(frozen=True)
class Passthrough:
    """A packet of a stream that is copied, not upscaled (audio, subtitles)."""

    packet: Any


@dataclass(frozen=True)
class Upscaled:
    """An upscaled frame: RGB (uint8 or uint16), or the encoder's yuv420p frame (Y rows, then U
    and V, as ``av.VideoFrame.from_ndarray`` takes it) when the kernels produced it directly
    (``yuv``; then ``rgb`` is None)."""

    src: Frame
    rgb: np.ndarray | None
    t_done: float
    label: str = ""  # the ladder rung that made it (model, backend, precision)
    yuv: np.ndarray | None = None
    input: np.ndarray | None = None  # the RGB picture the network saw (None on the yuv path)


# -- channels ---------------------------------------------------------------------------------
class Channel:
    """A bounded FIFO with back-pressure: ``put`` waits for room (giving up once ``abort`` is set)."""

    def __init__(self, size: int) -> None:
        self._q: queue.Queue = queue.Queue(size)
        self._closed = threading.Event()
        self.dropped = 0  # never: kept for the report's uniform view of channels

    def put(self, item: Any, abort: threading.Event) -> bool:
        while not abort.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float | None = None) -> Any:
        """The next item, or None after ``timeout`` or once closed and empty."""
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._closed.set()

    def drain(self, poll: float = 0.1) -> Iterator[Any]:
        """Each item in turn until the channel is closed and empty (a sink's writer thread)."""
        while True:
            item = self.get(timeout=poll)
            if item is not None:
                yield item
            elif self.closed:
                return

    def discard(self) -> None:
        """Nothing: a file's frames are never dropped (what an interrupted run did not write is
        the report's ``frames_out`` shortfall)."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set() and self._q.empty()


class InOrder:
    """From several producers to one consumer, in order: each producer numbers its items (0, 1, 2, ...
    among them all, in the order they took their work) and the consumer gets them by number. A
    producer waits while its item is ``size`` or more ahead of the next one due (back-pressure,
    giving up once ``abort`` is set)."""

    def __init__(self, producers: int, size: int) -> None:
        self._cond = threading.Condition()
        self._items: dict[int, Any] = {}
        self._next = 0
        self._open = producers
        self._size = size

    def put(self, number: int, item: Any, abort: threading.Event) -> bool:
        with self._cond:
            while number - self._next >= self._size:
                if abort.is_set():
                    return False
                self._cond.wait(0.1)
            self._items[number] = item
            self._cond.notify_all()
        return True

    def get(self, timeout: float | None = None) -> Any:
        """The next item in order, or None after ``timeout`` or once every producer is done."""
        with self._cond:
            if self._next not in self._items and self._open > 0:
                self._cond.wait(timeout)
            if self._next not in self._items:
                return None
            item = self._items.pop(self._next)
            self._next += 1
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """One producer is done."""
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def discard(self) -> None:
        """Nothing kept: the run stopped (a file's frames not written are the report's shortfall)."""
        with self._cond:
            self._items.clear()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._open <= 0 and self._next not in self._items


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces a waiting item (counted as a drop) and never waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any, abort: threading.Event | None = None) -> bool:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify_all()
        return True

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

    def discard(self) -> None:
        """Drop a waiting item, counted as a drop: the run stopped before anyone took it."""
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = None, False

    @property
    def closed(self) -> bool:
        return self._closed and not self._has


# -- the report -------------------------------------------------------------------------------
@dataclass
class Report:
    """What a run did, whatever its source and sinks."""

    source: str = ""
    frames_in: int = 0  # read from the source (decoded / captured), dropped ones included
    upscaled: int = 0
    frames_out: int = 0  # written by the file encoder or the recorder
    shown: int = 0
    dropped_before_upscale: int = 0  # live sources only
    dropped_before_display: int = 0
    dropped_by_encoder: int = 0  # the live recorder could not keep up
    packets_copied: int = 0
    copied_streams: list[str] = field(default_factory=list)
    upscale_ms: list[float] = field(default_factory=list)  # per frame, the upscale stage's own time
    lanes: int = 1  # frames the network ran at once (srstream.engine.pipeline: a file's small frames, 2)
    latency_ms: list[float] = field(default_factory=list)  # read -> shown (or -> upscaled without a window)
    seconds: float = 0.0
    stopped_by: str = ""  # end | frames | duration | user | interrupt | source-ended | disconnected | error
    switches: list[str] = field(default_factory=list)  # latency ladder steps
    timestamp_fixes: int = 0
    frames_declared: int = 0  # what a file's container says (0: it does not say)
    frames_decoded: int | None = None  # where fewer frames go on than were decoded (inverse telecine): decoded
    decode_error: str = ""  # the error that ended a file's decoding early, if any
    damaged_packets: int = 0  # a file's video packets that did not decode and were skipped
    output: Path | None = None  # where the output went (a recording, a file)
    kept: Path | None = None  # where an interrupted file run's frames are (the target is untouched)
    notes: list[str] = field(default_factory=list)
    channels: tuple[Any, ...] = field(default=(), repr=False)  # while running: the drop counters

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "interrupt"

    @property
    def ended_early(self) -> str:
        """Why a file gave fewer frames than it should have, or ``""``."""
        if self.decode_error:
            return f"decoding stopped after {self.frames_in} frames: {self.decode_error}"
        read = self.frames_in if self.frames_decoded is None else self.frames_decoded
        # a damaged packet skipped stands for the frame it held; frames missing beyond those, the file lacks (a
        # truncated file's last packet, cut in two, is one: on one CPU the decoder says so, with frame threads not)
        if (self.frames_declared and read + self.damaged_packets < self.frames_declared and not self.interrupted
                and self.stopped_by not in ("frames", "duration")):  # a start taken on purpose (--frames, --duration)
            return f"the input ended after {read} of the {self.frames_declared} frames it declares"
        return ""

    def dropped_live(self) -> int:
        """Frames dropped so far (while running, from the channels' counters)."""
        if self.channels:
            return sum(c.dropped for c in self.channels)
        return self.dropped_before_upscale + self.dropped_before_display

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def fps(self) -> float:
        done = self.shown or self.upscaled
        return done / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        lat, up = self.latency_ms, self.upscale_ms
        shown = f"{self.shown} shown, " if self.shown else ""
        rec = f", {self.frames_out} recorded ({self.dropped_by_encoder} dropped by the encoder)" \
            if self.output is not None else ""
        return (f"{self.source}: {self.frames_in} frames captured, {self.upscaled} upscaled, {shown}"
                f"{self.fps:.1f} fps over {self.seconds:.1f} s; capture-to-{'display' if self.shown else 'output'} "
                f"latency p50 {self.percentile(lat, 50):.1f} ms, p99 {self.percentile(lat, 99):.1f} ms; upscale "
                f"p50 {self.percentile(up, 50):.1f} ms; dropped {self.dropped_before_upscale} before upscale"
                + (f", {self.dropped_before_display} before display" if self.shown else "")
                + f"{rec}; stopped: {self.stopped_by}")

    def to_dict(self) -> dict[str, Any]:
        lat, up = self.latency_ms, self.upscale_ms
        return {"source": self.source, "frames_in": self.frames_in, "upscaled": self.upscaled,
                "frames_out": self.frames_out, "shown": self.shown,
                "dropped_before_upscale": self.dropped_before_upscale,
                "dropped_before_display": self.dropped_before_display,
                "dropped_by_encoder": self.dropped_by_encoder, "packets_copied": self.packets_copied,
                "seconds": round(self.seconds, 3), "fps": round(self.fps, 2),
                "latency_ms_p50": round(self.percentile(lat, 50), 2),
                "latency_ms_p99": round(self.percentile(lat, 99), 2),
                "upscale_ms_p50": round(self.percentile(up, 50), 2),
                "upscale_ms_p99": round(self.percentile(up, 99), 2), "stopped_by": self.stopped_by,
                "switches": self.switches, "notes": self.notes}
