"""Live sources: a camera, a screen region or a window, upscaled as it happens, through the one
pipeline (:mod:`srstream.engine.pipeline`).

``capture`` (PyAV device input: v4l2 / dshow / avfoundation cameras, x11grab / gdigrab screens,
or a lavfi generator paced to its own rate) -> ``upscale`` (the same stage as files) -> the window
(on the main thread) plus the optional recorder and virtual camera (sinks).

* **Latency, not completeness**: a live source never waits for us (``live = True``: the pipeline
  gives it a one-slot mailbox where the newest frame wins). When the upscaler is still busy with
  the previous frame, the newer capture replaces the waiting one and the drop is counted
  (``dropped before upscale``); the window likewise shows only the newest upscaled frame
  (``dropped before display``). Every frame carries its capture time, so the report gives
  capture-to-display latency per frame (p50/p99) and the fps actually shown.
* **Budget**: with ``max_latency_ms`` the upscale stage steps down a ladder of cheaper
  configurations (INT8, then a faster bundled model) when its median latency misses the budget.
* **Recording** follows the file pipeline's rules: see :class:`srstream.engine.live_sinks.Recorder`.

What the source names mean and how they open: :mod:`srstream.engine.sources`.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from srstream.engine.av_errors import av_failures, read_error
from srstream.engine.encode import BT601, MATRICES
from srstream.engine.live_sinks import Recorder
from srstream.engine.media import video_rate
from srstream.engine.messages import Frame, Passthrough, Report, Upscaled
from srstream.engine.pipeline import Display, Rung, Sink, UpscaleStage, run
from srstream.engine.sources import SOUND_AHEAD, LiveSource, open_capture, pushed, timed_by_arrival
from srstream.errors import ConfigError, InputError

__all__ = ["RECONNECT_SECONDS", "CaptureSource", "Rung", "run_live"]

#: Damaged packets in a row that a live source skips before it counts as failed (as a file's,
#: :data:`srstream.engine.video.DAMAGED_RUN`).
DAMAGED_RUN = 250
#: A jump in a network stream's timestamps beyond this many seconds is a discontinuity, not a wait.
TIME_JUMP = 5.0
#: How many frames' time a picture timed out of order may be moved past the latest time a picture
#: carried (B-frames given their decode times are up to 2-3 frames out: x264's pyramid of 3).
REORDER = 4
#: How long a network stream that fails (an IP camera rebooting, a dropped connection) is tried
#: again, a second apart, before the run ends as a disconnected device does; the recording goes on
#: across a reconnection.
RECONNECT_SECONDS = 30.0
#: Network streams read from a server whose end, where it does not say how long it lasts, is tried
#: again as a failure is (:meth:`CaptureSource._cut_short`); it ends the run when the stream does
#: not come back within :data:`RECONNECT_SECONDS`. HLS's end is its playlist's last segment.
RESUMED_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps")


class CaptureSource:
    """A device or generator opened with PyAV, read as fast as it delivers (or, for a generator,
    paced to its own frame rate like a device), up to ``max_frames``."""

    live = True
    deep = False  # shown in a window: 8-bit RGB
    turns = 0

    def __init__(self, source: LiveSource, max_frames: int | None = None, sound: bool = False) -> None:
        self.source, self.max_frames = source, max_frames
        #: the packets the probe's connection kept for this run (from a keyframe on): decoded first, to
        #: reach the live edge, their pictures not shown (they are as late as the model took to prepare)
        self.backlog: list = []
        taken = source.held.take() if source.held is not None else None
        self.held_from = None if taken is None else source.held  # (its first read only)
        #: the failure that ended the held connection before the run took it: raised once its packets are decoded
        self.cut = None if taken is None else source.held.failed
        if taken is not None:
            self.container, self.backlog = taken
        else:
            self.container = open_capture(source)
        cc = self.container.streams.video[0].codec_context
        self.matrix = cc.colorspace if cc.colorspace in MATRICES else BT601
        #: the stream's sound, passed on to the sinks (a recording) when ``sound`` is asked for: a
        #: network stream's only (a camera's microphone is a device of its own: SoundCapture)
        self.audio = self._sound(self.container) if sound and source.kind == "stream" else None
        #: told the sound stream of a connection opened again (None: it has none, or another kind) before
        #: the connection it replaces is closed: a closed container's stream must not be read again (a
        #: recording that opened after a reconnection copied the old one's and crashed the process)
        self.sound_users: list[Callable[[Any], None]] = []
        # the stream's clock, run on across reconnections: this connection's first time (seconds),
        # what is added to its times, the latest time given, and when the connection failed
        self.origin: float | None = None
        self.shift, self.latest, self.failed_at = 0.0, 0.0, 0.0
        # the latest picture's time on that clock, and the latest time a picture carried
        self.picture_clock: float | None = None
        self.picture_top = -math.inf
        self.anchor: float | None = None  # perf_counter() at the clock's 0: when its frames are due

    @staticmethod
    def _sound(container):  # noqa: ANN001, ANN205 - av containers and streams
        """The container's first audio stream (None without one)."""
        return container.streams.audio[0] if container.streams.audio else None

    def _clock(self, seconds: float | None) -> float:
        """A time of this connection (seconds; None: unknown) on the clock that runs on across
        reconnections and across a jump in the stream's timestamps of more than :data:`TIME_JUMP`
        (a broadcast's splice, MPEG-TS's 26.5-hour wrap): the frames after one were due hours
        later, or all at once."""
        if seconds is None:
            return self.latest
        if self.origin is None:
            self.origin = seconds
        value = self.shift + seconds - self.origin
        if abs(value - self.latest) > TIME_JUMP:  # the clock goes on from where it was
            self.shift += self.latest - value
            value = self.latest
        self.latest = max(self.latest, value)
        return value

    def __str__(self) -> str:
        return str(self.source)

    def read(self, emit: Callable[[Frame | Passthrough], bool], stop: threading.Event, report: Report) -> str:
        while True:
            outcome = self._read(emit, stop, report)
            if outcome == "source-ended" and self._cut_short(stop):
                self.failed_at = time.perf_counter()
                report.notes.insert(0, f"{self.source} ended after {report.frames_in} frames")
                if self._reconnected(stop, report, "ended"):
                    continue
                report.notes[0] += ("; the run was stopped while it was being opened again" if stop.is_set() else
                                    f" and did not come back within {RECONNECT_SECONDS:g} s; the stream ends there")
                return "source-ended"
            if outcome != "failed":
                return outcome
            if self._reconnected(stop, report):
                continue
            if stop.is_set() or self.source.kind != "stream" or RECONNECT_SECONDS <= 0:
                return "disconnected"
            if pushed(self.source.url):  # a stream sent to sr-stream ends when its sender stops: RTMP's,
                # stopped in OBS or ffmpeg, fails ("Input/output error") as a dropped connection does; UDP
                # just stops
                report.notes[0] = (f"{self.source}: its sender left after {report.frames_in} frames and did not "
                                   f"come back within {RECONNECT_SECONDS:g} s; the stream ends there")
                return "source-ended"
            report.notes.insert(0, f"{self.source}: could not reconnect within {RECONNECT_SECONDS:g} s")
            return "disconnected"

    def _cut_short(self, stop: threading.Event) -> bool:
        """Whether the end of a live stream read from a server may be a lost connection, to be opened
        again: RTSP's over TCP ends as a stream does when its camera or server restarts (the
        connection closes), and RTMP's is taken alike (a sender restarting behind a relay); one that
        says how long it lasts (a recording served over RTSP) ended."""
        return (self.source.kind == "stream" and not stop.is_set() and RECONNECT_SECONDS > 0
                and self.source.url.split(":", 1)[0].lower() in RESUMED_SCHEMES and not pushed(self.source.url)
                and self.container.duration is None)

    def _reconnected(self, stop: threading.Event, report: Report, how: str = "failed") -> bool:
        """A network stream that failed (or ended, ``how``), opened again within :data:`RECONNECT_SECONDS`."""
        if self.source.kind != "stream" or RECONNECT_SECONDS <= 0:
            return False
        began = time.perf_counter()
        while not stop.wait(1.0):
            try:  # (a stream sent to sr-stream waits there for its sender's return, as long as is left)
                container = open_capture(self.source, wait=max(1.0, began + RECONNECT_SECONDS - time.perf_counter()),
                                         stop=stop)
            except InputError:
                if time.perf_counter() - began >= RECONNECT_SECONDS:
                    return False
                continue
            if container is None:  # stopped while waiting
                return False
            old, self.container, self.held_from = self.container, container, None
            report.notes.pop(0)  # the failure _read noted: the run goes on
            report.notes.append(f"{self.source} {how} after {report.frames_in} frames and was reconnected "
                                f"{time.perf_counter() - began:.0f} s later")
            # the new connection's times start afresh: on the run's clock they follow the last one's
            # after the time the stream was away
            self.shift, self.origin = self.latest + time.perf_counter() - self.failed_at, None
            if self.audio is not None:
                new = self._sound(container)
                if new is None or any(getattr(new.codec_context, k) != getattr(self.audio.codec_context, k)
                                      for k in ("name", "sample_rate", "channels")):
                    report.notes.append(f"{self.source}: the sound changed on reconnection; it is not recorded "
                                        "after that")
                    new = None
                self.audio = new
                for tell in self.sound_users:
                    tell(new)
            old.close()
            return True
        return False

    def _read(self, emit: Callable[[Frame | Passthrough], bool], stop: threading.Event, report: Report) -> str:
        import av

        stream = self.container.streams.video[0]
        rate = float(video_rate(stream) or 30)
        timed = self.source.kind == "stream"  # a network stream's own clock times the recording
        arrival = timed and timed_by_arrival(self.container)  # (or, where its frames carry no times, their arrival)
        start = time.perf_counter()
        damaged_run = 0
        wanted = [s for s in (stream, self.audio) if s is not None]
        backlog, self.backlog = [p for p in self.backlog if p.stream in wanted], []
        # the backlog's pictures are decoded, not shown; its sound from a second before its last picture's time
        # on is kept (sound is muxed ahead of its pictures; the recording starts it with its first picture)
        edge = max((float(p.pts * p.time_base) for p in backlog if p.stream is stream and p.pts is not None),
                   default=None)
        # and a picture from before the first packet read here, which the decoder held back from the probe
        # (whose sound the probe did not keep), is not shown either
        floor = -math.inf if self.held_from is None else None
        old = len(backlog)
        try:
            cut, self.cut = self.cut, None
            for packet in itertools.chain(backlog, () if cut else self.container.demux(*wanted)):
                old -= 1
                if packet.stream.type == "audio":
                    if old >= 0 and edge is not None and (packet.pts is None or float(packet.pts * packet.time_base)
                                                          < edge - SOUND_AHEAD):
                        continue
                    if packet.size and packet.pts is not None and packet.dts is not None:
                        seconds = float(packet.pts * packet.time_base)  # moved onto the run's clock:
                        step = round((self._clock(seconds) - seconds) / packet.time_base)
                        packet.pts, packet.dts = packet.pts + step, packet.dts + step
                        if not emit(Passthrough(packet)):
                            return ""
                    continue
                if floor is None and packet.pts is not None:
                    floor = float(packet.pts * packet.time_base)
                try:
                    pictures = packet.decode()
                except av.error.FFmpegError:  # a packet damaged on the way (RTP over UDP loses some): skipped,
                    report.damaged_packets += 1  # as a player skips it; the connection goes on
                    damaged_run += 1
                    if damaged_run > DAMAGED_RUN:
                        raise
                    continue
                damaged_run = 0
                for frame in pictures:
                    if old >= 0 or (frame.time is not None and ((edge is not None and frame.time <= edge)
                                                                or (floor is not None and frame.time < floor))):
                        continue  # the backlog's, decoded to reach the live edge (some come out a packet late)
                    if stop.is_set():
                        return ""
                    clock = due = None
                    if timed:  # released at its time on the stream's clock: what the network sends in a
                        # burst (a buffer probed, an HLS segment) is played at its pace, not dropped
                        seconds = time.perf_counter() if arrival else frame.time
                        clock = self._clock(seconds) if seconds is not None else self.latest + 1 / rate
                        self.picture_top = max(self.picture_top, clock)
                        if self.picture_clock is not None and clock <= self.picture_clock:
                            # a picture timed at or before the one before it: a server that sends B-frames
                            # with their decode times (aio-rtsp-toolkit's: 18018, 15015, 21021, 12012, ...)
                            # had them released in pairs a millisecond apart, and a quarter were dropped.
                            # Never more than REORDER frames after the latest time given (a stream whose
                            # rate is taken too low would run ever later)
                            clock = min(self.picture_clock + 1 / rate, self.picture_top + REORDER / rate)
                        self.picture_clock = clock
                        self.latest = max(self.latest, clock)
                        if self.anchor is None:
                            self.anchor = time.perf_counter() - clock
                        due = self.anchor + clock
                    elif self.source.paced:  # a generator: release each frame at its own time, like a device
                        due = start + (float(frame.time) if frame.time is not None else report.frames_in / rate)
                    delay = 0.0 if due is None else due - time.perf_counter()
                    if delay > 0 and stop.wait(delay):
                        return ""
                    emit(Frame(report.frames_in, None, time.perf_counter(), frame, clock))
                    report.frames_in += 1
                    if self.max_frames is not None and report.frames_in >= self.max_frames:
                        return "frames"
            if cut is not None:
                raise cut
        except av_failures() as exc:
            why = read_error(exc, f"{self.source} failed after {report.frames_in} frames",
                             "the device was disconnected or closed; what was recorded is kept")
        else:
            if self.source.kind in ("lavfi", "stream"):  # a generator or a stream that ended
                return "source-ended"
            why = InputError(f"{self.source} stopped sending frames after {report.frames_in} "
                             "(disconnected?); what was recorded is kept")
        self.failed_at = time.perf_counter()
        report.notes.insert(0, str(why))  # not an error: the sinks keep what they have, the caller says it
        return "failed"

    def close(self) -> None:
        self.container.close()


class SoundCapture:
    """A sound device (``--audio-input``: a microphone) read on its own thread beside a camera,
    screen or window, whose capture carries none. Its packets are timed on the capture clock (the
    frames' ``t``, ``perf_counter()``): the first from its arrival, less its own length, the rest
    by the samples before them (the device's clock, steadier than arrival times), and handed to
    the recorders, which start them at the first recorded frame.

    Raises (on construction):
        InputError: the device cannot be opened, or gives no sound.
    """

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self.container = open_capture(source)
        if not self.container.streams.audio:
            self.container.close()
            raise InputError(f"{source} gives no sound")
        self.stream = self.container.streams.audio[0]
        self.halt = threading.Event()
        self.thread: threading.Thread | None = None
        self.failure = ""

    def start(self, recorders: list) -> None:
        """Read on a thread of its own into ``recorders`` until :meth:`close`."""
        self.thread = threading.Thread(target=self._read, args=(recorders,), name="sound", daemon=True)
        self.thread.start()

    def _read(self, recorders: list) -> None:
        tb = self.stream.time_base
        anchor: float | None = None
        heard = 0.0  # seconds of sound so far
        try:
            for packet in self.container.demux(self.stream):
                if self.halt.is_set():
                    return
                if not packet.size:
                    continue
                length = float(packet.duration * tb) if packet.duration else 0.0
                if anchor is None:
                    anchor = time.perf_counter() - length
                if self.source.paced:  # a generator: its sound at its own pace, like a device
                    delay = anchor + heard + length - time.perf_counter()
                    if delay > 0 and self.halt.wait(delay):
                        return
                packet.pts = packet.dts = round((anchor + heard) / tb)
                heard += length
                for recorder in recorders:
                    recorder.passthrough(Passthrough(packet))
        except av_failures() as exc:
            self.failure = str(read_error(exc, f"{self.source} failed after {heard:.1f} s",
                                          "the recording goes on without sound from there"))

    def close(self) -> None:
        self.halt.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.container.close()


def run_live(source: LiveSource, ladder: list[Rung], *, display: Display | None = None,
             sinks: list[Sink] | None = None, report: Report | None = None, max_frames: int | None = None,
             max_seconds: float | None = None, max_latency_ms: float | None = None,
             on_shown: Callable[[Upscaled], None] | None = None, sound: bool = True,
             audio_input: LiveSource | None = None, pace: bool = True) -> Report:
    """Capture ``source``, upscale with ``ladder[0]`` (stepping down under ``max_latency_ms``),
    show on ``display`` and feed ``sinks`` until ``max_frames``/``max_seconds``, the window is
    closed, Ctrl-C, or the source ends. A network stream's sound goes into the recordings among
    ``sinks`` unless ``sound`` is False; another source's, from the sound device ``audio_input``
    (:class:`SoundCapture`). ``pace``: the window shows each frame at its capture time plus a
    steady delay (:class:`srstream.engine.pipeline.Pacer`); off, as soon as it is upscaled.

    Sinks are closed by the pipeline: kept when the run ended normally or by Ctrl-C or a
    disconnect, deleted on other errors, which are raised after that. A disconnected device is no
    exception: the report says ``stopped_by == "disconnected"`` with the reason in its notes.

    Raises:
        InputError: the source cannot be opened, or delivered no frames.
    """
    report = report or Report(source=str(source))
    report.source = report.source or str(source)
    sinks = list(sinks or [])
    capture = microphone = None
    try:
        recorders = [sink for sink in sinks if isinstance(sink, Recorder)]
        if audio_input is not None and source.kind == "stream":
            raise ConfigError("--audio-input records a sound device beside a camera, screen or window; a network "
                              "stream's own sound is recorded with it")
        capture = CaptureSource(source, max_frames, sound=sound and bool(recorders))
        if audio_input is not None and recorders:
            microphone = SoundCapture(audio_input)
        for recorder in recorders:  # a network stream's sound, or the device's, goes into its recordings
            recorder.sound = capture.audio if microphone is None else microphone.stream
            recorder.matrix = capture.matrix
            if microphone is None:
                capture.sound_users.append(recorder.switch_sound)
        # without a window (or a watcher), and where every sink's encoder takes them, frames stay in the
        # decoder's 4:2:0 from capture to encoder, with no RGB pass on either side: on a 2-core Zen 4 the
        # stage took 19-20 ms a frame for tiny-x2-deep (26-31 through RGB), and a 30-fps RTSP stream was
        # recorded at 28.6-28.9 fps (25.2-25.6)
        yuv = display is None and on_shown is None and all(getattr(sink, "takes_yuv", False) for sink in sinks)
        stage = UpscaleStage(ladder, yuv=yuv, max_latency_ms=max_latency_ms)
    except BaseException:
        for opened in (capture, microphone):
            if opened is not None:
                opened.close()
        for sink in sinks:
            sink.close("failed")
        raise
    if microphone is not None:
        microphone.start(recorders)
    try:
        run(capture, stage, sinks, report=report, display=display, watch=on_shown, max_seconds=max_seconds,
            pace=pace)
    finally:
        if microphone is not None:
            microphone.close()
            if microphone.failure:
                report.notes.append(microphone.failure)
    if report.upscaled == 0 and report.stopped_by not in ("interrupt", "user"):
        why = f" ({report.notes[0]})" if report.notes else ""  # what ended it: a failure, a sender that left
        raise InputError(f"{source} delivered no frames{why}; nothing was written")
    return report

